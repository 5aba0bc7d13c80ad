/**
 * The report's charts: Vega-Lite specs compiled with `vega-lite` and rendered to static SVG by
 * `vega` (headless, `renderer: "none"`), so the HTML report opens offline with no scripts.
 * Four line charts over time since the migration started: remaining dirty memory, dirty rate
 * vs. transfer rate, vCPU throttle, guest work rate (migrated vs. unmigrated). With several runs
 * (`ferry compare`) the runs are overlaid, coloured by strategy set.
 */
import type * as vegaLite from "vega-lite";
import type { ReportSample } from "./series";

/** A run to chart. */
export interface ChartRun {
  /** Strategy set or run name (the legend entry). */
  readonly label: string;
  readonly series: readonly ReportSample[];
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

interface Point {
  readonly t: number;
  readonly y: number;
  readonly run: string;
  readonly measure: string;
}

function thin<T>(rows: readonly T[]): readonly T[] {
  if (rows.length <= MAX_POINTS_PER_LINE) return rows;
  const step = rows.length / MAX_POINTS_PER_LINE;
  const out: T[] = [];
  for (let i = 0; i < MAX_POINTS_PER_LINE; i++) out.push(rows[Math.floor(i * step)]);
  out.push(rows[rows.length - 1]);
  return out;
}

function points(
  runs: readonly ChartRun[],
  measures: readonly { name: string; value: (s: ReportSample) => number }[],
): Point[] {
  const out: Point[] = [];
  for (const run of runs) {
    for (const s of thin(run.series)) {
      for (const m of measures) {
        out.push({ t: s.timeNs / 1e9, y: m.value(s), run: run.label, measure: m.name });
      }
    }
  }
  return out;
}

/** The Vega-Lite spec of one line chart (exported for tests and reuse). */
export function lineChartSpec(options: {
  readonly title: string;
  readonly yTitle: string;
  readonly data: readonly Point[];
  /** Several runs: colour by run, dash by measure; one run: colour by measure. */
  readonly overlay: boolean;
  readonly stepped?: boolean;
}): vegaLite.TopLevelSpec {
  const byRun = options.overlay;
  const measures = new Set(options.data.map((p) => p.measure));
  const color = byRun
    ? { field: "run", type: "nominal" as const, title: "strategy set" }
    : { field: "measure", type: "nominal" as const, title: "series" };
  const dash =
    byRun && measures.size > 1
      ? {
          strokeDash: {
            field: "measure",
            type: "nominal" as const,
            title: "series",
            legend: { orient: "right" as const, labelLimit: 360 },
          },
        }
      : {};
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title,
    width: 640,
    height: 200,
    background: "white",
    data: { values: options.data.map((p) => ({ ...p })) },
    mark: {
      type: "line",
      interpolate: options.stepped ? "step-after" : "linear",
      strokeWidth: 1.5,
    },
    encoding: {
      x: { field: "t", type: "quantitative", title: "time since migration start (s)" },
      y: { field: "y", type: "quantitative", title: options.yTitle },
      color: { ...color, legend: { orient: "right", labelLimit: 360 } },
      ...dash,
    },
    config: { font: "sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 } },
  };
}

/**
 * Render a Vega-Lite spec to a static SVG string. vega and vega-lite are imported here, on first
 * use, so commands that write no report (and `--help`) do not pay for loading them.
 */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * The report's four charts for `runs` (`workUnit`: `instructions` or `operations`). Runs are
 * overlaid when there are several.
 */
export async function renderCharts(runs: readonly ChartRun[], workUnit: string): Promise<Chart[]> {
  const overlay = runs.length > 1;
  let maxWork = 0;
  for (const r of runs) {
    for (const s of r.series) maxWork = Math.max(maxWork, s.guestWorkRate, s.referenceWorkRate);
  }
  const [workScale, workPrefix] =
    maxWork >= 1e6 ? [1e6, "million "] : maxWork >= 1e3 ? [1e3, "thousand "] : [1, ""];
  const specs: { id: string; spec: vegaLite.TopLevelSpec }[] = [
    {
      id: "remaining",
      spec: lineChartSpec({
        title: "Remaining dirty memory",
        yTitle: "remaining dirty memory (MiB)",
        overlay,
        data: points(runs, [{ name: "remaining", value: (s) => s.remainingBytes / MIB }]),
      }),
    },
    {
      id: "rates",
      spec: lineChartSpec({
        title: "Dirty rate vs. transfer rate",
        yTitle: "rate (MiB/s)",
        overlay,
        data: points(runs, [
          { name: "dirty rate", value: (s) => s.dirtyBytesPerSec / MIB },
          { name: "transfer rate", value: (s) => s.transferRate / MIB },
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
        data: points(runs, [{ name: "throttle", value: (s) => s.throttlePercent }]),
      }),
    },
    {
      id: "work",
      spec: lineChartSpec({
        title: "Guest work rate",
        yTitle: `guest work rate (${workPrefix}${workUnit}/s)`,
        overlay,
        data: points(runs, [
          { name: "migrated guest", value: (s) => s.guestWorkRate / workScale },
          { name: "unmigrated twin", value: (s) => s.referenceWorkRate / workScale },
        ]),
      }),
    },
  ];
  const out: Chart[] = [];
  for (const { id, spec } of specs) {
    out.push({ id, title: String(spec.title), svg: await renderSvg(spec) });
  }
  return out;
}
