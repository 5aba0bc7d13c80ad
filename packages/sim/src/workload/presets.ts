/**
 * Ready-made `workload` backends for examples and tests.
 */
import { PAGE_SIZE } from "@ferry/core";
import { type WorkloadCpuBackend, workloadBackend } from "./backend";

/** Options of {@link uniformDirtier}. */
export interface UniformDirtierOptions {
  /** Page writes per virtual second per vCPU. */
  readonly writesPerSecond: number;
  /** Pages written, from the start of the first RAM region (default: all of it). */
  readonly footprintPages?: number;
  /** Bytes changed per write (default 4). */
  readonly bytesPerWrite?: number;
  /** PRNG seed (default 1). */
  readonly seed?: number;
}

/**
 * A `workload` backend that is always busy and writes `bytesPerWrite` pseudo-random bytes at a
 * uniformly chosen page of the footprint, `writesPerSecond` times per virtual second per vCPU:
 * the simplest guest that dirties memory at a known rate.
 */
export function uniformDirtier(o: UniformDirtierOptions): WorkloadCpuBackend {
  return workloadBackend({
    seed: o.seed ?? 1,
    writesPerSecond: o.writesPerSecond,
    busyShare: 1,
    bytesPerWrite: o.bytesPerWrite ?? 4,
    distribution: {
      kind: "uniform",
      footprintBytes: o.footprintPages === undefined ? undefined : o.footprintPages * PAGE_SIZE,
    },
  });
}
