/**
 * `--report <dir>`: write `report.json` (the whole `--json` document), `series.csv` (every
 * time-series sample of every run) and `report.html` (summary, charts as inline SVG, details).
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compareColumns } from "../compare/format";
import type { CompareReport } from "../compare/run-compare";
import type { MigrateReport } from "../migrate/run-migration";
import { ensureDirectory } from "../output/check-writable";
import { type ChartRun, renderCharts, switchoverNsOf } from "./charts";
import { seriesCsv } from "./csv";
import { type HtmlRun, reportHtml } from "./html";

/** Paths of the files a report consists of. */
export interface ReportFiles {
  readonly dir: string;
  readonly json: string;
  readonly csv: string;
  readonly html: string;
}

function files(dir: string): ReportFiles {
  const d = resolve(dir);
  return {
    dir: d,
    json: join(d, "report.json"),
    csv: join(d, "series.csv"),
    html: join(d, "report.html"),
  };
}

function fmtMs(v: number | undefined | null): string {
  return v === undefined || v === null ? "-" : `${v} ms`;
}

function fmtMiB(v: number | undefined | null): string {
  return v === undefined || v === null ? "-" : `${(v / 2 ** 20).toFixed(1)} MiB`;
}

function workUnitOf(runs: readonly HtmlRun[]): string {
  return runs.find((r) => r.report?.workLost)?.report?.workLost?.unit ?? "operations";
}

/** What the charts need of one run's report. */
function chartRunOf(label: string, report: MigrateReport): ChartRun {
  const limit = report.parameters["downtime-limit"];
  const switchoverNs =
    report.status === "completed"
      ? switchoverNsOf(report.stats?.["total-time"], report.stats?.downtime)
      : undefined;
  return {
    label,
    series: report.series,
    vcpus: report.vcpus,
    ...(report.declaredSeries.length > 0 ? { declaredSeries: report.declaredSeries } : {}),
    ...(typeof limit === "number" ? { downtimeLimitMs: limit } : {}),
    ...(switchoverNs !== undefined ? { switchoverNs } : {}),
  };
}

async function write(
  f: ReportFiles,
  document: object,
  runs: readonly HtmlRun[],
  title: string,
  description: string | undefined,
  table: { header: string[]; rows: string[][] },
): Promise<ReportFiles> {
  ensureDirectory(f.dir, "report directory");
  const chartRuns: ChartRun[] = runs
    .filter((r) => r.report !== null)
    .map((r) => chartRunOf(r.label, r.report!));
  const charts = await renderCharts(chartRuns, workUnitOf(runs));
  writeFileSync(f.json, `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(f.csv, seriesCsv(chartRuns));
  writeFileSync(f.html, reportHtml({ title, description, table, charts, runs }));
  return f;
}

/** Write the report of one `ferry migrate` run into `dir` (created if needed). */
export async function writeMigrateReport(
  dir: string,
  name: string,
  report: MigrateReport,
  description?: string,
): Promise<ReportFiles> {
  const s = report.stats;
  const w = report.workLost;
  const table = {
    header: [
      "run",
      "status",
      "total time",
      "downtime",
      "transferred",
      "iterations",
      "guest work lost",
    ],
    rows: [
      [
        name,
        report.status,
        fmtMs(s?.["total-time"]),
        fmtMs(s?.downtime),
        fmtMiB(s?.ram?.transferred),
        String(s?.ram?.["dirty-sync-count"] ?? "-"),
        w === null ? "-" : `${w.lost} ${w.unit} (${(w.lostShare * 100).toFixed(1)}%)`,
      ],
    ],
  };
  return write(
    files(dir),
    report,
    [{ label: name, report }],
    `ferry migrate: ${name}`,
    description,
    table,
  );
}

/** Write the report of a `ferry compare` into `dir` (created if needed). */
export async function writeCompareReport(
  dir: string,
  report: CompareReport,
  description?: string,
): Promise<ReportFiles> {
  const columns = compareColumns(report.rows);
  const table = {
    header: ["strategy set", ...columns.map((c) => c.header)],
    rows: report.rows.map((r) => [r.strategy, ...columns.map((c) => c.cell(r))]),
  };
  return write(
    files(dir),
    report,
    report.runs.map((r) => ({ label: r.strategy.label, report: r.report })),
    `ferry compare: ${report.config}`,
    description,
    table,
  );
}
