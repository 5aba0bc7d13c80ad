/**
 * `ferry compare` columns for the strategies after 2013: the post-copy page-fault latency (mean /
 * p99, from query-migrate's `postcopy-latency` and `x-postcopy-latency-p99`, ns) and multifd
 * bytes (`ram.multifd-bytes`) appear when a run reports them — in the text table, the JSON rows
 * and the HTML summary — and stay out of tables where no run does. The info objects carrying
 * them are made by hand here (the post-copy and multifd plugins emit these names).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MigrationInfo } from "@ferry/migration";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CompareReport,
  compareRowOf,
  faultLatencyOf,
  formatCompareTable,
  formatLatencyNs,
  loadConfig,
  type MigrateReport,
  multifdBytesOf,
  parseStrategySet,
  runMigration,
  writeCompareReport,
} from "../src/index";

const CONFIG = fileURLToPath(
  new URL("../../../examples/configs/workload-small.yaml", import.meta.url),
);
const MiB = 2 ** 20;

/** A completed run's report with `extra` merged into its query-migrate info (and `ram`). */
function withInfo(
  base: MigrateReport,
  extra: Record<string, unknown>,
  ram: Record<string, unknown> = {},
): MigrateReport {
  const stats = base.stats!;
  return {
    ...base,
    stats: { ...stats, ...extra, ram: { ...stats.ram!, ...ram } } as MigrationInfo,
  };
}

function compareOf(rows: [string, MigrateReport][]): CompareReport {
  const runs = rows.map(([label, report]) => ({
    strategy: parseStrategySet(label),
    capabilities: {},
    report,
  }));
  return {
    status: "ok",
    exitCode: 0,
    config: "workload-small",
    rows: runs.map((r) => compareRowOf(r.strategy, r.report)),
    runs,
    notConverged: [],
    wallMs: 0,
  };
}

describe("compare columns for post-copy and multifd", () => {
  let base: MigrateReport;
  beforeAll(async () => {
    base = await runMigration(loadConfig(CONFIG), { configFile: CONFIG });
  }, 60_000);

  it("reads the fields from query-migrate (null when absent)", () => {
    const info = {
      status: "completed",
      "postcopy-latency": 412_345,
      "x-postcopy-latency-p99": 2_100_000,
      ram: { "multifd-bytes": 5 * MiB },
    } as unknown as MigrationInfo;
    expect(faultLatencyOf(info)).toEqual({ meanNs: 412_345, p99Ns: 2_100_000 });
    expect(multifdBytesOf(info)).toBe(5 * MiB);
    expect(faultLatencyOf(base.stats)).toEqual({ meanNs: null, p99Ns: null });
    expect(multifdBytesOf(base.stats)).toBeNull();
    expect(faultLatencyOf(null)).toEqual({ meanNs: null, p99Ns: null });
    expect([formatLatencyNs(850), formatLatencyNs(412_345), formatLatencyNs(2_100_000)]).toEqual([
      "850 ns",
      "412 µs",
      "2.1 ms",
    ]);
  });

  it("no run reports them: the table has exactly the columns it had", () => {
    const text = formatCompareTable(compareOf([["precopy", base]]));
    expect(text.split("\n")[0]).toMatch(
      /^strategy\s+status\s+total time\s+downtime\s+transferred\s+iterations\s+max throttle\s+guest work lost$/,
    );
    expect(text).not.toContain("fault latency");
    expect(text).not.toContain("multifd");
  });

  it("a post-copy row and a multifd row: both columns, '-' where a run has none; JSON and HTML carry them", async () => {
    const postcopy = withInfo(base, {
      "postcopy-latency": 412_345,
      "x-postcopy-latency-p99": 2_100_000,
    });
    const multifd = withInfo(base, {}, { "multifd-bytes": 12.5 * MiB });
    const report = compareOf([
      ["precopy", base],
      ["precopy+postcopy-ram", postcopy],
      ["precopy+multifd", multifd],
    ]);
    expect(report.rows[1]).toMatchObject({
      faultLatencyMeanNs: 412_345,
      faultLatencyP99Ns: 2_100_000,
      multifdBytes: null,
    });
    expect(report.rows[2]).toMatchObject({ faultLatencyMeanNs: null, multifdBytes: 12.5 * MiB });
    const lines = formatCompareTable(report).split("\n");
    expect(lines[0]).toMatch(/guest work lost\s+fault latency \(mean \/ p99\)\s+multifd$/);
    expect(lines[2]).toMatch(/^precopy\s.*\s-\s+-$/);
    expect(lines[3]).toMatch(/^precopy\+postcopy-ram\s.*\s412 µs \/ 2\.1 ms\s+-$/);
    expect(lines[4]).toMatch(/^precopy\+multifd\s.*\s-\s+12\.5 MiB$/);
    expect(lines.join("\n")).toContain("fault latency: post-copy page faults");

    const dir = mkdtempSync(join(tmpdir(), "ferry-compare-columns-"));
    const files = await writeCompareReport(dir, report);
    const json = JSON.parse(readFileSync(files.json, "utf8")) as CompareReport;
    expect(
      json.rows.map((r) => [r.faultLatencyMeanNs, r.faultLatencyP99Ns, r.multifdBytes]),
    ).toEqual([
      [null, null, null],
      [412_345, 2_100_000, null],
      [null, null, 12.5 * MiB],
    ]);
    const html = readFileSync(files.html, "utf8");
    expect(html).toContain("<th>fault latency (mean / p99)</th><th>multifd</th>");
    expect(html).toContain("<td>412 µs / 2.1 ms</td>");
  }, 30_000);
});
