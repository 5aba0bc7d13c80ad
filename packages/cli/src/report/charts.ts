/**
 * The report's charts: Vega-Lite specs compiled with `vega-lite` and rendered to static SVG by
 * `vega` (headless, `renderer: "none"`), so the HTML report opens offline with no scripts.
 * Five charts over time since the migration started, made to show whether a migration
 * converges: remaining dirty memory (log scale) against the switchover threshold with the dirty
 * syncs and the switchover marked; bytes transferred; dirty rate against bandwidth; the vCPU
 * throttle, or the series the controllers declare (`controller-chart.ts`); guest work rate per
 * vCPU (migrated vs. unmigrated). Several runs (`ferry compare`)
 * are told apart by colour and line style, or drawn as small multiples (one panel per run) where
 * a chart has two measures. Every sample carries an SVG `<title>`: hovering shows its values.
 */
import type * as vegaLite from "vega-lite";
import { type ChartRun, type Measure, points } from "./chart-points";
import { controllerChartSpec } from "./controller-chart";
import { lineChartSpec } from "./line-chart";
import type { ReportSample } from "./series";

export { type ChartRun, MAX_POINTS_PER_LINE, type Point } from "./chart-points";
export { type LineChartOptions, lineChartSpec } from "./line-chart";

/** One rendered chart. */
export interface Chart {
  readonly id: string;
  readonly title: string;
  readonly svg: string;
}

const MIB = 2 ** 20;
/** Log-scale floor of the remaining-memory chart: one page, in MiB. */
const LOG_FLOOR_MIB = 4096 / MIB;

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
    { id: "throttle", spec: controllerChartSpec(runs) },
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
