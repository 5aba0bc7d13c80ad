/**
 * Series a plugin declares, end to end through the CLI: the rate-converge example declares its
 * throttle and its two measured rates; `ferry migrate` samples them with the guest's work, the
 * report rows carry them with the values the controller's own statistics had at those times,
 * report.json keeps them, the progress line shows them, and the controller chart draws one line
 * per key. Scenario: examples/configs/workload-rate-converge.yaml.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ConvergenceController,
  type ConvergenceInstance,
  type FerryPlugin,
  type SeriesDef,
  type SyncStats,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { beforeAll, describe, expect, it } from "vitest";
import {
  RATE_CONVERGE_SERIES,
  rateConverge,
  rateConvergeController,
} from "../../../examples/plugin-authoring/src/index";
import {
  buildReportSeries,
  controllerChartSpec,
  formatDeclared,
  formatProgress,
  loadConfig,
  type MigrateProgress,
  type MigrateReport,
  runMigration,
  writeMigrateReport,
} from "../src/index";

type Point = { measure: string; layer: string; y: number };

const CONFIG = fileURLToPath(
  new URL("../../../examples/configs/workload-rate-converge.yaml", import.meta.url),
);

type Section = Record<string, number>;

/** rate-converge, with its instance's statistics logged after every sync it handles. */
function loggedRateConverge(log: { nowNs: number; section: Section }[]): FerryPlugin {
  const base = rateConverge();
  return {
    ...base,
    register(c) {
      c.register(ConvergenceController, {
        useValue: {
          ...rateConvergeController,
          create(ctx): ConvergenceInstance {
            const inner = rateConvergeController.create(ctx);
            return {
              series: inner.series,
              seriesValues: () => inner.seriesValues!(),
              onEnd: (st) => inner.onEnd(st),
              stats: () => inner.stats!(),
              onSync(st: SyncStats) {
                inner.onSync(st);
                log.push({ nowNs: st.nowNs, section: inner.stats!()["rate-converge"] as Section });
              },
            };
          },
        },
      });
    },
  };
}

describe("series declared by the rate-converge example", () => {
  const log: { nowNs: number; section: Section }[] = [];
  const progress: MigrateProgress[] = [];
  let r: MigrateReport;
  beforeAll(async () => {
    const config = loadConfig(CONFIG, ["plugins=[]"]);
    r = await runMigration(config, {
      configFile: CONFIG,
      plugins: [precopy(), loggedRateConverge(log)],
      onProgress: (p) => progress.push(p),
    });
  }, 120_000);

  it("the run lists the declared series; every row carries their values", () => {
    expect(r.status).toBe("completed");
    expect(r.declaredSeries).toEqual(RATE_CONVERGE_SERIES);
    expect(r.series.length).toBeGreaterThan(10);
    for (const row of r.series) expect(row.declared).toBeDefined();
    const throttles = r.series.map((row) => row.declared!["rate-converge-throttle"] as number);
    expect(Math.max(...throttles)).toBeGreaterThan(40);
  });

  it("values equal the controller's statistics at each row's time (last sync at or before it)", () => {
    const start = r.migrationStartNs!;
    let checked = 0;
    for (const row of r.series) {
      const at = start + row.timeNs;
      const before = log.filter((e) => e.nowNs <= at + 1);
      if (before.length === 0) continue;
      const sec = before[before.length - 1].section;
      const d = row.declared!;
      expect(d["rate-converge-throttle"]).toBe(sec["throttle-percentage"]);
      if (sec.evaluations > 0) {
        expect(Math.round(d["rate-converge-dirty-rate"] as number)).toBe(sec["dirty-rate"]);
        expect(Math.round(d["rate-converge-bandwidth"] as number)).toBe(sec.bandwidth);
        checked++;
      } else {
        // no measurement yet: the rates have no value
        expect(d["rate-converge-dirty-rate"]).toBeUndefined();
      }
    }
    expect(checked).toBeGreaterThan(5);
    // the throttle series agrees with query-migrate's cpu-throttle-percentage at every row
    for (const row of r.series) {
      expect(row.declared!["rate-converge-throttle"]).toBe(row.throttlePercent);
    }
  });

  it("report.json keeps them; the controller chart has one line per key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-declared-"));
    const files = await writeMigrateReport(dir, "rate-converge", r);
    const json = JSON.parse(readFileSync(files.json, "utf8")) as MigrateReport;
    expect(json.declaredSeries).toEqual(RATE_CONVERGE_SERIES);
    expect(json.series.map((s) => s.declared)).toEqual(r.series.map((s) => s.declared));
    const spec = controllerChartSpec([
      { label: "rc", series: r.series, declaredSeries: r.declaredSeries },
    ]) as unknown as { vconcat: { data: { values: { measure: string; layer: string }[] } }[] };
    // two panels: % and MiB/s
    expect(spec.vconcat).toHaveLength(2);
    const measures = spec.vconcat.map(
      (v) => new Set(v.data.values.filter((p) => p.layer === "line").map((p) => p.measure)),
    );
    expect([...measures[0]]).toEqual(["throttle"]);
    expect([...measures[1]]).toEqual(["estimated unthrottled dirty rate", "measured bandwidth"]);
    const html = readFileSync(files.html, "utf8");
    expect(html).toContain(">measured bandwidth<");
    expect(html).toContain(
      "Declared series (controller chart): <code>rate-converge-throttle (throttle, %), rate-converge-dirty-rate",
    );
    expect(html).toMatch(
      /<title>rate-converge · sync \d+ · t=[\d.]+ s · measured bandwidth: [\d.]+ MiB\/s<\/title>/,
    );
  });

  it("after the switchover the line follows the destination's work, not a frozen [completed]", () => {
    const dest = progress.filter((p) => p.phase === "destination");
    expect(dest.length).toBeGreaterThan(0);
    const work = dest.map((p) => p.destinationWork!.done);
    for (let i = 1; i < work.length; i++) expect(work[i]).toBeGreaterThanOrEqual(work[i - 1]);
    expect(work.at(-1)).toBeGreaterThan(0);
    expect(formatProgress(dest.at(-1)!)).toMatch(
      /\[completed after \d+ iterations\] destination running the guest on: \d+ operations since it resumed$/,
    );
  });

  it("the progress line shows them in the throttle slot", () => {
    const measured = progress.filter(
      (p) => p.declared?.some((d) => d.def.key === "rate-converge-bandwidth") === true,
    );
    expect(measured.length).toBeGreaterThan(0);
    const line = formatProgress(measured[measured.length - 1]);
    expect(line).toMatch(
      /iteration \d+ {2}remaining [\d.]+ MiB {2}[\d.]+ Mbps {2}throttle \d+% {2}estimated unthrottled dirty rate [\d.]+ MiB\/s {2}measured bandwidth [\d.]+ MiB\/s {2}threshold/,
    );
  });
});

describe("declared series: gauges, counters and per-vCPU values", () => {
  const LIMIT: SeriesDef = {
    key: "vcpu-dirty-limit",
    label: "dirty limit",
    unit: "MB/s",
    perVcpu: true,
  };
  const SLEPT: SeriesDef = { key: "slept", label: "slept", unit: "ns", kind: "counter" };
  const tick = (timeNs: number) => ({
    kind: "tick" as const,
    timeNs,
    remainingBytes: 0,
    dirtyRate: 0,
    transferRate: 0,
    iteration: 1,
  });
  const work = [0, 1, 2, 3].map((i) => ({
    timeNs: i * 1e8,
    work: 0,
    referenceWork: 0,
    throttlePercent: 0,
    declared: { "vcpu-dirty-limit": [10 * (i + 1), 5], slept: i * 2e7 },
  }));
  const rows = buildReportSeries([tick(0), tick(1.5e8), tick(3e8)], work, [LIMIT, SLEPT]);

  it("gauges take the last sample at or before the row; counters are interpolated and turned into rates", () => {
    expect(rows.map((r) => r.declared?.["vcpu-dirty-limit"])).toEqual([
      [10, 5],
      [20, 5],
      [40, 5],
    ]);
    expect(rows.map((r) => r.declared?.slept)).toEqual([0, 3e7, 6e7]);
    // 2e7 ns slept per 1e8 ns of virtual time: 2e8 ns/s, over each row's window
    for (const r of rows) expect(r.declaredRates?.slept).toBeCloseTo(2e8, 3);
  });

  it("per-vCPU series: one line per vCPU; counters drawn as rates; the progress line shows a range", () => {
    const spec = controllerChartSpec([
      { label: "dl", series: rows, declaredSeries: [LIMIT, SLEPT] },
    ]) as unknown as {
      vconcat: { layer: { encoding: { y?: { title?: string } } }[]; data: { values: Point[] } }[];
    };
    expect(spec.vconcat).toHaveLength(2);
    const lines = (i: number) => spec.vconcat[i].data.values.filter((p) => p.layer === "line");
    expect([...new Set(lines(0).map((p) => p.measure))]).toEqual([
      "dirty limit vCPU 0",
      "dirty limit vCPU 1",
    ]);
    expect(spec.vconcat[0].layer[0].encoding.y?.title).toBe("dirty limit (MB/s)");
    expect(spec.vconcat[1].layer[0].encoding.y?.title).toBe("slept (ns/s)");
    expect(lines(1).every((p) => Math.abs(p.y - 2e8) < 1)).toBe(true);
    expect(formatDeclared(LIMIT, [10, 5])).toBe("dirty limit 5–10 MB/s (per vCPU)");
    expect(formatDeclared(LIMIT, [5, 5])).toBe("dirty limit 5 MB/s (2 vCPUs)");
    expect(formatDeclared(RATE_CONVERGE_SERIES[2], 4 * 2 ** 20)).toBe("measured bandwidth 4 MiB/s");
    expect(formatDeclared(RATE_CONVERGE_SERIES[0], 44)).toBe("throttle 44%");
  });
});
