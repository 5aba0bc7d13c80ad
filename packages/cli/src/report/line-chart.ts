/** One Vega-Lite line chart: lines over time, hover targets, markers and rules. */
import type * as vegaLite from "vega-lite";
import type { Point } from "./chart-points";

/** Options of {@link lineChartSpec}. */
export interface LineChartOptions {
  readonly title: string;
  /** A line under the title (what the markers mean). */
  readonly subtitle?: string;
  readonly yTitle: string;
  readonly data: readonly Point[];
  /** Several runs: colour and line style by run (one measure) or one panel per run. */
  readonly overlay: boolean;
  /**
   * Several runs and several measures: one panel per run (`panels`, the default), or one panel
   * with colour by measure and line style by run (`dash`).
   */
  readonly multiRun?: "panels" | "dash";
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
  const several = o.overlay && measures.size > 1;
  const facet = several && o.multiRun !== "dash";
  const dashByRun = several && o.multiRun === "dash";
  const byRun = o.overlay && !several;
  const legend = { orient: "bottom" as const, labelLimit: 0, columns: 2, symbolStrokeWidth: 2 };
  const series = byRun
    ? {
        color: { field: "run", type: "nominal" as const, title: "strategy set", legend },
        strokeDash: { field: "run", type: "nominal" as const, title: "strategy set", legend },
      }
    : dashByRun
      ? {
          color: { field: "measure", type: "nominal" as const, title: "series", legend },
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
