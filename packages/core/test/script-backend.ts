/**
 * A tiny scripted CPU backend for testing the vCPU loop without @ferry/riscv. Each vCPU runs a
 * list of ops; every op costs OP_NS of virtual time (`work` costs its own `ns`).
 */
import {
  ExitReason,
  type AddressSpace,
  type CpuBackend,
  type CpuState,
  type InterruptLineCode,
  type VcpuContext,
  type VcpuCore,
  type VcpuRun,
} from "../src/index";

/** One scripted operation. */
export type ScriptOp =
  | { op: "work"; ns: number }
  | { op: "store"; addr: number; value: number; size?: 1 | 2 | 4 }
  | { op: "load"; addr: number; size?: 1 | 2 | 4 }
  | { op: "wfi" }
  | { op: "ecall"; nr: number; args?: number[] }
  | { op: "jump"; to: number; times: number }
  | { op: "fail"; message: string };

/** Virtual ns per op. */
export const OP_NS = 10;

/** Expand a string into UART stores. */
export function print(text: string): ScriptOp[] {
  return [...new TextEncoder().encode(text)].map(
    (b) => ({ op: "store", addr: 0x1000_0000, value: b, size: 1 }) as ScriptOp,
  );
}

/** Store that ends the run through the test finisher. */
export function finish(kind: "pass" | "fail" | "reset", code = 0): ScriptOp {
  const value =
    kind === "pass" ? 0x5555 : kind === "reset" ? 0x7777 : ((code << 16) | 0x3333) >>> 0;
  return { op: "store", addr: 0x10_0000, value, size: 4 };
}

/** A value the script observed (loads and hypercall results), with the virtual time. */
export interface Observation {
  readonly pc: number;
  readonly value: number;
  readonly atNs: number;
}

export class ScriptCore implements VcpuCore {
  pc = 0;
  workDone = 0;
  mip = 0;
  workLeft = -1;
  counters = new Map<number, number>();
  observed: Observation[] = [];
  resets: Array<{ entry: number; bootArg: number }> = [];
  private pendingNs = 0;

  constructor(
    readonly hartId: number,
    readonly program: readonly ScriptOp[],
    private readonly memory: AddressSpace,
  ) {}

  run(run: VcpuRun, budgetNs: number): void {
    if (run.immediateExit) {
      run.exitReason = ExitReason.Kicked;
      run.consumedNs = 0;
      run.retired = 0;
      return;
    }
    let used = 0;
    let retired = 0;
    const exit = (reason: (typeof ExitReason)[keyof typeof ExitReason]) => {
      run.exitReason = reason;
      run.consumedNs = used;
      run.retired = retired;
      this.workDone += retired;
    };
    for (;;) {
      if (used >= budgetNs) {
        exit(ExitReason.BudgetExhausted);
        return;
      }
      const op = this.program[this.pc];
      if (op === undefined) {
        used = budgetNs;
        exit(ExitReason.BudgetExhausted);
        return;
      }
      this.pendingNs = run.startNs + used;
      if (op.op === "work") {
        if (this.workLeft < 0) this.workLeft = op.ns;
        const take = Math.min(this.workLeft, budgetNs - used);
        used += take;
        this.workLeft -= take;
        if (this.workLeft === 0) {
          this.workLeft = -1;
          this.pc++;
          retired++;
        }
        continue;
      }
      used += OP_NS;
      retired++;
      this.pendingNs = run.startNs + used;
      switch (op.op) {
        case "store":
        case "load": {
          const size = op.size ?? 4;
          const r = this.memory.find(op.addr);
          if (r !== undefined && r.kind === "ram") {
            const off = op.addr - r.base;
            if (op.op === "store") {
              r.backend.store(off, size, op.value);
              if (r.dirty.logging) r.dirty.words[off >>> 17] |= 1 << ((off >>> 12) & 31);
            } else
              this.observed.push({
                pc: this.pc,
                value: r.backend.load(off, size),
                atNs: this.pendingNs,
              });
            this.pc++;
            continue;
          }
          run.mmioAddr = op.addr;
          run.mmioSize = size;
          run.mmioIsWrite = op.op === "store";
          run.mmioData = op.op === "store" ? op.value : 0;
          if (op.op === "store") this.pc++;
          exit(ExitReason.Mmio);
          return;
        }
        case "wfi":
          this.pc++;
          if (this.mip !== 0) continue;
          exit(ExitReason.Halt);
          return;
        case "ecall":
          run.hypercallNr = op.nr;
          run.hypercallArgs.fill(0);
          (op.args ?? []).forEach((a, i) => {
            run.hypercallArgs[i] = a;
          });
          exit(ExitReason.Hypercall);
          return;
        case "jump": {
          const n = this.counters.get(this.pc) ?? 0;
          if (n < op.times) {
            this.counters.set(this.pc, n + 1);
            this.pc = op.to;
          } else {
            this.counters.delete(this.pc);
            this.pc++;
          }
          continue;
        }
        case "fail":
          run.internalError = op.message;
          exit(ExitReason.InternalError);
          return;
      }
    }
  }

  completeMmioRead(value: number): void {
    this.observed.push({ pc: this.pc, value, atNs: this.pendingNs });
    this.pc++;
  }

  completeHypercall(result: number): void {
    this.observed.push({ pc: this.pc, value: result, atNs: this.pendingNs });
    this.pc++;
  }

  setInterrupt(line: InterruptLineCode, level: boolean): void {
    if (level) this.mip |= 1 << line;
    else this.mip &= ~(1 << line);
  }

  wantsWake(): boolean {
    return this.mip !== 0;
  }

  reset(entry: number, bootArg: number): void {
    this.pc = 0;
    this.mip = 0;
    this.workLeft = -1;
    this.counters.clear();
    this.resets.push({ entry, bootArg });
  }

  saveState(): CpuState {
    return {
      arch: "script",
      pc: this.pc,
      workDone: this.workDone,
      mip: this.mip,
      workLeft: this.workLeft,
    };
  }

  loadState(state: CpuState): void {
    if (state.arch !== "script" || typeof state.pc !== "number") {
      throw new Error(`expected a script CPU state, got arch ${state.arch}`);
    }
    this.pc = state.pc;
    this.workDone = state.workDone as number;
    this.mip = state.mip as number;
    this.workLeft = state.workLeft as number;
  }
}

/** A backend whose vCPU `i` runs `programs[i]` (or the last program). */
export function scriptBackend(programs: ReadonlyArray<readonly ScriptOp[]>): CpuBackend & {
  cores: ScriptCore[];
} {
  const cores: ScriptCore[] = [];
  return {
    name: "script",
    workUnit: "operations",
    cores,
    createVcpu(ctx: VcpuContext): VcpuCore {
      const core = new ScriptCore(
        ctx.hartId,
        programs[Math.min(ctx.hartId, programs.length - 1)],
        ctx.memory,
      );
      cores.push(core);
      return core;
    },
  };
}
