/**
 * Test helpers for RISC-V guest migrations: build a `virt` machine with the committed guest ELFs
 * (as `buildGuestMachine` in @ferry/cli does), run it unmigrated, or migrate it mid-run.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  createLink,
  createMigrationManager,
  type FerryPlugin,
  incoming,
  type Migration,
  type MigrationInfo,
} from "@ferry/migration";
import { loadElf, riscvBackend } from "@ferry/riscv";

/** A guest machine description. */
export interface GuestSpec {
  /** ELF name under examples/guests (e.g. `memtouch`). */
  readonly elf: string;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly mips: number;
  readonly args: readonly number[];
}

const elfCache = new Map<string, Uint8Array>();

function elfBytes(name: string): Uint8Array {
  let b = elfCache.get(name);
  if (b === undefined) {
    const url = new URL(`../../../examples/guests/${name}.elf`, import.meta.url);
    b = new Uint8Array(readFileSync(fileURLToPath(url)));
    elfCache.set(name, b);
  }
  return b;
}

/** Build the machine (created, harts reset to the ELF entry). */
export function guestMachine(scheduler: VirtualScheduler, spec: GuestSpec): Machine {
  const m = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: spec.mips }),
    vcpus: spec.vcpus,
    memory: { size: spec.memoryBytes },
    bootArgs: [...spec.args],
  });
  const image = loadElf(m.memory, elfBytes(spec.elf));
  m.reset(image.entry);
  return m;
}

/** What a guest run produced. */
export interface GuestOutcome {
  readonly output: string;
  readonly code: number | null;
  readonly reason: string;
}

/** Run the guest unmigrated to shutdown. */
export async function runPlain(
  scheduler: VirtualScheduler,
  spec: GuestSpec,
  limitNs: number,
): Promise<GuestOutcome> {
  const m = guestMachine(scheduler, spec);
  const r = await m.runUntilShutdown({ timeLimitNs: limitNs });
  return { output: m.uartOutput(), code: r.code, reason: r.reason };
}

/** Options of {@link runMigrated}. */
export interface MigratedRunOptions {
  readonly plugins: readonly FerryPlugin[];
  readonly capabilities?: Record<string, boolean>;
  readonly parameters?: Record<string, unknown>;
  /** Virtual time the source runs before the migration starts (ns). */
  readonly startAfterNs: number;
  /** Link bandwidth (bytes/s) and latency (ns). */
  readonly bandwidth: number;
  readonly latencyNs: number;
  /** The migration must complete within this much virtual time (ns), else it is cancelled. */
  readonly migrationLimitNs: number;
  /** The guest must shut down by this virtual time (ns; the scheduler starts at 0). */
  readonly limitNs: number;
}

/** The outcome of a migrated run. */
export interface MigratedOutcome extends GuestOutcome {
  readonly migration: Migration;
  readonly info: MigrationInfo;
  /** RAM of source and destination were equal when the migration completed. */
  readonly ramEqualAtSwitchover: boolean;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

/**
 * Start the guest, migrate it after `startAfterNs` to a fresh destination over a virtual link,
 * and run the destination to shutdown. The output is the source's UART output up to the
 * switchover followed by the destination's.
 */
export async function runMigrated(
  scheduler: VirtualScheduler,
  spec: GuestSpec,
  opts: MigratedRunOptions,
): Promise<MigratedOutcome> {
  const s = scheduler;
  const src = guestMachine(s, spec);
  const dst = guestMachine(s, spec);
  let dstShutdown: { code: number; kind: string } | null = null;
  let srcShutdown = false;
  dst.events.on("shutdown", (e) => {
    if (e.kind !== "reset") dstShutdown = { code: e.code, kind: e.kind };
  });
  src.events.on("shutdown", (e) => {
    if (e.kind !== "reset") srcShutdown = true;
  });
  src.start();
  await s.run({ untilNs: s.now() + opts.startAfterNs });
  if (srcShutdown) throw new Error("the guest finished before the migration started");
  const mgr = createMigrationManager({ plugins: opts.plugins });
  if (opts.capabilities) mgr.setCapabilities(opts.capabilities);
  if (opts.parameters) mgr.setParameters(opts.parameters);
  const link = createLink({ scheduler: s, bandwidth: opts.bandwidth, latency: opts.latencyNs });
  const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
  const m = mgr.migrate({ machine: src, transport: link.source });
  let ramEqual = false;
  m.events.on("complete", () => {
    ramEqual = sameBytes(src.ram.backend.bytes!, dst.ram.backend.bytes!);
  });
  const end = s.now() + opts.migrationLimitNs;
  const ended = (): boolean =>
    m.status === "completed" || m.status === "failed" || m.status === "cancelled";
  await s.run({ untilNs: end, stopWhen: ended });
  const info = m.info();
  if (m.status !== "completed") {
    if (m.status === "active") m.cancel();
    await s.run({ untilNs: s.now() + 1e9, stopWhen: () => m.status !== "cancelling" });
    await inc.done;
    return {
      output: src.uartOutput(),
      code: null,
      reason: `migration ${info.status}`,
      migration: m,
      info,
      ramEqualAtSwitchover: false,
    };
  }
  await s.run({ untilNs: opts.limitNs, stopWhen: () => dstShutdown !== null });
  const d = dstShutdown as { code: number; kind: string } | null;
  return {
    output: src.uartOutput() + dst.uartOutput(),
    code: d === null ? null : d.code,
    reason: d === null ? "time-limit" : "shutdown",
    migration: m,
    info: m.info(),
    ramEqualAtSwitchover: ramEqual,
  };
}
