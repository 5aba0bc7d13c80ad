/**
 * Run riscv-tests style ELFs (the `p` environment: report through the `tohost` word) on a
 * one-hart `virt` machine in virtual time.
 */
import { VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { loadElf, parseElf, riscvBackend, tohostAddress } from "@ferry/riscv";

/** Outcome of one ISA test ELF. */
export interface IsaTestResult {
  /** The file as given. */
  readonly file: string;
  /** `pass`, `fail` (the test reported a failing test number), or `timeout` (no report). */
  readonly status: "pass" | "fail" | "timeout";
  /** The failing test number (`tohost >>> 1`), 0 on pass, null when there was no report. */
  readonly testNumber: number | null;
  /** Instructions retired. */
  readonly instructions: number;
  /** Virtual time of the report or of the limit (ns). */
  readonly virtualTimeNs: number;
}

/** Options of {@link runIsaTest}. */
export interface IsaTestOptions {
  /** Guest instructions per virtual microsecond (default 100). */
  readonly mips?: number;
  /** Virtual-time limit (default 10 s). */
  readonly timeLimitNs?: number;
  /** RAM size (default 16 MiB). */
  readonly memoryBytes?: number;
}

/**
 * Load `elf` (it must have a `tohost` symbol) on a fresh one-hart `virt` machine, run it from its
 * entry point and report what it wrote to `tohost`: 1 = pass, `(n << 1) | 1` = test `n` failed.
 * @throws ElfError for a malformed ELF or one without `tohost`.
 */
export async function runIsaTest(
  file: string,
  elf: Uint8Array,
  options: IsaTestOptions = {},
): Promise<IsaTestResult> {
  const image = parseElf(elf);
  const machine = createMachine({
    scheduler: new VirtualScheduler(),
    cpu: riscvBackend({ mips: options.mips ?? 100, tohost: tohostAddress(image) }),
    vcpus: 1,
    memory: { size: options.memoryBytes ?? 16 * 1024 * 1024 },
  });
  loadElf(machine.memory, elf);
  machine.reset(image.entry);
  const r = await machine.runUntilShutdown({ timeLimitNs: options.timeLimitNs ?? 10e9 });
  machine.stop();
  const reported = r.reason === "shutdown";
  return {
    file,
    status: !reported ? "timeout" : r.code === 0 ? "pass" : "fail",
    testNumber: reported ? r.code : null,
    instructions: machine.workDone(),
    virtualTimeNs: r.atNs,
  };
}
