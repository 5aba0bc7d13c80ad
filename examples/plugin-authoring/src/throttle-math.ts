/**
 * The arithmetic of rate-converge, pure and allocation-free: the throttle a guest needs so that
 * its dirty rate fits in a share of the measured bandwidth, and the rates it is computed from.
 * (The sleep that realises a throttle percentage is core's `createCpuThrottle`.)
 */

/** Nanoseconds per second. */
export const NS_PER_S = 1_000_000_000;

/** What {@link requiredThrottlePct} needs. */
export interface ThrottleInputs {
  /** The guest's dirty rate when not throttled, in bytes/s. */
  readonly dirtyBytesPerSec: number;
  /** The measured migration bandwidth, in bytes/s. */
  readonly bandwidthBytesPerSec: number;
  /** Share (0 < r ≤ 1) of the bandwidth the throttled dirty rate may use. */
  readonly targetRatio: number;
  /** Highest throttle % allowed (1..99). */
  readonly maxThrottlePct: number;
}

/**
 * The smallest whole throttle percentage `p` with `dirty × (1 − p/100) ≤ target × bandwidth`,
 * capped at `maxThrottlePct`; 0 when the guest already fits (or dirties nothing). A bandwidth of
 * 0 (nothing could be measured) asks for the cap.
 */
export function requiredThrottlePct(i: ThrottleInputs): number {
  const dirty = i.dirtyBytesPerSec;
  if (!(dirty > 0)) return 0;
  const allowed = i.targetRatio * i.bandwidthBytesPerSec;
  if (!(allowed > 0)) return i.maxThrottlePct;
  if (dirty <= allowed) return 0;
  const exact = 100 * (1 - allowed / dirty);
  // 1e-9 keeps an exact integer (e.g. 50.000000000001 from rounding) from going one up.
  const pct = Math.ceil(exact - 1e-9);
  return Math.min(Math.max(pct, 1), i.maxThrottlePct);
}

/**
 * The unthrottled dirty rate (bytes/s) behind `dirtyBytes` dirtied while the vCPUs ran for
 * `runNs` of the window (the window's length times the share of it they were not throttled).
 * 0 when they did not run.
 */
export function unthrottledDirtyRate(dirtyBytes: number, runNs: number): number {
  return runNs > 0 ? (dirtyBytes * NS_PER_S) / runNs : 0;
}

/** Bytes per second of `bytes` moved in `ns`; 0 for an empty window. */
export function bytesPerSec(bytes: number, ns: number): number {
  return ns > 0 ? (bytes * NS_PER_S) / ns : 0;
}
