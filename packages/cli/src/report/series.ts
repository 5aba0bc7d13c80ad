/**
 * The report's time series: the migration framework's samples (one per dirty-log sync and per
 * 100 ms bandwidth window) joined with what the CLI samples itself — the vCPU throttle, the
 * series plugins declare, and the guest's work counter of the migrated source and of an
 * unmigrated twin on the same clock.
 */
import type { SeriesDef, SeriesValue, TimeSample } from "@ferry/migration";
import { type DeclaredSample, declaredJoin } from "./declared";

/**
 * A CLI sample of the guest's work (and of the declared series), taken at every sync and every
 * 10 ms of virtual time.
 */
export interface WorkSample extends DeclaredSample {
  /** Virtual time since the migration started (ns). */
  readonly timeNs: number;
  /** Work counter (instructions or operations) of the migrated source. */
  readonly work: number;
  /** Work counter of the unmigrated twin (same config, same clock). */
  readonly referenceWork: number;
  /** `cpu-throttle-percentage` at that moment (0 when no controller throttles). */
  readonly throttlePercent: number;
  /** Stream bytes the source has sent so far (`ram.transferred`); absent: 0. */
  readonly transferredBytes?: number;
}

/** One row of `series.csv` / `report.json` `series`: a framework sample plus CLI columns. */
export interface ReportSample extends TimeSample {
  /** vCPU throttle in effect at the sample (%; 0 without one). */
  readonly throttlePercent: number;
  /** Dirty rate in bytes per second (`dirtyRate` pages/s × 4096). */
  readonly dirtyBytesPerSec: number;
  /** Work (instructions or operations) the migrated guest did since the migration started. */
  readonly guestWork: number;
  /** The same for the unmigrated twin. */
  readonly referenceWork: number;
  /** Stream bytes sent since the migration started. */
  readonly transferredBytes: number;
  /** Length (ns) of the window {@link guestWorkRate} is measured over (see {@link rateWindow}). */
  readonly rateWindowNs: number;
  /** Work per second of the migrated guest (all vCPUs) over the row's rate window. */
  readonly guestWorkRate: number;
  /** The same for the unmigrated twin (what the guest would have done). */
  readonly referenceWorkRate: number;
  /**
   * Values of the series the run's plugins declare (`MigrateReport.declaredSeries`), by key: a
   * gauge's value at the last sample at or before the row, a counter's total at the row's time.
   * Absent when the run declares none; a key is absent while its series has no value.
   */
  readonly declared?: Readonly<Record<string, SeriesValue>>;
  /** Counters only: the rate per second over the row's rate window (like {@link guestWorkRate}). */
  readonly declaredRates?: Readonly<Record<string, SeriesValue>>;
}

const PAGE = 4096;

/**
 * Shortest window a work rate is measured over (ns). A throttled vCPU alternates running and
 * sleeping (QEMU: 10 ms of run per `pct/(1-pct) × 10 ms` of sleep), so a rate taken over a few ms
 * reads the phase of that cycle, not the guest's speed; 100 ms spans several cycles up to a 90 %
 * throttle.
 */
export const MIN_RATE_WINDOW_NS = 100_000_000;

/**
 * The window `[start, end]` a row at `t` measures rates over: from the previous row (or at least
 * {@link MIN_RATE_WINDOW_NS} back) to `t`, clipped at the migration start; a row at the start
 * looks forward instead.
 */
export function rateWindow(t: number, previous: number | undefined): [number, number] {
  const start = Math.max(0, Math.min(previous ?? 0, t - MIN_RATE_WINDOW_NS));
  return t > start ? [start, t] : [t, t + MIN_RATE_WINDOW_NS];
}

/**
 * The cumulative counter `key` at time `t`, linearly interpolated between the work samples
 * around it (clamped to the first and last sample).
 */
export function workAt(
  work: readonly WorkSample[],
  t: number,
  key: "work" | "referenceWork" | "transferredBytes",
): number {
  if (work.length === 0) return 0;
  const v = (w: WorkSample): number => w[key] ?? 0;
  if (t <= work[0].timeNs) return v(work[0]);
  const last = work[work.length - 1];
  if (t >= last.timeNs) return v(last);
  let lo = 0;
  let hi = work.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (work[mid].timeNs <= t) lo = mid;
    else hi = mid;
  }
  const a = work[lo];
  const b = work[hi];
  return v(a) + ((v(b) - v(a)) * (t - a.timeNs)) / (b.timeNs - a.timeNs);
}

/**
 * Join `series` (in time order) with `work` samples (in time order), and the series the run's
 * plugins declare (`declaredSeries`; see `declared.ts`). The throttle is the one of
 * the last work sample at or before the row (throttles change only at syncs, where a work sample
 * is taken after the controllers ran). Work rates are differences of the cumulative counters over
 * the row's whole window ({@link rateWindow}), never one short sample, so they do not alias with
 * the throttle's run/sleep cycle.
 */
export function buildReportSeries(
  series: readonly TimeSample[],
  work: readonly WorkSample[],
  declaredSeries: readonly SeriesDef[] = [],
): ReportSample[] {
  const out: ReportSample[] = [];
  const join = declaredSeries.length > 0 ? declaredJoin(declaredSeries, work) : null;
  let last = -1;
  let previous: number | undefined;
  const base = work.length > 0 ? work[0] : undefined;
  for (const s of series) {
    while (last + 1 < work.length && work[last + 1].timeNs <= s.timeNs) last++;
    const [from, to] = rateWindow(s.timeNs, previous);
    previous = s.timeNs;
    // The window ends at the last work sample at most (the migration's end).
    const covered = Math.max(
      0,
      Math.min(to, work.length > 0 ? work[work.length - 1].timeNs : 0) - from,
    );
    const rate = (key: "work" | "referenceWork"): number =>
      covered > 0
        ? ((workAt(work, from + covered, key) - workAt(work, from, key)) * 1e9) / covered
        : 0;
    out.push({
      ...s,
      timeNs: Math.round(s.timeNs),
      throttlePercent: last >= 0 ? work[last].throttlePercent : 0,
      dirtyBytesPerSec: s.dirtyRate * PAGE,
      guestWork: base ? workAt(work, s.timeNs, "work") - base.work : 0,
      referenceWork: base ? workAt(work, s.timeNs, "referenceWork") - base.referenceWork : 0,
      transferredBytes: workAt(work, s.timeNs, "transferredBytes"),
      rateWindowNs: Math.round(covered),
      guestWorkRate: rate("work"),
      referenceWorkRate: rate("referenceWork"),
      ...(join !== null ? join(last, s.timeNs, from, covered) : {}),
    });
  }
  return out;
}
