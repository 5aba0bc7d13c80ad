/**
 * A test CPU backend that dirties guest RAM: each vCPU stores pseudo-random 32-bit values at
 * pseudo-random word offsets of a working set at a chosen rate (stores per virtual second).
 * Its PRNG state is its CPU state, so a migrated guest continues the same sequence.
 */
import {
  type CpuBackend,
  type CpuState,
  ExitReason,
  type RamRegion,
  type VcpuContext,
  type VcpuCore,
  type VcpuRun,
  PAGE_SIZE,
} from "@ferry/core";

/** Options of {@link dirtierBackend}. */
export interface DirtierOptions {
  /** Stores per virtual second per vCPU. */
  readonly storesPerSecond: number;
  /** Pages of RAM written (from the start of RAM); default: all of it. */
  readonly workingSetPages?: number;
  /** PRNG seed. */
  readonly seed?: number;
}

class DirtierCore implements VcpuCore {
  workDone = 0;
  private s: number;
  private carry = 0;
  private readonly ram: RamRegion;
  private readonly words: number;

  constructor(
    ctx: VcpuContext,
    private readonly opts: DirtierOptions,
  ) {
    this.ram = ctx.memory.ramRegions[0];
    const pages = Math.min(
      opts.workingSetPages ?? this.ram.size / PAGE_SIZE,
      this.ram.size / PAGE_SIZE - 1,
    );
    this.words = (pages * PAGE_SIZE) >>> 2;
    this.s = ((opts.seed ?? 1) * 2654435761 + ctx.hartId * 40503 + 1) >>> 0 || 1;
  }

  private next(): number {
    let s = this.s;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s;
  }

  run(run: VcpuRun, budgetNs: number): void {
    if (run.immediateExit) {
      run.immediateExit = false;
      run.exitReason = ExitReason.Kicked;
      run.consumedNs = 0;
      run.retired = 0;
      return;
    }
    const exact = (budgetNs * this.opts.storesPerSecond) / 1e9 + this.carry;
    const n = Math.floor(exact);
    this.carry = exact - n;
    const backend = this.ram.backend;
    const dirty = this.ram.dirty;
    const logging = dirty.logging;
    for (let i = 0; i < n; i++) {
      const off = (this.next() % this.words) << 2;
      backend.store(off, 4, this.next());
      if (logging) dirty.markOffset(off);
    }
    this.workDone += n;
    run.retired = n;
    run.consumedNs = budgetNs;
    run.exitReason = ExitReason.BudgetExhausted;
  }

  completeMmioRead(): void {}
  completeHypercall(): void {}
  setInterrupt(): void {}
  wantsWake(): boolean {
    return false;
  }
  reset(): void {}

  saveState(): CpuState {
    return { arch: "dirtier", s: this.s, carry: this.carry, workDone: this.workDone };
  }

  loadState(state: CpuState): void {
    const { s, carry, workDone } = state as { s?: unknown; carry?: unknown; workDone?: unknown };
    if (
      state.arch !== "dirtier" ||
      typeof s !== "number" ||
      typeof carry !== "number" ||
      typeof workDone !== "number"
    ) {
      throw new Error(`dirtier: invalid CPU state ${JSON.stringify(state)}`);
    }
    this.s = s;
    this.carry = carry;
    this.workDone = workDone;
  }
}

/** Make the dirtying test backend. */
export function dirtierBackend(opts: DirtierOptions): CpuBackend {
  return {
    name: "dirtier",
    workUnit: "stores",
    createVcpu: (ctx) => new DirtierCore(ctx, opts),
  };
}
