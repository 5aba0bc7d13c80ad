/**
 * A test CPU backend that is always busy: every run consumes its whole budget and retires one
 * unit of work per microsecond. Core's tests use it where they need a guest that only takes
 * time (the synthetic `workload` backend lives in `@ferry/sim`).
 */
import {
  type CpuBackend,
  type CpuState,
  ExitReason,
  type VcpuCore,
  type VcpuRun,
} from "../src/index";

class BusyVcpu implements VcpuCore {
  private done = 0;
  private carryNs = 0;

  get workDone(): number {
    return this.done;
  }

  run(run: VcpuRun, budgetNs: number): void {
    run.consumedNs = 0;
    run.retired = 0;
    if (run.immediateExit) {
      run.exitReason = ExitReason.Kicked;
      return;
    }
    const ns = this.carryNs + budgetNs;
    const units = Math.floor(ns / 1000);
    this.carryNs = ns - units * 1000;
    this.done += units;
    run.retired = units;
    run.consumedNs = budgetNs;
    run.exitReason = ExitReason.BudgetExhausted;
  }

  completeMmioRead(): void {}
  completeHypercall(): void {}
  setInterrupt(): void {}
  wantsWake(): boolean {
    return false;
  }
  reset(): void {
    this.done = 0;
    this.carryNs = 0;
  }
  saveState(): CpuState {
    return { arch: "busy", done: this.done, carryNs: this.carryNs };
  }
  loadState(state: CpuState): void {
    this.done = Number(state.done);
    this.carryNs = Number(state.carryNs);
  }
}

/** The always-busy backend. */
export function busyBackend(): CpuBackend {
  return { name: "busy", workUnit: "µs", createVcpu: () => new BusyVcpu() };
}
