/**
 * The original 2013 auto-converge (QEMU 1.6, commit 7ca1dfad952d, Chegu Vinod): inside the same
 * ≥ 1 s gate of `migration_bitmap_sync`, a period counts when the previous period's dirty rate is
 * non-zero and the bytes dirtied exceed half the bytes sent; the counter is post-incremented and
 * compared with 4 (`dirty_rate_high_cnt++ > 4`), so the 6th such period switches a sticky throttle
 * on. The throttle itself is a fixed sleep, not a percentage.
 */
import { PAGE_SIZE, type ThrottleTarget } from "@ferry/core";
import { createGatedPolicy } from "./gated-policy";
import type { AutoConvergeSettings } from "./params";
import { NS_PER_MS, type ThrottlePolicy } from "./types";

/** The original's `N`: the counter must exceed this (post-increment), so the 6th period fires. */
export const RFC2013_HIGH_COUNT_LIMIT = 4;

/** Make the `rfc-2013` policy. */
export function createRfc2013Policy(
  s: Pick<AutoConvergeSettings, "rfc2013SleepMs" | "rfc2013RunMs">,
  intervalNs?: number,
): ThrottlePolicy {
  const on: ThrottleTarget = {
    kind: "fixed",
    sleepNs: s.rfc2013SleepMs * NS_PER_MS,
    runNs: s.rfc2013RunMs * NS_PER_MS,
  };
  let target: ThrottleTarget = { kind: "off" };
  /** The previous evaluated period's dirty rate in pages/s (QEMU 1.6's `s->dirty_pages_rate`). */
  let prevDirtyRate = 0;
  let highCount = 0;
  return createGatedPolicy(
    "rfc-2013",
    {
      thresholdBytes: (p) => Math.floor(p.xferBytes / 2),
      isHigh: (p, thresholdBytes) => prevDirtyRate !== 0 && p.dirtyBytes > thresholdBytes,
      // `dirty_rate_high_cnt++ > 4`: only evaluated when the first two conditions hold.
      countHigh() {
        if (!(highCount++ > RFC2013_HIGH_COUNT_LIMIT)) return false;
        highCount = 0;
        return true;
      },
      highCount: () => highCount,
      act() {
        // Sticky: once on, further actions change nothing.
        const changed = target.kind === "off";
        target = on;
        return changed;
      },
      afterPeriod(p) {
        prevDirtyRate = Math.floor(((p.dirtyBytes / PAGE_SIZE) * 1e9) / p.durationNs);
      },
      target: () => target,
    },
    intervalNs,
  );
}
