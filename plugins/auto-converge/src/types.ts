/**
 * Plain data shared by the auto-converge policies and the controller. The throttle itself (targets,
 * cadence, hooks) is core's `createCpuThrottle`.
 */
import type { ThrottleTarget } from "@ferry/core";
import type { Period } from "./period";

/** Nanoseconds per millisecond. */
export const NS_PER_MS = 1_000_000;

/** The sync statistics a policy reads (a subset of `SyncStats`). */
export interface SyncSample {
  /** Virtual time of the sync (ns). */
  readonly nowNs: number;
  /** Length of the period since the previous sync (ns). */
  readonly periodNs: number;
  /** Bytes the guest dirtied since the previous sync. */
  readonly dirtyBytesPeriod: number;
  /** Stream bytes written since the previous sync. */
  readonly bytesSentPeriod: number;
}

/** One evaluated period (≥ 1 s, possibly spanning several syncs). */
export interface Evaluation {
  /** Virtual time of the evaluation (ns). */
  readonly nowNs: number;
  /** Length of the evaluated period (ns). */
  readonly durationNs: number;
  /** Bytes dirtied in the period. */
  readonly dirtyBytes: number;
  /** Bytes sent in the period. */
  readonly xferBytes: number;
  /** Dirty bytes above which the period is "high". */
  readonly thresholdBytes: number;
  /** The period was high. */
  readonly high: boolean;
  /** The high-period counter after this evaluation. */
  readonly highCount: number;
  /** A throttle action was taken. */
  readonly throttled: boolean;
  /** The target after this evaluation. */
  readonly target: ThrottleTarget;
}

/** Counters of a policy (for statistics and tests). */
export interface PolicyCounters {
  /** Periods evaluated. */
  readonly evaluations: number;
  /** Evaluated periods that were high. */
  readonly highPeriods: number;
  /** Throttle actions taken (each sets or raises the throttle, possibly to the same cap). */
  readonly actions: number;
  /** Throttle actions that changed the throttle (activation or a raise). */
  readonly steps: number;
  /** Highest throttle % reached (the effective % for the fixed policy). */
  readonly maxPct: number;
}

/** A throttle policy: watches sync statistics and decides the throttle target. Pure (no I/O). */
export interface ThrottlePolicy {
  /** The policy's name. */
  readonly name: string;
  /** Observe one sync; returns the evaluation when one happened (≥ 1 s since the last), else null. */
  onSync(sample: SyncSample): Evaluation | null;
  /**
   * Evaluate one closed ≥ 1 s period measured elsewhere (the migration's shared dirty-rate
   * estimator, `DirtyRateEstimator.period`) instead of gating syncs itself.
   */
  onPeriod(period: Period): Evaluation;
  /** The current target. */
  target(): ThrottleTarget;
  /** The current throttle % (0 when off; the effective % for a fixed target). */
  percentage(): number;
  /** Counters so far. */
  counters(): PolicyCounters;
}
