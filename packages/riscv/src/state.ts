/** Plain-data saved state of one RV32 hart, and its validation. */

/** Saved CSR values (machine-level view). */
export type RiscvCsrState = {
  readonly mstatus: number;
  readonly mtvec: number;
  readonly mepc: number;
  readonly mcause: number;
  readonly mtval: number;
  readonly mscratch: number;
  readonly mie: number;
  readonly mip: number;
  readonly mcounteren: number;
  readonly medeleg: number;
  readonly mideleg: number;
  readonly stvec: number;
  readonly sepc: number;
  readonly scause: number;
  readonly stval: number;
  readonly sscratch: number;
  readonly satp: number;
  readonly scounteren: number;
};

/** An MMIO load waiting for `completeMmioRead` when the state was saved. */
export type PendingMmioLoad = {
  readonly rd: number;
  readonly size: 1 | 2 | 4;
  readonly signed: boolean;
};

/** The architectural state of one hart as JSON-compatible data (a `CpuState` with `arch: "riscv32"`). */
export type RiscvCpuState = {
  readonly arch: "riscv32";
  readonly hartId: number;
  /** Program counter, unsigned. */
  readonly pc: number;
  /** x1..x31 as signed 32-bit values (31 entries). */
  readonly x: readonly number[];
  /** Privilege level: 0 (U), 1 (S) or 3 (M). */
  readonly priv: 0 | 1 | 3;
  readonly csr: RiscvCsrState;
  /**
   * 64-bit mcycle and minstret values, exact: a number when at most 2^53 - 1, else the unsigned
   * decimal string (up to 2^64 - 1).
   */
  readonly cycle: number | string;
  readonly instret: number | string;
  /** Instructions retired since creation (the core's `workDone`). */
  readonly workDone: number;
  /** LR reservation address, or null. */
  readonly reservation: number | null;
  readonly pendingMmioLoad: PendingMmioLoad | null;
  /** True while SBI firmware holds the hart stopped (HSM); absent means false. */
  readonly hartStopped?: boolean;
};

/** A 64-bit counter as two unsigned 32-bit halves. */
export type Counter64 = { readonly hi: number; readonly lo: number };

const TWO32 = 4294967296;
const MAX_U64 = (1n << 64n) - 1n;

/** The saved form of a 64-bit counter: a number when it is a safe integer, else a decimal string. */
export function counterToState(hi: number, lo: number): number | string {
  const h = hi >>> 0;
  const l = lo >>> 0;
  if (h < 0x200000) return h * TWO32 + l;
  return ((BigInt(h) << 32n) | BigInt(l)).toString();
}

/** The halves of a validated saved counter (see {@link counterToState}). */
export function counterFromState(v: number | string): Counter64 {
  if (typeof v === "number") {
    const hi = Math.floor(v / TWO32);
    return { hi, lo: v - hi * TWO32 };
  }
  const b = BigInt(v);
  return { hi: Number(b >> 32n), lo: Number(b & 0xffffffffn) };
}

/** Thrown by `loadState` for state that is not a valid saved RV32 hart. */
export class RiscvStateError extends Error {
  constructor(message: string) {
    super(`invalid riscv32 CPU state: ${message}`);
    this.name = "RiscvStateError";
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === "string") return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === "number") return `the number ${v}`;
  return `a value of type ${typeof v}`;
}

function int32Like(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new RiscvStateError(`${path}: expected a 32-bit integer, found ${describe(v)}`);
  }
  return v;
}

function counter(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RiscvStateError(
      `${path}: expected a non-negative safe integer, found ${describe(v)}`,
    );
  }
  return v;
}

function counter64(v: unknown, path: string): void {
  if (typeof v === "string") {
    if (/^[0-9]{1,20}$/.test(v) && BigInt(v) <= MAX_U64) return;
    throw new RiscvStateError(
      `${path}: expected a 64-bit unsigned decimal string, found ${describe(v)}`,
    );
  }
  counter(v, path);
}

function record(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RiscvStateError(`${path}: expected an object, found ${describe(v)}`);
  }
  return v as Record<string, unknown>;
}

/**
 * Check that `state` is a saved riscv32 hart (of hart `hartId`) and return it typed.
 * Throws {@link RiscvStateError} naming the first offending field.
 */
export function validateRiscvState(state: unknown, hartId: number): RiscvCpuState {
  const s = record(state, "state");
  if (s.arch !== "riscv32") {
    throw new RiscvStateError(`arch: expected "riscv32", found ${describe(s.arch)}`);
  }
  if (s.hartId !== hartId) {
    throw new RiscvStateError(`hartId: expected ${hartId}, found ${describe(s.hartId)}`);
  }
  int32Like(s.pc, "pc");
  if (!Array.isArray(s.x) || s.x.length !== 31) {
    throw new RiscvStateError(
      `x: expected an array of 31 registers (x1..x31), found ${describe(s.x)}`,
    );
  }
  for (let i = 0; i < 31; i++) int32Like(s.x[i], `x[${i + 1}]`);
  if (s.priv !== 0 && s.priv !== 1 && s.priv !== 3) {
    throw new RiscvStateError(`priv: expected 0 (U), 1 (S) or 3 (M), found ${describe(s.priv)}`);
  }
  const csr = record(s.csr, "csr");
  for (const k of [
    "mstatus",
    "mtvec",
    "mepc",
    "mcause",
    "mtval",
    "mscratch",
    "mie",
    "mip",
    "mcounteren",
    "medeleg",
    "mideleg",
    "stvec",
    "sepc",
    "scause",
    "stval",
    "sscratch",
    "satp",
    "scounteren",
  ]) {
    int32Like(csr[k], `csr.${k}`);
  }
  counter64(s.cycle, "cycle");
  counter64(s.instret, "instret");
  counter(s.workDone, "workDone");
  if (s.reservation !== null) int32Like(s.reservation, "reservation");
  if (s.hartStopped !== undefined && typeof s.hartStopped !== "boolean") {
    throw new RiscvStateError(`hartStopped: expected a boolean, found ${describe(s.hartStopped)}`);
  }
  if (s.pendingMmioLoad !== null) {
    const p = record(s.pendingMmioLoad, "pendingMmioLoad");
    if (typeof p.rd !== "number" || !Number.isInteger(p.rd) || p.rd < 1 || p.rd > 32) {
      throw new RiscvStateError(`pendingMmioLoad.rd: expected 1..32, found ${describe(p.rd)}`);
    }
    if (p.size !== 1 && p.size !== 2 && p.size !== 4) {
      throw new RiscvStateError(
        `pendingMmioLoad.size: expected 1, 2 or 4, found ${describe(p.size)}`,
      );
    }
    if (typeof p.signed !== "boolean") {
      throw new RiscvStateError(
        `pendingMmioLoad.signed: expected a boolean, found ${describe(p.signed)}`,
      );
    }
  }
  return s as unknown as RiscvCpuState;
}
