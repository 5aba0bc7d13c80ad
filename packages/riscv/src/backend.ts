/** The `riscv` CPU backend: a factory of RV32IMA harts (block compiler or interpreter). */
import type { CpuBackend, VcpuContext } from "@ferry/core";
import { type CpuEngine, RiscvHart } from "./hart";

/** Options of {@link riscvBackend}. */
export interface RiscvBackendOptions {
  /** Guest speed in millions of instructions per virtual second (each instruction costs `1000 / mips` ns). */
  readonly mips: number;
  /**
   * Hypercall mode: ECALL from M-mode while `mtvec == 0` exits `Hypercall` (a7 = nr, a0..a5 = args,
   * the result goes to a0) instead of trapping to address 0. Default true.
   */
  readonly hypercalls?: boolean;
  /**
   * Guest-physical address of the riscv-tests `tohost` word. A store of a value with bit 0 set
   * ends the run with exit `SystemEvent` (`shutdown`, code `value >>> 1`). Default: none.
   */
  readonly tohost?: number | null;
  /**
   * Decoded-code cache capacity in 4 KiB pages (default 4096 = 16 MiB of code, 64 MiB of cache);
   * the block compiler keeps up to 8 compiled blocks per page of it (at least 64).
   */
  readonly maxDecodedPages?: number;
  /**
   * Execution engine: `jit` (default) compiles guest blocks to JavaScript functions;
   * `interpreter` is the reference. Both give identical results in virtual time.
   */
  readonly engine?: CpuEngine;
}

/** Thrown for invalid backend options. */
export class RiscvOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RiscvOptionsError";
  }
}

/** A CPU backend whose harts are {@link RiscvHart}s. */
export interface RiscvBackend extends CpuBackend {
  createVcpu(ctx: VcpuContext): RiscvHart;
}

/** Make the `riscv` backend (workUnit `instructions`). */
export function riscvBackend(options: RiscvBackendOptions): RiscvBackend {
  const { mips } = options;
  if (typeof mips !== "number" || !Number.isFinite(mips) || mips <= 0) {
    throw new RiscvOptionsError(
      `riscv backend: mips must be a positive number, found ${String(mips)}`,
    );
  }
  const tohost = options.tohost ?? null;
  if (
    tohost !== null &&
    (!Number.isInteger(tohost) || tohost < 0 || tohost > 0xfffffffc || tohost % 4 !== 0)
  ) {
    throw new RiscvOptionsError(
      `riscv backend: tohost must be a 4-byte aligned 32-bit address, found ${String(tohost)}`,
    );
  }
  const maxDecodedPages = options.maxDecodedPages ?? 4096;
  if (!Number.isInteger(maxDecodedPages) || maxDecodedPages < 1) {
    throw new RiscvOptionsError(
      `riscv backend: maxDecodedPages must be a positive integer, found ${String(maxDecodedPages)}`,
    );
  }
  const engine = options.engine ?? "jit";
  if (engine !== "jit" && engine !== "interpreter") {
    throw new RiscvOptionsError(
      `riscv backend: engine must be "jit" or "interpreter", found ${JSON.stringify(engine)}`,
    );
  }
  const hartOptions = {
    mips,
    hypercalls: options.hypercalls ?? true,
    tohost,
    maxDecodedPages,
    engine,
  };
  return {
    name: "riscv",
    workUnit: "instructions",
    createVcpu(ctx: VcpuContext): RiscvHart {
      return new RiscvHart(ctx, hartOptions);
    },
  };
}
