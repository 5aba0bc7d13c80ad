/** Text output of `ferry compare`: the comparison table (also the HTML report's summary). */
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

/** A latency in ns as ns, µs or ms (3 significant figures at most). */
export function formatLatencyNs(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${Number((ns / 1e3).toPrecision(3))} µs`;
  return `${Number((ns / 1e6).toPrecision(3))} ms`;
}

function latency(r: CompareRow): string {
  const mean = r.faultLatencyMeanNs;
  const p99 = r.faultLatencyP99Ns;
  if (mean === null && p99 === null) return "-";
  const f = (v: number | null): string => (v === null ? "-" : formatLatencyNs(v));
  return `${f(mean)} / ${f(p99)}`;
}

/** One column of the comparison table after the strategy column. */
export interface CompareColumn {
  readonly header: string;
  cell(r: CompareRow): string;
}

/**
 * The table's columns after the strategy: status, total time, downtime, transferred, iterations,
 * max throttle, guest work lost, and — when any row has them — the post-copy page-fault latency
 * (mean / p99) and the bytes sent over multifd channels.
 */
export function compareColumns(rows: readonly CompareRow[]): CompareColumn[] {
  const columns: CompareColumn[] = [
    { header: "status", cell: (r) => r.status },
    { header: "total time", cell: (r) => ms(r.totalTimeMs) },
    { header: "downtime", cell: (r) => ms(r.downtimeMs) },
    { header: "transferred", cell: (r) => mib(r.transferredBytes) },
    {
      header: "iterations",
      cell: (r) => (r.iterations === null ? "-" : String(r.iterations)),
    },
    {
      header: "max throttle",
      cell: (r) => (r.maxThrottlePercent === null ? "-" : `${r.maxThrottlePercent}%`),
    },
    { header: "guest work lost", cell: lost },
  ];
  if (rows.some((r) => r.faultLatencyMeanNs !== null || r.faultLatencyP99Ns !== null)) {
    columns.push({ header: "fault latency (mean / p99)", cell: latency });
  }
  if (rows.some((r) => r.multifdBytes !== null)) {
    columns.push({ header: "multifd", cell: (r) => mib(r.multifdBytes) });
  }
  return columns;
}

/** The comparison table, one line per strategy set (plain text, aligned columns). */
export function formatCompareTable(report: CompareReport): string {
  const columns = compareColumns(report.rows);
  const header = ["strategy", ...columns.map((c) => c.header)];
  const lines = report.rows.map((r) => [r.strategy, ...columns.map((c) => c.cell(r))]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  const unit = report.runs.find((r) => r.report?.workLost)?.report?.workLost?.unit ?? "operations";
  const notes = [
    `  guest work lost: ${unit} the unmigrated twin did and the migrated guest did not, over the migration`,
    ...(columns.some((c) => c.header.startsWith("fault latency"))
      ? [
          "  fault latency: post-copy page faults, from the vCPU's fault to the page landing (mean / p99)",
        ]
      : []),
    ...(columns.some((c) => c.header === "multifd")
      ? ["  multifd: bytes sent over the multifd channels (ram.multifd-bytes)"]
      : []),
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
