/** Text output of `ferry compare`: the comparison table. */
import type { CompareReport, CompareRow } from "./run-compare";

function ms(v: number | null): string {
  return v === null ? "-" : `${v} ms`;
}

function mib(v: number | null): string {
  return v === null ? "-" : `${(v / 2 ** 20).toFixed(1)} MiB`;
}

function lost(r: CompareRow): string {
  if (r.workLost === null || r.workLostShare === null) return "-";
  return `${r.workLost} (${(r.workLostShare * 100).toFixed(1)}%)`;
}

/** The comparison table, one line per strategy set (plain text, aligned columns). */
export function formatCompareTable(report: CompareReport): string {
  const header = [
    "strategy",
    "status",
    "total time",
    "downtime",
    "transferred",
    "iterations",
    "max throttle",
    "guest work lost",
  ];
  const lines = report.rows.map((r) => [
    r.strategy,
    r.status,
    ms(r.totalTimeMs),
    ms(r.downtimeMs),
    mib(r.transferredBytes),
    r.iterations === null ? "-" : String(r.iterations),
    r.maxThrottlePercent === null ? "-" : `${r.maxThrottlePercent}%`,
    lost(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  const unit = report.runs.find((r) => r.report?.workLost)?.report?.workLost?.unit ?? "operations";
  const notes = [
    `  guest work lost: ${unit} the unmigrated twin did and the migrated guest did not, over the migration`,
    ...report.rows
      .filter((r) => r.message !== undefined)
      .map((r) => `  ${r.strategy}: ${r.message}`),
  ];
  return [
    fmt(header),
    fmt(widths.map((w) => "-".repeat(w))),
    ...lines.map(fmt),
    "",
    "notes:",
    ...notes,
    "",
  ].join("\n");
}
