/**
 * Series declared by plugins (a controller's throttle, per-vCPU dirty limits, what it measures;
 * `SeriesDef` in `@ferry/migration`) in the report's rows: a gauge's value at a row is the one of
 * the last CLI sample at or before it (taken at every sync after the controllers acted, and every
 * 10 ms); a counter's total is interpolated to the row's time and its rate is the difference over
 * the row's whole window, like the guest work rate.
 */
import type { SeriesDef, SeriesValue } from "@ferry/migration";

/** The declared values of one CLI sample. */
export interface DeclaredSample {
  /** Virtual time since the migration started (ns). */
  readonly timeNs: number;
  /** Values by series key (`Migration.sampleSeries()`). */
  readonly declared?: Readonly<Record<string, SeriesValue>>;
}

/** What a row gets: values by key, and per second rates of the counters. */
export interface DeclaredRow {
  readonly declared: Record<string, SeriesValue>;
  readonly declaredRates: Record<string, SeriesValue>;
}

const isCounter = (d: SeriesDef): boolean => d.kind === "counter";

/** One counter's samples that have a value, in time order. */
interface CounterTrack {
  readonly times: readonly number[];
  readonly values: readonly SeriesValue[];
}

function trackOf(samples: readonly DeclaredSample[], key: string): CounterTrack {
  const times: number[] = [];
  const values: SeriesValue[] = [];
  for (const s of samples) {
    const v = s.declared?.[key];
    if (v !== undefined) {
      times.push(s.timeNs);
      values.push(v);
    }
  }
  return { times, values };
}

/** A counter's total at `t`, interpolated linearly between the samples around it. */
function valueAt(track: CounterTrack, t: number): SeriesValue | undefined {
  const { times, values } = track;
  if (times.length === 0) return undefined;
  if (t <= times[0]) return values[0];
  const last = times.length - 1;
  if (t >= times[last]) return values[last];
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) lo = mid;
    else hi = mid;
  }
  const f = (t - times[lo]) / (times[hi] - times[lo]);
  return combine(values[lo], values[hi], (x, y) => x + (y - x) * f);
}

function combine(
  a: SeriesValue,
  b: SeriesValue,
  op: (x: number, y: number) => number,
): SeriesValue {
  if (typeof a === "number" && typeof b === "number") return op(a, b);
  const xs = typeof a === "number" ? [a] : a;
  const ys = typeof b === "number" ? [b] : b;
  return xs.map((x, i) => op(x, ys[i] ?? x));
}

/**
 * Make the join of `samples` (in time order) for `defs`: called per row with `lastIndex`, the
 * last sample at or before the row (-1: none), the row's time `t` and its rate window
 * `[from, from + covered]` (ns).
 */
export function declaredJoin(
  defs: readonly SeriesDef[],
  samples: readonly DeclaredSample[],
): (lastIndex: number, t: number, from: number, covered: number) => DeclaredRow {
  const tracks = new Map<string, CounterTrack>();
  for (const d of defs) if (isCounter(d)) tracks.set(d.key, trackOf(samples, d.key));
  return (lastIndex, t, from, covered) => {
    const declared: Record<string, SeriesValue> = {};
    const declaredRates: Record<string, SeriesValue> = {};
    for (const d of defs) {
      const track = tracks.get(d.key);
      if (track === undefined) {
        const v = lastIndex >= 0 ? samples[lastIndex].declared?.[d.key] : undefined;
        if (v !== undefined) declared[d.key] = v;
        continue;
      }
      const total = valueAt(track, t);
      if (total === undefined) continue;
      declared[d.key] = total;
      const a = valueAt(track, from);
      const b = valueAt(track, from + covered);
      if (a !== undefined && b !== undefined && covered > 0) {
        declaredRates[d.key] = combine(a, b, (x, y) => ((y - x) * 1e9) / covered);
      }
    }
    return { declared, declaredRates };
  };
}
