/** Test harness: a RAM-only address space with one or more harts. */
import {
  createAddressSpace,
  createRamBackend,
  createVcpuRun,
  type MutableAddressSpace,
  type VcpuRun,
} from "@ferry/core";
import { type RiscvBackendOptions, type RiscvHart, riscvBackend } from "../src/index";
import { programBytes } from "./asm";

/** RAM base used by the tests (QEMU virt). */
export const RAM_BASE = 0x80000000;

/** A small machine for unit tests. */
export interface TestMachine {
  readonly memory: MutableAddressSpace;
  readonly harts: RiscvHart[];
  readonly run: VcpuRun;
  /** Write instruction words at `addr` (default RAM_BASE) through the VMM path. */
  load(words: readonly number[], addr?: number): void;
  /** Run hart `h` for at most `instructions` instructions (1000 MIPS, 1 ns each). */
  step(instructions: number, h?: number): VcpuRun;
  word(addr: number): number;
}

/** Build a test machine with `ramSize` bytes of RAM at RAM_BASE. */
export function makeMachine(
  opts: Partial<RiscvBackendOptions> & { harts?: number; ramSize?: number } = {},
): TestMachine {
  const ramSize = opts.ramSize ?? 64 * 1024;
  const memory = createAddressSpace();
  memory.addRam({
    name: "ram",
    base: RAM_BASE,
    size: ramSize,
    backend: createRamBackend("array", ramSize),
  });
  const backend = riscvBackend({ mips: 1000, ...opts });
  const count = opts.harts ?? 1;
  const harts: RiscvHart[] = [];
  for (let h = 0; h < count; h++) {
    const hart = backend.createVcpu({
      hartId: h,
      memory,
      timebaseHz: 10_000_000,
      vcpuCount: count,
    });
    hart.reset(RAM_BASE, 0);
    harts.push(hart);
  }
  const run = createVcpuRun();
  let now = 0;
  return {
    memory,
    harts,
    run,
    load(words, addr = RAM_BASE) {
      memory.writeBytes(addr, programBytes(words));
    },
    step(instructions, h = 0) {
      run.startNs = now;
      harts[h].run(run, instructions);
      now += run.consumedNs;
      return run;
    },
    word(addr) {
      const out = new Uint8Array(4);
      memory.readBytes(addr, out);
      return new DataView(out.buffer).getInt32(0, true);
    },
  };
}
