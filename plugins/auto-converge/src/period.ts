/**
 * The 1-second evaluation gate of QEMU's `migration_bitmap_sync`: the trigger is evaluated only
 * when at least 1 s has passed since the last evaluation; shorter sync periods accumulate into the
 * next evaluation (QEMU's `num_dirty_pages_period` and `bytes_xfer_prev`).
 */
import type { SyncSample } from "./types";

/** The gate's evaluation interval (ns). */
export const EVALUATION_INTERVAL_NS = 1_000_000_000;

/** A closed evaluation period. */
export interface Period {
  readonly nowNs: number;
  readonly durationNs: number;
  readonly dirtyBytes: number;
  readonly xferBytes: number;
}

/** Accumulates syncs into ≥ 1 s periods. */
export interface PeriodGate {
  /** Add one sync; returns the period when it closes one, else null. */
  add(sample: SyncSample): Period | null;
}

/** Make a gate. The first period starts where the first sync's period started. */
export function createPeriodGate(intervalNs: number = EVALUATION_INTERVAL_NS): PeriodGate {
  let startNs = Number.NaN;
  let dirty = 0;
  let xfer = 0;
  return {
    add(s) {
      if (Number.isNaN(startNs)) startNs = s.nowNs - s.periodNs;
      dirty += s.dirtyBytesPeriod;
      xfer += s.bytesSentPeriod;
      const durationNs = s.nowNs - startNs;
      if (durationNs < intervalNs) return null;
      const p: Period = { nowNs: s.nowNs, durationNs, dirtyBytes: dirty, xferBytes: xfer };
      startNs = s.nowNs;
      dirty = 0;
      xfer = 0;
      return p;
    },
  };
}
