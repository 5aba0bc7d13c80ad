/**
 * A machine for `workload:` configs: one RAM region (dense or synthetic, up to 1 TiB) and
 * `machine.vcpus` vCPUs of core's `workload` backend on one scheduler — no devices, no guest code.
 * It has the shape migration expects (memory, vcpus, pause/resume/start, save/loadState).
 */
import {
  createAddressSpace,
  createRamBackend,
  createSyntheticRamBackend,
  createVcpu,
  type CpuState,
  ENOSYS_RESULT,
  InvalidStateError,
  type MutableAddressSpace,
  type RamBackend,
  type RamRegion,
  StateValidationError,
  type Vcpu,
  VirtualScheduler,
  workloadBackend,
} from "@ferry/core";
import { ConfigError, type FerryConfig, type WorkloadConfig } from "../config";

/** Guest-physical base of a workload machine's RAM (as on `virt`). */
export const WORKLOAD_RAM_BASE = 0x8000_0000;

/** Lifecycle of a {@link WorkloadMachine}. */
export type WorkloadMachineState = "created" | "running" | "paused" | "stopped";

/** Saved state of a {@link WorkloadMachine}: every vCPU's workload state. */
export interface WorkloadMachineSaved {
  readonly version: 1;
  readonly vcpus: CpuState[];
}

/** A workload machine built from a config. */
export interface WorkloadMachine {
  readonly scheduler: VirtualScheduler;
  readonly memory: MutableAddressSpace;
  /** The RAM region (`ram`). */
  readonly ram: RamRegion;
  readonly vcpus: readonly Vcpu[];
  /** Call `listener` on every state change (synchronously, before any vCPU runs). */
  onState(listener: (state: WorkloadMachineState) => void): void;
  /** Call `listener` when a vCPU stops on an internal error (the machine is then stopped). */
  onError(listener: (message: string) => void): void;
  readonly state: WorkloadMachineState;
  /** created → running. */
  start(): void;
  /** Pause every vCPU (resolves when all are out of their slice). */
  pause(): Promise<void>;
  /** paused → running. */
  resume(): void;
  /** Stop for good. */
  stop(): void;
  /** Operations (writes + reads) of all vCPUs. */
  workDone(): number;
  saveState(): WorkloadMachineSaved;
  loadState(state: object): void;
}

function ramBackendOf(config: FerryConfig, w: WorkloadConfig): RamBackend {
  const m = config.machine;
  if (m.ramBackend === "synthetic") {
    return createSyntheticRamBackend({
      size: m.memoryBytes,
      seed: w.seed,
      bytesPerWrite: w.bytesPerWrite,
      zeroShare: w.zeroShare,
      deltaWindow: w.deltaWindow,
    });
  }
  return createRamBackend(m.ramBackend, m.memoryBytes);
}

/**
 * Build the machine a `workload:` config describes on `scheduler` (a fresh
 * {@link VirtualScheduler} by default). The machine is `created`: call `start()`.
 * @throws ConfigError when the config has no `workload:` section.
 */
export function buildWorkloadMachine(
  config: FerryConfig,
  scheduler: VirtualScheduler = new VirtualScheduler(),
): WorkloadMachine {
  const w = config.workload;
  if (w === undefined) {
    throw new ConfigError("<config>", [
      { path: "workload", message: "expected a workload section, found nothing" },
    ]);
  }
  const cpu = workloadBackend({
    seed: w.seed,
    writesPerSecond: w.writesPerSecond,
    busyShare: w.busyShare,
    readsPerWrite: w.readsPerWrite,
    distribution: w.distribution,
    bytesPerWrite: w.bytesPerWrite,
  });
  const memory = createAddressSpace();
  const backend = ramBackendOf(config, w);
  const ram = memory.addRam({ name: "ram", base: WORKLOAD_RAM_BASE, size: backend.size, backend });
  const stateListeners: ((state: WorkloadMachineState) => void)[] = [];
  const errorListeners: ((message: string) => void)[] = [];
  let state: WorkloadMachineState = "created";
  const setState = (s: WorkloadMachineState): void => {
    if (state === s) return;
    state = s;
    for (const l of stateListeners) l(s);
  };
  const vcpus: Vcpu[] = [];
  const count = config.machine.vcpus;
  const host = {
    hypercall: () => ENOSYS_RESULT,
    systemEvent: () => {},
    error: (_v: Vcpu, message: string) => {
      for (const v of vcpus) v.stop();
      setState("stopped");
      for (const l of errorListeners) l(message);
    },
  };
  for (let i = 0; i < count; i++) {
    const core = cpu.createVcpu({ hartId: i, memory, timebaseHz: 10_000_000, vcpuCount: count });
    vcpus.push(
      createVcpu({ index: i, core, scheduler, memory, sliceNs: config.machine.sliceNs, host }),
    );
  }
  for (const v of vcpus) v.core.reset(WORKLOAD_RAM_BASE, 0);

  return {
    scheduler,
    memory,
    ram,
    vcpus,
    onState: (listener) => {
      stateListeners.push(listener);
    },
    onError: (listener) => {
      errorListeners.push(listener);
    },
    get state() {
      return state;
    },
    start() {
      if (state !== "created") {
        throw new InvalidStateError(`start() needs a created machine, but it is ${state}`);
      }
      for (const v of vcpus) v.start();
      setState("running");
    },
    async pause() {
      if (state !== "running") return;
      await Promise.all(vcpus.map((v) => v.pause()));
      if (state === "running") setState("paused");
    },
    resume() {
      if (state !== "paused") {
        throw new InvalidStateError(`resume() needs a paused machine, but it is ${state}`);
      }
      for (const v of vcpus) v.resume();
      setState("running");
    },
    stop() {
      for (const v of vcpus) v.stop();
      setState("stopped");
    },
    workDone() {
      let sum = 0;
      for (const v of vcpus) sum += v.core.workDone;
      return sum;
    },
    saveState() {
      return { version: 1, vcpus: vcpus.map((v) => v.core.saveState()) };
    },
    loadState(input: object) {
      if (state === "running") {
        throw new InvalidStateError("loadState() needs a machine that is not running");
      }
      const s = input as Partial<WorkloadMachineSaved>;
      if (s.version !== 1 || !Array.isArray(s.vcpus)) {
        throw new StateValidationError(
          "invalid workload machine state: expected { version: 1, vcpus: [...] }",
        );
      }
      if (s.vcpus.length !== vcpus.length) {
        throw new StateValidationError(
          `invalid workload machine state: expected ${vcpus.length} vCPU states, found ${s.vcpus.length}`,
        );
      }
      s.vcpus.forEach((c, i) => {
        vcpus[i].core.loadState(c);
      });
    },
  };
}
