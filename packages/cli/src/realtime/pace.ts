/**
 * Pacing a realtime vCPU to the configured MIPS (`ferry run --realtime --pace`): a pre-run hook
 * that sleeps (for real, on the realtime scheduler) whenever the vCPU has retired more
 * instructions than `mips` allows for the wall time elapsed. Lateness is forgiven up to
 * {@link MAX_CATCH_UP_NS}, so a pause or a slow stretch does not turn into a burst.
 */
import type { PreRunHook } from "@ferry/core";

/** The vCPU may make up at most this much lost time (ns). */
export const MAX_CATCH_UP_NS = 20_000_000;
/** Sleeps shorter than this are deferred (timer granularity, ns). */
export const MIN_SLEEP_NS = 1_000_000;

/** A pacing hook for one vCPU: `work()` is its instructions retired. */
export function pacingHook(mips: number, work: () => number): PreRunHook {
  const nsPerInstr = 1000 / mips;
  let lastNs = -1;
  let lastWork = 0;
  let debt = 0;
  return (info) => {
    const now = info.nowNs;
    const w = work();
    if (lastNs >= 0) {
      debt += (w - lastWork) * nsPerInstr - (now - lastNs);
      if (debt < -MAX_CATCH_UP_NS) debt = -MAX_CATCH_UP_NS;
    }
    lastNs = now;
    lastWork = w;
    return debt >= MIN_SLEEP_NS ? debt : 0;
  };
}
