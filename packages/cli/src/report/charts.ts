/**
 * The report's charts: Vega-Lite specs compiled with `vega-lite` and rendered to static SVG by
 * `vega` (headless, `renderer: "none"`), so the HTML report opens offline with no scripts.
 * Five charts over time since the migration started, made to show whether a migration
 * converges: remaining dirty memory (log scale) against the switchover threshold with the dirty
 * syncs and the switchover marked; bytes transferred; dirty rate against bandwidth; the vCPU
 * throttle; guest work rate per vCPU (migrated vs. unmigrated). Several runs (`ferry compare`)
 * are told apart by colour and line style, or drawn as small multiples (one panel per run) where
 * a chart has two measures. Every sample carries an SVG `<title>`: hovering shows its values.
 */
import type * as vegaLite from "vega-lite";
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
}

/** One rendered chart. */
export interface Chart {
  readonly id: string;
  readonly title: string;
  readonly svg: string;
}

/** Most points drawn per line (longer series are thinned evenly; the CSV keeps every row). */
export const MAX_POINTS_PER_LINE = 1500;

const MIB = 2 ** 20;
/** Log-scale floor of the remaining-memory chart: one page, in MiB. */
const LOG_FLOOR_MIB = 4096 / MIB;

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

interface Measure {
  readonly name: string;
  readonly unit: string;
  readonly value: (s: ReportSample, run: ChartRun) => number;
}

function points(
  runs: readonly ChartRun[],
  measures: readonly Measure[],
  rows: (run: ChartRun) => readonly ReportSample[] = (run) => thin(run.series),
): Point[] {
  const out: Point[] = [];
  for (const run of runs) {
    for (const s of rows(run)) {
      const t = s.timeNs / 1e9;
      for (const m of measures) {
        const y = m.value(s, run);
        const d = `${run.label} · ${s.kind} ${s.iteration} · t=${t.toFixed(3)} s · ${m.name}: ${fmt(y)} ${m.unit}`;
        out.push({ t, y, run: run.label, measure: m.name, d });
      }
    }
  }
  return out;
}

/** Options of {@link lineChartSpec}. */
export interface LineChartOptions {
  readonly title: string;
  /** A line under the title (what the markers mean). */
  readonly subtitle?: string;
  readonly yTitle: string;
  readonly data: readonly Point[];
  /** Several runs: colour and line style by run (one measure) or one panel per run. */
  readonly overlay: boolean;
  readonly stepped?: boolean;
  /** Log scale on y (values must be > 0). */
  readonly logY?: boolean;
  /** Filled markers on these points (e.g. the dirty syncs). */
  readonly marks?: readonly Point[];
  /** Vertical rules (e.g. the switchover) at these times, one per run. */
  readonly rules?: readonly { readonly t: number; readonly run: string; readonly label: string }[];
}

/** The Vega-Lite spec of one line chart (exported for tests and reuse). */
export function lineChartSpec(o: LineChartOptions): vegaLite.TopLevelSpec {
  const measures = new Set(o.data.map((p) => p.measure));
  const facet = o.overlay && measures.size > 1;
  const byRun = o.overlay && !facet;
  const legend = { orient: "bottom" as const, labelLimit: 0, columns: 2, symbolStrokeWidth: 2 };
  const series = byRun
    ? {
        color: { field: "run", type: "nominal" as const, title: "strategy set", legend },
        strokeDash: { field: "run", type: "nominal" as const, title: "strategy set", legend },
      }
    : {
        color: { field: "measure", type: "nominal" as const, title: "series", legend },
        strokeDash: { field: "measure", type: "nominal" as const, title: "series", legend },
      };
  const x = { field: "t", type: "quantitative" as const, title: "time since migration start (s)" };
  const y = {
    field: "y",
    type: "quantitative" as const,
    title: o.yTitle,
    ...(o.logY ? { scale: { type: "log" as const } } : {}),
  };
  const only = (layer: string) => [{ filter: `datum.layer === '${layer}'` }];
  const layers: Record<string, unknown>[] = [
    {
      transform: only("line"),
      mark: { type: "line", interpolate: o.stepped ? "step-after" : "linear", strokeWidth: 1.5 },
      encoding: { x, y, ...series },
    },
    {
      // Invisible hover targets: each becomes an SVG path with a <title> (see renderSvg).
      transform: only("line"),
      mark: { type: "point", opacity: 0, size: 40, aria: true },
      encoding: { x, y, description: { field: "d" } },
    },
  ];
  const marks = o.marks ?? [];
  if (marks.length > 0) {
    layers.push({
      transform: only("mark"),
      mark: { type: "point", filled: true, size: 22, aria: true },
      encoding: {
        x,
        y,
        description: { field: "d" },
        ...(byRun ? { color: series.color } : { color: { value: "#333" } }),
      },
    });
  }
  const rules = (o.rules ?? []).map((r) => ({
    ...r,
    y: 0,
    measure: r.label,
    layer: "rule",
    d: `${r.run} · ${r.label} at ${r.t.toFixed(3)} s`,
  }));
  if (rules.length > 0) {
    layers.push({
      transform: only("rule"),
      mark: { type: "rule", strokeDash: [2, 2], strokeWidth: 1.5, color: "#d62728", aria: true },
      encoding: { x, description: { field: "d" } },
    });
  }
  const values = [
    ...o.data.map((p) => ({ ...p, layer: "line" })),
    ...marks.map((p) => ({ ...p, layer: "mark" })),
    ...rules,
  ];
  const common = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: o.subtitle !== undefined ? { text: o.title, subtitle: o.subtitle } : o.title,
    background: "white",
    config: { font: "sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 } },
    data: { values },
  };
  if (facet) {
    // Small multiples: one panel per run, on a shared y scale.
    return {
      ...common,
      facet: {
        row: {
          field: "run",
          type: "nominal",
          title: null,
          header: { labelOrient: "top", labelAngle: 0, labelAnchor: "start", labelFontSize: 12 },
        },
      },
      spec: { width: 640, height: 150, layer: layers },
      resolve: { scale: { y: "shared" } },
    } as unknown as vegaLite.TopLevelSpec;
  }
  return { ...common, width: 640, height: 220, layer: layers } as unknown as vegaLite.TopLevelSpec;
}

/**
 * Render a Vega-Lite spec to a static SVG string. Every mark with a description (`aria-label`)
 * gets it as an SVG `<title>` too, which browsers show as a tooltip on hover, with no script.
 * vega and vega-lite are imported here, on first use, so commands that write no report (and
 * `--help`) do not pay for loading them.
 */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return withTitles(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/** Give each self-closing SVG element that has an `aria-label` a `<title>` with that text. */
export function withTitles(svg: string): string {
  return svg.replace(
    /<(path|line)([^>]*?)\saria-label="([^"]*)"([^>]*?)\/>/g,
    (_all, tag: string, before: string, label: string, after: string) =>
      `<${tag}${before} aria-label="${label}"${after}><title>${label}</title></${tag}>`,
  );
}

/** Where the switchover happened (ns since the start), from query-migrate's times. */
export function switchoverNsOf(
  totalTimeMs: number | undefined,
  downtimeMs: number | undefined,
): number | undefined {
  if (totalTimeMs === undefined || downtimeMs === undefined) return undefined;
  return Math.max(0, totalTimeMs - downtimeMs) * 1e6;
}

/**
 * The report's chart specs for `runs` (`workUnit`: `instructions` or `operations`), in order:
 * `remaining`, `transferred`, `rates`, `throttle`, `work`.
 */
export function chartSpecs(
  runs: readonly ChartRun[],
  workUnit: string,
): { id: string; spec: vegaLite.TopLevelSpec }[] {
  const overlay = runs.length > 1;
  let maxWork = 0;
  for (const r of runs) {
    const n = r.vcpus ?? 1;
    for (const s of r.series) {
      maxWork = Math.max(maxWork, s.guestWorkRate / n, s.referenceWorkRate / n);
    }
  }
  const [workScale, workPrefix] =
    maxWork >= 1e6 ? [1e6, "million "] : maxWork >= 1e3 ? [1e3, "thousand "] : [1, ""];
  const workUnitText = `${workPrefix}${workUnit}/s per vCPU`;
  const threshold = (s: ReportSample, run: ChartRun): number =>
    Math.max(LOG_FLOOR_MIB, (s.transferRate * (run.downtimeLimitMs ?? 0)) / 1000 / MIB);
  const remainingMeasures: Measure[] = [
    {
      name: "remaining",
      unit: "MiB",
      value: (s) => Math.max(LOG_FLOOR_MIB, s.remainingBytes / MIB),
    },
  ];
  if (runs.some((r) => r.downtimeLimitMs !== undefined)) {
    remainingMeasures.push({
      name: "switchover threshold (bandwidth × downtime-limit)",
      unit: "MiB",
      value: threshold,
    });
  }
  const syncMarks = points(
    runs,
    [
      {
        name: "dirty sync",
        unit: "MiB",
        value: (s) => Math.max(LOG_FLOOR_MIB, s.remainingBytes / MIB),
      },
    ],
    (run) => run.series.filter((s) => s.kind === "sync"),
  );
  const rules = runs.flatMap((r) =>
    r.switchoverNs === undefined
      ? []
      : [{ t: r.switchoverNs / 1e9, run: r.label, label: "switchover" }],
  );
  return [
    {
      id: "remaining",
      spec: lineChartSpec({
        title: "Remaining dirty memory vs. the switchover threshold (log scale)",
        subtitle:
          "dots: dirty-log syncs (one per pass) · red dashed line: switchover · " +
          "threshold: measured bandwidth × downtime-limit",
        yTitle: "remaining dirty memory (MiB)",
        overlay,
        logY: true,
        data: points(runs, remainingMeasures),
        marks: syncMarks,
        rules,
      }),
    },
    {
      id: "transferred",
      spec: lineChartSpec({
        title: "Bytes transferred",
        subtitle: "stream bytes sent since the start · red dashed line: switchover",
        yTitle: "transferred (MiB)",
        overlay,
        data: points(runs, [
          { name: "transferred", unit: "MiB", value: (s) => s.transferredBytes / MIB },
        ]),
        rules,
      }),
    },
    {
      id: "rates",
      spec: lineChartSpec({
        title: "Dirty rate vs. bandwidth",
        yTitle: "rate (MiB/s)",
        overlay,
        data: points(runs, [
          { name: "dirty rate", unit: "MiB/s", value: (s) => s.dirtyBytesPerSec / MIB },
          { name: "bandwidth (transfer rate)", unit: "MiB/s", value: (s) => s.transferRate / MIB },
        ]),
      }),
    },
    {
      id: "throttle",
      spec: lineChartSpec({
        title: "vCPU throttle",
        yTitle: "cpu-throttle-percentage (%)",
        overlay,
        stepped: true,
        data: points(runs, [{ name: "throttle", unit: "%", value: (s) => s.throttlePercent }]),
      }),
    },
    {
      id: "work",
      spec: lineChartSpec({
        title: "Guest work rate per vCPU",
        yTitle: `${workPrefix}${workUnit}/s per vCPU`,
        overlay,
        data: points(runs, [
          {
            name: "migrated guest",
            unit: workUnitText,
            value: (s, r) => s.guestWorkRate / (r.vcpus ?? 1) / workScale,
          },
          {
            name: "unmigrated twin",
            unit: workUnitText,
            value: (s, r) => s.referenceWorkRate / (r.vcpus ?? 1) / workScale,
          },
        ]),
      }),
    },
  ];
}

/** Render the report's charts ({@link chartSpecs}) to SVG. */
export async function renderCharts(runs: readonly ChartRun[], workUnit: string): Promise<Chart[]> {
  const out: Chart[] = [];
  for (const { id, spec } of chartSpecs(runs, workUnit)) {
    const t = spec.title;
    const title =
      t !== undefined && typeof t === "object" && !Array.isArray(t) && "text" in t
        ? String(t.text)
        : String(t);
    out.push({ id, title, svg: await renderSvg(spec) });
  }
  return out;
}
