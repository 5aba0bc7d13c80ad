/**
 * A custom MMIO device on a machine, used by a hand-assembled guest, with its state migrating:
 * a counter device (see `lib/counter-device.ts`) is mapped at 0x1010_0000, a free address of the
 * `virt` map. The guest sets the step to 3, then reads the counter N times with a delay loop in
 * between, storing every value in a RAM array, and exits through the test finisher. Half-way, the
 * machine is live-migrated to a second machine; the counter's state travels with it (it is one of
 * the machine's `devices`, saved and loaded with the built-in ones), so the array holds one
 * unbroken sequence 0, 3, 6, … on the destination.
 *
 *   pnpm tsx examples/compose/custom-device.ts
 */
import { type Machine, RAM_BASE, type Scheduler, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  createLink,
  createMigrationManager,
  incoming,
  type MigrationStatus,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { riscvBackend } from "@ferry/riscv";
import { addi, bne, li, lw, Reg, spinForever, sw, toBytes } from "./lib/asm";
import { COUNTER_SIZE, type CounterDevice, createCounterDevice } from "./lib/counter-device";
import { isMain } from "./lib/guest";

const MS = 1_000_000;
/** Where the counter is mapped (free on `virt`: between the UART and RAM). */
export const COUNTER_BASE = 0x1010_0000;
/** Where the guest stores the values it read. */
export const ARRAY_ADDR = RAM_BASE + 0x1_0000;
/** The step the guest programs. */
export const STEP = 3;

/** Options of {@link main}. */
export interface CustomDeviceOptions {
  /** Counter reads the guest makes. */
  readonly reads?: number;
  /** Delay-loop iterations between two reads. */
  readonly delay?: number;
  /** Virtual ns the guest runs before the migration starts. */
  readonly migrateAfterNs?: number;
  /** Carry the counter's state with the machine (default true; false shows what breaks). */
  readonly migrateDeviceState?: boolean;
  /** Print what happens (default true). */
  readonly print?: boolean;
}

/** What {@link main} returns. */
export interface CustomDeviceResult {
  readonly migration: MigrationStatus;
  /** Reads served by the source's counter before the switchover. */
  readonly readsOnSource: number;
  /** Total reads the counter served (carried over to the destination's instance). */
  readonly readsTotal: number;
  /** The values the guest stored, read from the destination's RAM. */
  readonly values: readonly number[];
  /** How the guest ended on the destination. */
  readonly exit: string;
}

/** The guest: program the step, read the counter `reads` times into the array, exit pass. */
export function counterProgram(reads: number, delay: number): Uint8Array {
  const { t0, t1, t2, s0, s1, s2, zero } = Reg;
  const head = [
    ...li(s0, COUNTER_BASE),
    ...li(s1, ARRAY_ADDR),
    ...li(s2, reads),
    ...li(t2, STEP),
    sw(t2, 4, s0), // step = 3
  ];
  const loop = [
    lw(t0, 0, s0), // t0 = counter (an MMIO exit to the device)
    sw(t0, 0, s1),
    addi(s1, s1, 4),
    ...li(t1, delay),
    addi(t1, t1, -1), // delay:
    bne(t1, zero, -4),
    addi(s2, s2, -1),
  ];
  const loopBack = bne(s2, zero, -(loop.length * 4));
  const tail = [...li(t0, 0x10_0000), ...li(t1, 0x5555), sw(t1, 0, t0), spinForever()];
  return toBytes([...head, ...loop, loopBack, ...tail]);
}

/**
 * A machine with the counter mapped (RAM loaded with the program unless it is a destination).
 * With `carry` the counter is one of the machine's `devices`, so its state is saved, migrated
 * and restored with the machine's; without, it is only mapped on the bus (its state stays put).
 */
function counterMachine(
  scheduler: Scheduler,
  program: Uint8Array | null,
  carry: boolean,
): {
  machine: Machine;
  counter: CounterDevice;
} {
  const counter = createCounterDevice("counter0");
  const mapping = { name: "counter", base: COUNTER_BASE, size: COUNTER_SIZE, device: counter };
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: 10 }),
    vcpus: 1,
    memory: { size: 1024 * 1024 },
    devices: carry ? [mapping] : [],
  });
  if (!carry) machine.memory.addMmio(mapping);
  if (program !== null) machine.memory.writeBytes(RAM_BASE, program);
  return { machine, counter };
}

/** Run the example. */
export async function main(options: CustomDeviceOptions = {}): Promise<CustomDeviceResult> {
  const reads = options.reads ?? 1000;
  const delay = options.delay ?? 500;
  const log = (line: string): void => {
    if (options.print ?? true) console.log(line);
  };
  const s = new VirtualScheduler();
  const carry = options.migrateDeviceState ?? true;
  const src = counterMachine(s, counterProgram(reads, delay), carry);
  const dst = counterMachine(s, null, carry);

  src.machine.start();
  await s.run({ untilNs: options.migrateAfterNs ?? 50 * MS });
  log(`source: ${src.counter.reads} counter reads so far, next value ${src.counter.value}`);

  const mgr = createMigrationManager({ plugins: [precopy()] });
  const link = createLink({ scheduler: s, bandwidth: 100 * 1024 * 1024, latency: MS });
  const inc = incoming({ machine: dst.machine, transport: link.destination });
  const m = mgr.migrate({ machine: src.machine, transport: link.source });
  m.events.on("state", (st) => log(`migration: ${st}`));
  await s.run({ stopWhen: () => m.status === "completed" || m.status === "failed" });
  const readsOnSource = src.counter.reads;
  log(`switchover after ${readsOnSource} reads; destination counter at ${dst.counter.value}`);

  let exit = "not migrated";
  if (m.status === "completed") {
    const r = await inc.done;
    if (r.status !== "completed") throw r.error ?? new Error("incoming side failed");
    const end = await dst.machine.runUntilShutdown({ timeLimitNs: 10_000 * MS });
    exit = end.reason === "shutdown" ? (end.kind ?? "pass") : end.reason;
  }
  const bytes = new Uint8Array(reads * 4);
  dst.machine.memory.readBytes(ARRAY_ADDR, bytes);
  const view = new DataView(bytes.buffer);
  const values = Array.from({ length: reads }, (_, i) => view.getUint32(i * 4, true));
  log(`guest ended: ${exit}; values ${values.slice(0, 4).join(", ")}, …, ${values[reads - 1]}`);
  return { migration: m.status, readsOnSource, readsTotal: dst.counter.reads, values, exit };
}

if (isMain(import.meta.url)) {
  const r = await main();
  const ok = r.exit === "pass" && r.values.every((v, i) => v === i * STEP);
  process.exitCode = ok ? 0 : 1;
}
