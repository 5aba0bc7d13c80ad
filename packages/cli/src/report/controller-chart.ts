/**
 * The report's controller chart. Without declared series it is the vCPU throttle
 * (`cpu-throttle-percentage`, a step line per run). When plugins declare series (`SeriesDef`,
 * e.g. auto-converge's throttle, rate-converge's throttle and measured rates, per-vCPU dirty
 * limits) it draws every declared key: one line per key (per vCPU for `perVcpu` series; a
 * counter as its rate per second), one panel per unit and scale stacked in one figure. Runs are
 * told apart like on the other charts (colour and dash per run, or one small multiple per run when
 * a panel has several lines); a run that declares nothing contributes its throttle (0 without one)
 * to the `%` panel as a baseline.
 */
import type { SeriesDef, SeriesScale } from "@ferry/migration";
import type * as vegaLite from "vega-lite";
import { type ChartRun, type Measure, points } from "./chart-points";
import { displayUnit } from "./declared-units";
import { lineChartSpec } from "./line-chart";
import type { ReportSample } from "./series";

/** QEMU's throttle field: the key auto-converge declares, and the legacy chart's y title. */
const THROTTLE_KEY = "cpu-throttle-percentage";

interface Panel {
  readonly unit: string;
  readonly scale: SeriesScale;
  stepped: boolean;
  readonly keys: Set<string>;
  readonly labels: string[];
  readonly measures: Measure[];
}

function legacy(runs: readonly ChartRun[]): vegaLite.TopLevelSpec {
  return lineChartSpec({
    title: "vCPU throttle",
    yTitle: "cpu-throttle-percentage (%)",
    overlay: runs.length > 1,
    stepped: true,
    data: points(runs, [{ name: "throttle", unit: "%", value: (s) => s.throttlePercent }]),
  });
}

/** The value a row shows for `def` (a counter's rate), in the declared unit. */
function rowValue(s: ReportSample, def: SeriesDef): number | readonly number[] | undefined {
  return def.kind === "counter" ? s.declaredRates?.[def.key] : s.declared?.[def.key];
}

function vcpuCount(run: ChartRun, def: SeriesDef): number {
  let n = 0;
  for (const s of run.series) {
    const v = rowValue(s, def);
    if (Array.isArray(v)) n = Math.max(n, v.length);
  }
  return n;
}

function measuresOf(run: ChartRun, def: SeriesDef, unit: string, divisor: number): Measure[] {
  const log = def.scale === "log";
  const shown = (v: number | undefined): number | undefined =>
    v === undefined || (log && !(v > 0)) ? undefined : v / divisor;
  const runs = [run.label];
  if (def.perVcpu !== true) {
    return [
      {
        name: def.label,
        unit,
        runs,
        value: (s) => {
          const v = rowValue(s, def);
          return shown(typeof v === "number" ? v : undefined);
        },
      },
    ];
  }
  return Array.from({ length: vcpuCount(run, def) }, (_, i) => ({
    name: `${def.label} vCPU ${i}`,
    unit,
    runs,
    value: (s: ReportSample) => {
      const v = rowValue(s, def);
      return shown(Array.isArray(v) ? (v as readonly number[])[i] : undefined);
    },
  }));
}

function panelsOf(runs: readonly ChartRun[]): Panel[] {
  const panels = new Map<string, Panel>();
  for (const run of runs) {
    for (const def of run.declaredSeries ?? []) {
      const shown = displayUnit(def.unit);
      const counter = def.kind === "counter";
      const unit = counter ? `${shown.unit}/s` : shown.unit;
      const scale = def.scale ?? "linear";
      const id = `${scale}|${unit}`;
      let panel = panels.get(id);
      if (panel === undefined) {
        panel = { unit, scale, stepped: true, keys: new Set(), labels: [], measures: [] };
        panels.set(id, panel);
      }
      if (counter) panel.stepped = false;
      panel.keys.add(def.key);
      if (!panel.labels.includes(def.label)) panel.labels.push(def.label);
      panel.measures.push(...measuresOf(run, def, unit, shown.divisor));
    }
  }
  return [...panels.values()];
}

function yTitleOf(p: Panel): string {
  if (p.keys.size === 1 && p.keys.has(THROTTLE_KEY)) return `${THROTTLE_KEY} (%)`;
  return p.labels.length === 1 ? `${p.labels[0]} (${p.unit})` : `value (${p.unit})`;
}

/** The controller chart's spec for `runs` (see the module comment). */
export function controllerChartSpec(runs: readonly ChartRun[]): vegaLite.TopLevelSpec {
  const declaring = runs.filter((r) => (r.declaredSeries ?? []).length > 0);
  if (declaring.length === 0) return legacy(runs);
  const panels = panelsOf(declaring);
  const silent = runs.filter((r) => !declaring.includes(r)).map((r) => r.label);
  const percent = panels.find((p) => p.unit === "%");
  if (silent.length > 0 && percent !== undefined) {
    percent.keys.add(THROTTLE_KEY);
    if (!percent.labels.includes("throttle")) percent.labels.push("throttle");
    percent.measures.push({
      name: "throttle",
      unit: "%",
      runs: silent,
      value: (s) => s.throttlePercent,
    });
  }
  const overlay = runs.length > 1;
  const onlyThrottle =
    panels.length === 1 && percent !== undefined && percent.labels.every((l) => l === "throttle");
  const title = onlyThrottle ? "vCPU throttle" : "Convergence controller series";
  const subtitle = onlyThrottle
    ? undefined
    : `declared by the active plugins: ${[...new Set(panels.flatMap((p) => [...p.keys]))].join(", ")}`;
  const specs = panels.map((p) =>
    lineChartSpec({
      title,
      ...(subtitle !== undefined ? { subtitle } : {}),
      yTitle: yTitleOf(p),
      overlay,
      multiRun: "dash",
      stepped: p.stepped,
      logY: p.scale === "log",
      data: points(runs, p.measures),
    }),
  );
  if (specs.length === 1) return specs[0];
  // Several units: one panel each, stacked, each with its own y axis and legend.
  const first = specs[0] as unknown as Record<string, unknown>;
  const inner = specs.map((spec) => {
    const {
      $schema: _s,
      title: _t,
      background: _b,
      config: _c,
      ...rest
    } = spec as unknown as Record<string, unknown>;
    return rest;
  });
  return {
    $schema: first.$schema,
    title: first.title,
    background: first.background,
    config: first.config,
    vconcat: inner,
    spacing: 30,
    resolve: {
      scale: { x: "shared", color: "independent", strokeDash: "independent", y: "independent" },
      legend: { color: "independent", strokeDash: "independent" },
    },
  } as unknown as vegaLite.TopLevelSpec;
}
