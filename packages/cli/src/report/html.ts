/**
 * `report.html`: a self-contained page (inline CSS and SVG, no scripts, no external fonts or
 * images) with a summary table, the charts and each run's details.
 */
import { formatInfoMigrate } from "@ferry/migration";
import type { MigrateReport } from "../migrate/run-migration";
import type { Chart } from "./charts";

/** Escape text for HTML. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** One run shown in the page. */
export interface HtmlRun {
  readonly label: string;
  readonly report: MigrateReport | null;
}

/** What {@link reportHtml} renders. */
export interface HtmlReportInput {
  readonly title: string;
  readonly description?: string;
  /** Summary table: header cells and rows of cells (plain text). */
  readonly table: { readonly header: readonly string[]; readonly rows: readonly string[][] };
  readonly charts: readonly Chart[];
  readonly runs: readonly HtmlRun[];
}

const STYLE = `
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
th { background: #eee; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1.5em 0; } figcaption { font-weight: bold; margin-bottom: 0.3em; }
.ok { color: #060; } .bad { color: #a00; }
`;

function table(header: readonly string[], rows: readonly string[][]): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${i === 1 ? ' class="text"' : ""}>${escapeHtml(c)}</td>`).join("")}</tr>`,
    )
    .join("\n");
  return `<table>\n${head}\n${body}\n</table>`;
}

/** The series the run's plugins declare (key, label, unit), or nothing. */
function declaredOf(r: MigrateReport): string {
  const defs = r.declaredSeries ?? [];
  if (defs.length === 0) return "";
  const list = defs
    .map((d) => `${d.key} (${d.label}, ${d.unit}${d.perVcpu === true ? ", per vCPU" : ""})`)
    .join(", ");
  return `<p>Declared series (controller chart): <code>${escapeHtml(list)}</code></p>`;
}

function runDetails(run: HtmlRun): string {
  const r = run.report;
  const title = `<h3>${escapeHtml(run.label)}</h3>`;
  if (r === null) return `${title}<p>Not run (interrupted before it started).</p>`;
  const status = r.exitCode === 0 ? "ok" : "bad";
  const caps = Object.entries(r.capabilities)
    .map(([k, v]) => `${k}=${v ? "on" : "off"}`)
    .join(" ");
  const params = Object.entries(r.parameters)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
  const w = r.workLost;
  const lost =
    w === null
      ? "n/a"
      : `${w.lost} ${w.unit} (${(w.lostShare * 100).toFixed(2)}% of the ${w.reference} the unmigrated twin did from ${(w.spanStartNs / 1e9).toFixed(3)} s to ${(w.spanEndNs / 1e9).toFixed(3)} s)`;
  const v = r.verification;
  return [
    title,
    `<p>Status: <span class="${status}">${escapeHtml(r.status)}</span> (exit ${r.exitCode})${r.message !== undefined ? ` — ${escapeHtml(r.message)}` : ""}</p>`,
    `<p>Guest work lost: ${escapeHtml(lost)}</p>`,
    `<p>Verified: ${v.verified ? "yes" : "no"} (RAM ${String(v.ramEqual)}, state ${String(v.stateEqual)}, output ${String(v.outputEqual)}, exit ${String(v.exitEqual)})</p>`,
    `<p>Capabilities: <code>${escapeHtml(caps || "(none)")}</code></p>`,
    `<p>Parameters: <code>${escapeHtml(params)}</code></p>`,
    declaredOf(r),
    r.stats !== null ? `<pre>${escapeHtml(formatInfoMigrate(r.stats))}</pre>` : "",
  ].join("\n");
}

/** Render the report page. */
export function reportHtml(input: HtmlReportInput): string {
  const charts = input.charts
    .map(
      (c) =>
        `<figure id="chart-${escapeHtml(c.id)}">\n<figcaption>${escapeHtml(c.title)}</figcaption>\n${c.svg}\n</figure>`,
    )
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(input.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
${input.description !== undefined ? `<p>${escapeHtml(input.description)}</p>` : ""}
<h2>Summary</h2>
${table(input.table.header, input.table.rows)}
<p>Time series: <code>series.csv</code>; everything: <code>report.json</code> (same directory).
Times are virtual (simulated) time since the migration started.</p>
<h2>Charts</h2>
${charts}
<h2>Runs</h2>
${input.runs.map(runDetails).join("\n")}
</body>
</html>
`;
}
