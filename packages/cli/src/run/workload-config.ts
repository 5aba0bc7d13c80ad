/**
 * The machine of a `workload:` config, built with core's `createWorkloadMachine`: one RAM region
 * (dense, or synthetic up to 1 TiB) and `machine.vcpus` vCPUs of the `workload` backend.
 */
import type { Machine, Scheduler } from "@ferry/core";
import {
  createSyntheticRamBackend,
  createWorkloadMachine,
  type WorkloadMachineOptions,
} from "@ferry/sim";
import { ConfigError, type FerryConfig, type WorkloadConfig } from "../config";

function workloadOf(config: FerryConfig): WorkloadConfig {
  const w = config.workload;
  if (w === undefined) {
    throw new ConfigError("<config>", [
      { path: "workload", message: "expected a workload section, found nothing" },
    ]);
  }
  return w;
}

/**
 * The `createWorkloadMachine` options a `workload:` config describes, on `scheduler`. A
 * `ram-backend: synthetic` config gets a fresh synthetic backend (content seed = the workload
 * seed) per call, so each call describes an independent machine.
 * @throws ConfigError when the config has no `workload:` section.
 */
export function workloadMachineOptions(
  config: FerryConfig,
  scheduler: Scheduler,
): WorkloadMachineOptions {
  const w = workloadOf(config);
  const m = config.machine;
  const memory =
    m.ramBackend === "synthetic"
      ? {
          size: m.memoryBytes,
          backend: createSyntheticRamBackend({
            size: m.memoryBytes,
            seed: w.seed,
            bytesPerWrite: w.bytesPerWrite,
            zeroShare: w.zeroShare,
            deltaWindow: w.deltaWindow,
          }),
        }
      : { size: m.memoryBytes, backend: m.ramBackend };
  return {
    scheduler,
    vcpus: m.vcpus,
    memory,
    workload: {
      seed: w.seed,
      writesPerSecond: w.writesPerSecond,
      busyShare: w.busyShare,
      readsPerWrite: w.readsPerWrite,
      readsPerSecond: w.readsPerSecond,
      ...(w.vcpuWritesPerSecond !== undefined
        ? { vcpuWritesPerSecond: [...w.vcpuWritesPerSecond] }
        : {}),
      distribution: w.distribution,
      bytesPerWrite: w.bytesPerWrite,
    },
    prefillBytes: w.prefillBytes,
    sliceNs: m.sliceNs,
    dirtyTracking: m.dirtyTracking,
  };
}

/**
 * Build the machine a `workload:` config describes (state `created`; prefilled when the config
 * says so). It is core's `Machine`: `start()`, `pause()`, `events`, `saveState()`…
 * @throws ConfigError when the config has no `workload:` section.
 */
export function buildWorkloadMachine(config: FerryConfig, scheduler: Scheduler): Machine {
  return createWorkloadMachine(workloadMachineOptions(config, scheduler));
}
