/**
 * A `virt` machine whose vCPUs run core's `workload` backend (a synthetic page dirtier) instead
 * of guest code: the simulated guest of migration experiments. It is `@ferry/riscv`'s
 * `createMachine` (the `virt` board) with a
 * workload CPU, a coarse default slice and an optional prefilled footprint, so every caller (CLI,
 * benches, tests) builds the same machine from the same numbers.
 */
import { InvalidArgumentError } from "@ferry/core";
import { PAGE_SIZE, type RamBackend, type RamRegion } from "@ferry/core";
import { deriveSeed } from "./synthetic/hash";
import { isSyntheticRamBackend } from "./synthetic/backend";
import type { Scheduler } from "@ferry/core";
import { workloadBackend } from "./workload/backend";
import type { WorkloadOptionsInput } from "./workload/options";
import { createMachine, type VirtMachine } from "@ferry/riscv";
import type { MachineOptions } from "@ferry/core";

/** Default slice of a workload machine's vCPUs (10 ms: a workload needs no finer slicing). */
export const WORKLOAD_SLICE_NS = 10_000_000;

/** Options of {@link createWorkloadMachine}. */
export interface WorkloadMachineOptions {
  readonly scheduler: Scheduler;
  /** Number of vCPUs (1..64); each runs its own stream of the workload. */
  readonly vcpus: number;
  /** RAM: `array`/`shared` (dense, ≤ 2 GiB) or a backend instance (e.g. synthetic, ≤ 1 TiB). */
  readonly memory: MachineOptions["memory"];
  /** What every vCPU does (see `workloadBackend`). */
  readonly workload: WorkloadOptionsInput;
  /**
   * Bytes of the footprint (from the start of RAM, a multiple of PAGE_SIZE) written once before
   * the machine starts: a synthetic page gets version 1, a dense page a non-zero pattern. Models
   * memory the guest had already populated (a Java heap) when the experiment begins. Default 0.
   */
  readonly prefillBytes?: number;
  /** Virtual ns per vCPU slice (default {@link WORKLOAD_SLICE_NS}). */
  readonly sliceNs?: number;
  /** Dirty tracker of RAM (default `bitmap`; see `MachineOptions.dirtyTracking`). */
  readonly dirtyTracking?: MachineOptions["dirtyTracking"];
}

/**
 * Build a workload machine (state `created`; call `start()`). Bad options throw
 * `InvalidArgumentError` (machine, workload or prefill: each message names the field).
 */
export function createWorkloadMachine(options: WorkloadMachineOptions): VirtMachine {
  const cpu = workloadBackend(options.workload);
  const machine = createMachine({
    scheduler: options.scheduler,
    cpu,
    vcpus: options.vcpus,
    memory: options.memory,
    sliceNs: options.sliceNs ?? WORKLOAD_SLICE_NS,
    dirtyTracking: options.dirtyTracking,
  });
  const prefill = options.prefillBytes ?? 0;
  if (prefill > 0) {
    const footprint = cpu.options.distribution.footprintBytes ?? machine.ram.size;
    if (prefill > footprint) {
      throw new InvalidArgumentError(
        `prefillBytes must be at most the workload footprint (${footprint} bytes), got ${prefill}`,
      );
    }
    prefillRam(machine.ram, prefill, cpu.options.seed);
  }
  return machine;
}

/**
 * Write the first `bytes` of `region` once, bypassing the dirty log: synthetic pages at version 0
 * become version 1; dense pages get a non-zero 8-byte pattern derived from `seed` and the page
 * number at their start. `bytes` must be a multiple of PAGE_SIZE within the region.
 */
export function prefillRam(region: RamRegion, bytes: number, seed: number): void {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes % PAGE_SIZE !== 0 || bytes > region.size) {
    throw new InvalidArgumentError(
      `prefill must be a multiple of ${PAGE_SIZE} bytes within the ${region.size}-byte region, got ${bytes}`,
    );
  }
  const pages = bytes / PAGE_SIZE;
  const backend: RamBackend = region.backend;
  if (isSyntheticRamBackend(backend)) {
    for (let p = 0; p < pages; p++) {
      if (backend.pageVersion(p) === 0) backend.setPageVersion(p, 1);
    }
    return;
  }
  const word = new Uint8Array(8);
  const view = new DataView(word.buffer);
  for (let p = 0; p < pages; p++) {
    view.setUint32(0, deriveSeed(seed, p) | 1, true);
    view.setUint32(4, p >>> 0, true);
    backend.write(p * PAGE_SIZE, word);
  }
}
