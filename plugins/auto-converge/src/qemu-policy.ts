/**
 * QEMU's current auto-converge policy (`migration_trigger_throttle` + `mig_throttle_guest_down`):
 * a ≥ 1 s period is high when the bytes dirtied exceed `throttle-trigger-threshold` % of the bytes
 * sent; the 2nd high period since the last action throttles (low periods do not reset the count).
 */
import type { ThrottleTarget } from "@ferry/core";
import { createGatedPolicy } from "./gated-policy";
import type { AutoConvergeSettings } from "./params";
import type { ThrottlePolicy } from "./types";

/** QEMU's `CPU_THROTTLE_PCT_MIN` / `CPU_THROTTLE_PCT_MAX` (clamp of `cpu_throttle_set`). */
export const CPU_THROTTLE_PCT_MIN = 1;
/** See {@link CPU_THROTTLE_PCT_MIN}. */
export const CPU_THROTTLE_PCT_MAX = 99;
/** High periods (since the last action) that trigger a throttle action. */
export const HIGH_PERIODS_TO_THROTTLE = 2;

/** The settings the growth step reads. */
export type GrowthSettings = Pick<
  AutoConvergeSettings,
  "initial" | "increment" | "tailslow" | "max"
>;

/**
 * `bytes_dirty_threshold = bytes_xfer_period × threshold / 100` in uint64 arithmetic (truncated).
 */
export function dirtyThresholdBytes(xferBytes: number, thresholdPct: number): number {
  return Math.floor((xferBytes * thresholdPct) / 100);
}

/**
 * The throttle % after one action (`mig_throttle_guest_down`): `initial` when not active (`now` =
 * 0), else `min(now + inc, max)` where `inc` is the increment or, with tailslow,
 * `min(increment, cpu_now − ⌊cpu_now × threshold / dirty⌋)` with `cpu_now = 100 − now` (QEMU
 * multiplies by the double ratio and truncates to uint64). Clamped to [1, 99].
 */
export function nextThrottlePct(
  nowPct: number,
  s: GrowthSettings,
  dirtyBytes: number,
  thresholdBytes: number,
): number {
  let next: number;
  if (nowPct === 0) {
    next = s.initial;
  } else {
    let inc = s.increment;
    if (s.tailslow) {
      const cpuNow = 100 - nowPct;
      const cpuIdeal = Math.floor(cpuNow * ((thresholdBytes * 1.0) / dirtyBytes));
      inc = Math.min(cpuNow - cpuIdeal, s.increment);
    }
    next = Math.min(nowPct + inc, s.max);
  }
  return Math.max(CPU_THROTTLE_PCT_MIN, Math.min(CPU_THROTTLE_PCT_MAX, next));
}

/** Make the `qemu` policy. */
export function createQemuPolicy(
  s: Pick<AutoConvergeSettings, "triggerThreshold"> & GrowthSettings,
  intervalNs?: number,
): ThrottlePolicy {
  let target: ThrottleTarget = { kind: "off" };
  let pct = 0;
  let highCount = 0;
  return createGatedPolicy(
    "qemu",
    {
      thresholdBytes: (p) => dirtyThresholdBytes(p.xferBytes, s.triggerThreshold),
      isHigh: (p, thresholdBytes) => p.dirtyBytes > thresholdBytes,
      countHigh() {
        if (++highCount < HIGH_PERIODS_TO_THROTTLE) return false;
        highCount = 0;
        return true;
      },
      highCount: () => highCount,
      act(p, thresholdBytes) {
        const next = nextThrottlePct(pct, s, p.dirtyBytes, thresholdBytes);
        if (next === pct) return false;
        pct = next;
        target = { kind: "percentage", pct };
        return true;
      },
      target: () => target,
    },
    intervalNs,
  );
}
