/** `series.csv`: one row per time-series sample of every run of a report. */
import type { ReportSample } from "./series";

/** The CSV columns, in order (units in the names). */
export const CSV_COLUMNS = [
  "run",
  "kind",
  "time_s",
  "iteration",
  "remaining_bytes",
  "dirty_rate_pages_per_s",
  "dirty_rate_bytes_per_s",
  "transfer_rate_bytes_per_s",
  "throttle_percent",
  "guest_work_rate_per_s",
  "reference_work_rate_per_s",
  "guest_work",
  "reference_work",
  "rate_window_s",
] as const;

function cell(v: string | number): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(6)));
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** Render the series of each run (`run` = its label) as CSV with a header line. */
export function seriesCsv(
  runs: readonly { readonly label: string; readonly series: readonly ReportSample[] }[],
): string {
  const lines: string[] = [CSV_COLUMNS.join(",")];
  for (const run of runs) {
    for (const s of run.series) {
      lines.push(
        [
          run.label,
          s.kind,
          s.timeNs / 1e9,
          s.iteration,
          s.remainingBytes,
          s.dirtyRate,
          s.dirtyBytesPerSec,
          s.transferRate,
          s.throttlePercent,
          s.guestWorkRate,
          s.referenceWorkRate,
          s.guestWork,
          s.referenceWork,
          s.rateWindowNs / 1e9,
        ]
          .map(cell)
          .join(","),
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
