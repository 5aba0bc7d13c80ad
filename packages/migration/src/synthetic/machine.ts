/**
 * A migratable machine made of synthetic RAM and `workload` vCPUs: the simulated guest of
 * scale experiments (a 256 GiB, 20-vCPU guest fits in 256 MiB). It has no devices: its state is
 * the vCPUs' workload state. Two of them with the same options migrate over a compact link.
 */
import {
  createAddressSpace,
  createSyntheticRamBackend,
  createVcpu,
  type CpuState,
  InvalidArgumentError,
  InvalidStateError,
  type MutableAddressSpace,
  type RamRegion,
  type Scheduler,
  StateValidationError,
  type SyntheticRamBackend,
  type SyntheticRamOptions,
  type Vcpu,
  type VcpuHost,
  workloadBackend,
  type WorkloadOptionsInput,
} from "@ferry/core";
import type { MigratableMachine } from "../plugin";

/** Options of {@link createSyntheticMachine}. */
export interface SyntheticMachineOptions {
  readonly scheduler: Scheduler;
  /** Number of vCPUs (1..64). */
  readonly vcpus: number;
  /** The synthetic RAM (size, content seed, bytes per write, zero share, delta window). */
  readonly ram: SyntheticRamOptions;
  /**
   * The workload every vCPU runs (each vCPU draws its own stream from `seed` and its hart id).
   * `bytesPerWrite` and `region` are not used: the RAM's `bytesPerWrite` sets the content change.
   */
  readonly workload: Omit<WorkloadOptionsInput, "region" | "bytesPerWrite">;
  /** Virtual ns per vCPU slice (default 10 ms: the workload needs no finer slicing). */
  readonly sliceNs?: number;
  /** RAM block idstr (default `ram`). */
  readonly blockName?: string;
}

/** Machine lifecycle state (the names core's `Machine` uses). */
export type SyntheticMachineState = "created" | "running" | "paused" | "stopped";

/** The state `saveState` returns. */
export interface SyntheticMachineSavedState {
  readonly version: 1;
  readonly vcpus: CpuState[];
}

/** A synthetic guest: sparse RAM and workload vCPUs on one scheduler. */
export interface SyntheticMachine extends MigratableMachine {
  readonly scheduler: Scheduler;
  readonly memory: MutableAddressSpace;
  /** The single RAM block. */
  readonly ram: RamRegion;
  /** Its synthetic backend (versions, materialization). */
  readonly backend: SyntheticRamBackend;
  readonly vcpus: readonly Vcpu[];
  readonly state: SyntheticMachineState;
  /** Start every vCPU (created → running). */
  start(): void;
  /** Pause every vCPU (resolves when all are out of the guest). */
  pause(): Promise<void>;
  /** Resume a paused machine. */
  resume(): void;
  /** Stop for good. */
  stop(): void;
  /** Total page writes + reads retired by all vCPUs. */
  workDone(): number;
  /** vCPU failures (a workload vCPU never fails in practice; the vCPU stops if it does). */
  readonly errors: readonly string[];
  saveState(): SyntheticMachineSavedState;
  loadState(state: object): void;
}

/** Default slice of a synthetic machine's vCPUs (10 ms). */
export const SYNTHETIC_SLICE_NS = 10_000_000;

/** Build a synthetic machine (created, not running). Bad options → `InvalidArgumentError`. */
export function createSyntheticMachine(options: SyntheticMachineOptions): SyntheticMachine {
  const { scheduler } = options;
  const count = options.vcpus;
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    throw new InvalidArgumentError(
      `synthetic machine vCPUs must be an integer 1..64, got ${count}`,
    );
  }
  const backend = createSyntheticRamBackend(options.ram);
  const memory = createAddressSpace();
  const name = options.blockName ?? "ram";
  const ram = memory.addRam({ name, base: 0, size: backend.size, backend });
  const cpu = workloadBackend({ ...options.workload, region: name });
  const errors: string[] = [];
  const host: VcpuHost = {
    hypercall: () => -38,
    systemEvent: () => {},
    error: (vcpu, message, atNs) => errors.push(`vCPU ${vcpu.index} at ${atNs} ns: ${message}`),
  };
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < count; i++) {
    const core = cpu.createVcpu({ hartId: i, memory, timebaseHz: 10_000_000, vcpuCount: count });
    vcpus.push(
      createVcpu({
        index: i,
        core,
        scheduler,
        memory,
        sliceNs: options.sliceNs ?? SYNTHETIC_SLICE_NS,
        host,
      }),
    );
  }
  let state: SyntheticMachineState = "created";
  return {
    scheduler,
    memory,
    ram,
    backend,
    vcpus,
    errors,
    get state() {
      return state;
    },
    start() {
      if (state !== "created") {
        throw new InvalidStateError(`start() needs a created machine, but it is ${state}`);
      }
      for (const v of vcpus) v.start();
      state = "running";
    },
    async pause() {
      if (state !== "running") return;
      await Promise.all(vcpus.map((v) => v.pause()));
      if (state === "running") state = "paused";
    },
    resume() {
      if (state !== "paused") {
        throw new InvalidStateError(`resume() needs a paused machine, but it is ${state}`);
      }
      for (const v of vcpus) v.resume();
      state = "running";
    },
    stop() {
      for (const v of vcpus) v.stop();
      state = "stopped";
    },
    workDone() {
      let sum = 0;
      for (const v of vcpus) sum += v.core.workDone;
      return sum;
    },
    saveState() {
      return { version: 1, vcpus: vcpus.map((v) => v.core.saveState()) };
    },
    loadState(saved: object) {
      if (state === "running") {
        throw new InvalidStateError("loadState() needs a machine that is not running");
      }
      const s = saved as Partial<SyntheticMachineSavedState>;
      const keys = Object.keys(saved).sort().join(",");
      if (keys !== "vcpus,version" || s.version !== 1 || !Array.isArray(s.vcpus)) {
        throw new StateValidationError(
          `invalid synthetic machine state: expected { version: 1, vcpus: [...] }, found keys [${keys}]`,
        );
      }
      if (s.vcpus.length !== count) {
        throw new StateValidationError(
          `invalid synthetic machine state: expected ${count} vCPU states, found ${s.vcpus.length}`,
        );
      }
      for (let i = 0; i < count; i++) vcpus[i].core.loadState(s.vcpus[i]);
    },
  };
}
