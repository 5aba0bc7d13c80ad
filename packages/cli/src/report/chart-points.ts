/** The runs a chart draws and the points it plots from their rows. */
import type { SeriesDef } from "@ferry/migration";
import type { ReportSample } from "./series";

/** A run to chart. */
export interface ChartRun {
  /** Strategy set or run name (the legend entry). */
  readonly label: string;
  readonly series: readonly ReportSample[];
  /** vCPUs of the machine (work is charted per vCPU); default 1. */
  readonly vcpus?: number;
  /** `downtime-limit` (ms): the threshold line is measured bandwidth × this; none when absent. */
  readonly downtimeLimitMs?: number;
  /** Virtual time of the switchover since the migration started (ns); none when absent. */
  readonly switchoverNs?: number;
  /** Series the run's plugins declare (drawn on the controller chart); none when absent. */
  readonly declaredSeries?: readonly SeriesDef[];
}

/** Most points drawn per line (longer series are thinned evenly; the CSV keeps every row). */
export const MAX_POINTS_PER_LINE = 1500;

/** One plotted value. */
export interface Point {
  readonly t: number;
  readonly y: number;
  readonly run: string;
  readonly measure: string;
  /** Hover text (the SVG `<title>` of the sample's marker). */
  readonly d: string;
}

function thin<T>(rows: readonly T[]): readonly T[] {
  if (rows.length <= MAX_POINTS_PER_LINE) return rows;
  const step = rows.length / MAX_POINTS_PER_LINE;
  const out: T[] = [];
  for (let i = 0; i < MAX_POINTS_PER_LINE; i++) out.push(rows[Math.floor(i * step)]);
  out.push(rows[rows.length - 1]);
  return out;
}

const fmt = (v: number): string =>
  Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);

/** One line of a chart: its legend name, unit (hover text) and value per row. */
export interface Measure {
  readonly name: string;
  readonly unit: string;
  /** The value at a row; undefined: no point there (the series has no value yet). */
  readonly value: (s: ReportSample, run: ChartRun) => number | undefined;
  /** Only for these runs (default: every run). */
  readonly runs?: readonly string[];
}

/** The points of `measures` for every run (rows thinned to {@link MAX_POINTS_PER_LINE}). */
export function points(
  runs: readonly ChartRun[],
  measures: readonly Measure[],
  rows: (run: ChartRun) => readonly ReportSample[] = (run) => thin(run.series),
): Point[] {
  const out: Point[] = [];
  for (const run of runs) {
    const own = measures.filter((m) => m.runs === undefined || m.runs.includes(run.label));
    for (const s of rows(run)) {
      const t = s.timeNs / 1e9;
      for (const m of own) {
        const y = m.value(s, run);
        if (y === undefined) continue;
        const d = `${run.label} · ${s.kind} ${s.iteration} · t=${t.toFixed(3)} s · ${m.name}: ${fmt(y)} ${m.unit}`;
        out.push({ t, y, run: run.label, measure: m.name, d });
      }
    }
  }
  return out;
}
