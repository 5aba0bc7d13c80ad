/**
 * The report's time series: the migration framework's samples (one per dirty-log sync and per
 * 100 ms bandwidth window) joined with what the CLI samples itself — the vCPU throttle and the
 * guest's work counter of the migrated source and of an unmigrated twin on the same clock.
 */
import type { TimeSample } from "@ferry/migration";

/** A CLI sample of the guest's work, taken at every sync and every 10 ms of virtual time. */
export interface WorkSample {
  /** Virtual time since the migration started (ns). */
  readonly timeNs: number;
  /** Work counter (instructions or operations) of the migrated source. */
  readonly work: number;
  /** Work counter of the unmigrated twin (same config, same clock). */
  readonly referenceWork: number;
  /** `cpu-throttle-percentage` at that moment (0 when no controller throttles). */
  readonly throttlePercent: number;
}

/** One row of `series.csv` / `report.json` `series`: a framework sample plus CLI columns. */
export interface ReportSample extends TimeSample {
  /** vCPU throttle in effect at the sample (%; 0 without one). */
  readonly throttlePercent: number;
  /** Dirty rate in bytes per second (`dirtyRate` pages/s × 4096). */
  readonly dirtyBytesPerSec: number;
  /** Guest work rate of the migrated guest over the work-sample interval ending at the sample. */
  readonly guestWorkRate: number;
  /** The same for the unmigrated twin (what the guest would have done). */
  readonly referenceWorkRate: number;
}

const PAGE = 4096;

/**
 * Index of the work-sample interval `(work[i-1], work[i]]` that contains `t` (the first interval
 * for `t` at or before the first sample, the last for `t` after the last); -1 with < 2 samples.
 */
function intervalAt(work: readonly WorkSample[], t: number, from: number): number {
  if (work.length < 2) return -1;
  let i = Math.max(1, from);
  while (i < work.length - 1 && work[i].timeNs < t) i++;
  return i;
}

function rate(a: WorkSample, b: WorkSample, key: "work" | "referenceWork"): number {
  const dt = b.timeNs - a.timeNs;
  return dt > 0 ? ((b[key] - a[key]) * 1e9) / dt : 0;
}

/**
 * Join `series` (in time order) with `work` samples (in time order): the throttle is the one of
 * the last work sample at or before the row (throttles change only at syncs, where a work sample
 * is taken after the controllers ran), the work rates those of the interval ending at or after it.
 */
export function buildReportSeries(
  series: readonly TimeSample[],
  work: readonly WorkSample[],
): ReportSample[] {
  const out: ReportSample[] = [];
  let at = 1;
  let last = -1;
  for (const s of series) {
    while (last + 1 < work.length && work[last + 1].timeNs <= s.timeNs) last++;
    at = intervalAt(work, s.timeNs, at);
    const a = at > 0 ? work[at - 1] : undefined;
    const b = at > 0 ? work[at] : undefined;
    out.push({
      ...s,
      throttlePercent: last >= 0 ? work[last].throttlePercent : 0,
      dirtyBytesPerSec: s.dirtyRate * PAGE,
      guestWorkRate: a && b ? rate(a, b, "work") : 0,
      referenceWorkRate: a && b ? rate(a, b, "referenceWork") : 0,
    });
  }
  return out;
}
