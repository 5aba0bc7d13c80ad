/**
 * The riscv-tests `p`-environment host interface: the guest writes `tohost`;
 * `1` = pass, `(n << 1) | 1` = test `n` failed. {@link runTohostElf} runs an ELF on a bare
 * RAM-only machine until it reports.
 */
import {
  createAddressSpace,
  createRamBackend,
  ExitReason,
  createVcpuRun,
  type ExitReasonCode,
} from "@ferry/core";
import { riscvBackend } from "./backend";
import type { CpuEngine } from "./hart";
import { type ElfImage, ElfError, loadElf } from "./elf";

/** Outcome of a tohost-protocol run. */
export interface TohostResult {
  /** True when the guest wrote `1` to tohost. */
  readonly passed: boolean;
  /** The failing test number (`value >>> 1`), 0 when passed, -1 when the guest never reported. */
  readonly testNumber: number;
  /** The raw value written to tohost, or null. */
  readonly tohostValue: number | null;
  /** Instructions executed. */
  readonly instructions: number;
  /** Last exit reason seen. */
  readonly exitReason: ExitReasonCode;
  /** Why the run stopped without a report (e.g. "instruction limit"), else "". */
  readonly problem: string;
}

/** Options of {@link runTohostElf}. */
export interface RunTohostOptions {
  /** RAM base (default 0x8000_0000, like QEMU `virt`). */
  readonly ramBase?: number;
  /** RAM size in bytes (default 1 MiB). */
  readonly ramSize?: number;
  /** Stop after this many instructions (default 10 million). */
  readonly maxInstructions?: number;
  /** Execution engine (default `jit`). */
  readonly engine?: CpuEngine;
}

/** Address of the `tohost` symbol of `image`; throws an {@link ElfError} when it has none. */
export function tohostAddress(image: ElfImage): number {
  const a = image.symbols.get("tohost");
  if (a === undefined) throw new ElfError("no `tohost` symbol in .symtab");
  return a;
}

/**
 * Load `elf` into a fresh RAM-only address space, run one hart from the entry point with the
 * backend watching `tohost`, and report the result. Deterministic: no wall-clock reads.
 */
export function runTohostElf(elf: Uint8Array, options: RunTohostOptions = {}): TohostResult {
  const ramBase = options.ramBase ?? 0x80000000;
  const ramSize = options.ramSize ?? 1 << 20;
  const limit = options.maxInstructions ?? 10_000_000;
  const memory = createAddressSpace();
  memory.addRam({
    name: "ram",
    base: ramBase,
    size: ramSize,
    backend: createRamBackend("array", ramSize),
  });
  const image = loadElf(memory, elf);
  const tohost = tohostAddress(image);
  const backend = riscvBackend({
    mips: 1000,
    tohost,
    hypercalls: false,
    engine: options.engine ?? "jit",
  });
  const hart = backend.createVcpu({ hartId: 0, memory, timebaseHz: 10_000_000, vcpuCount: 1 });
  hart.reset(image.entry, 0);
  const run = createVcpuRun();
  let executed = 0;
  let problem = "";
  while (executed < limit) {
    run.startNs = executed;
    hart.run(run, Math.min(1_000_000, limit - executed));
    executed += run.retired;
    const reason = run.exitReason;
    if (reason === ExitReason.SystemEvent) {
      const value = (run.systemEventCode << 1) | 1;
      return {
        passed: run.systemEventCode === 0,
        testNumber: run.systemEventCode,
        tohostValue: value >>> 0,
        instructions: executed,
        exitReason: reason,
        problem: "",
      };
    }
    if (reason === ExitReason.BudgetExhausted) continue;
    if (reason === ExitReason.Halt) problem = "hart halted in WFI with no interrupt pending";
    else if (reason === ExitReason.Mmio) problem = `MMIO access at 0x${run.mmioAddr.toString(16)}`;
    else if (reason === ExitReason.Hypercall) problem = "unexpected hypercall";
    else problem = `unexpected exit ${reason}`;
    return {
      passed: false,
      testNumber: -1,
      tohostValue: null,
      instructions: executed,
      exitReason: reason,
      problem,
    };
  }
  return {
    passed: false,
    testNumber: -1,
    tohostValue: null,
    instructions: executed,
    exitReason: run.exitReason,
    problem: `no tohost report within ${limit} instructions`,
  };
}
