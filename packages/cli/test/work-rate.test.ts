/**
 * The report's guest work rate under a throttle: each row's rate is the difference of the
 * cumulative work counters over the row's whole window (at least 100 ms), so it matches the
 * throttle's run share instead of reading one phase of the throttle's run/sleep cycle.
 * Scenario: examples/configs/workload-rate-converge.yaml with auto-converge instead of the
 * third-party plugin (2 vCPUs × 1200 operations/s; the throttle climbs 20 → 30 → … %).
 */
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type MigrateReport, runMigration } from "../src/index";
import { chartSpecs } from "../src/report/charts";
import { controllerChartSpec } from "../src/report/controller-chart";
import { MIN_RATE_WINDOW_NS } from "../src/report/series";

const CONFIG = fileURLToPath(
  new URL("../../../examples/configs/workload-rate-converge.yaml", import.meta.url),
);

describe("guest work rate of a throttled guest", () => {
  let r: MigrateReport;
  beforeAll(async () => {
    const config = loadConfig(CONFIG, [
      "plugins=[]",
      "migration.capabilities={auto-converge: true}",
      "migration.parameters={downtime-limit: 300}",
    ]);
    r = await runMigration(config, { configFile: CONFIG });
  }, 120_000);

  it("throttles: the scenario exercises 20 % and more", () => {
    expect(r.status).toBe("completed");
    expect(Math.max(...r.series.map((s) => s.throttlePercent))).toBeGreaterThanOrEqual(30);
  });

  it("each row's rate is the counters' difference over its window", () => {
    for (let k = 1; k < r.series.length; k++) {
      const [a, b] = [r.series[k - 1], r.series[k]];
      expect(b.rateWindowNs).toBeGreaterThanOrEqual(Math.min(MIN_RATE_WINDOW_NS, b.timeNs) - 1);
      if (Math.abs(b.rateWindowNs - (b.timeNs - a.timeNs)) > 1) continue; // window reaches further back
      expect(b.guestWorkRate * (b.rateWindowNs / 1e9)).toBeCloseTo(b.guestWork - a.guestWork, 3);
      expect(b.referenceWorkRate * (b.rateWindowNs / 1e9)).toBeCloseTo(
        b.referenceWork - a.referenceWork,
        3,
      );
    }
    // The counters end where the run's own accounting does.
    const last = r.series[r.series.length - 1];
    expect(Math.abs(last.guestWork - r.workLost!.migrated)).toBeLessThanOrEqual(
      0.01 * r.workLost!.migrated,
    );
  });

  it("matches the run share under a constant throttle, never 0 while the guest dirties pages", () => {
    let checked = 0;
    // The guest is paused for the downtime: rows after the switchover may rightly show 0.
    const switchoverNs = (r.stats!["total-time"]! - r.stats!.downtime!) * 1e6;
    for (let k = 1; k < r.series.length; k++) {
      const [a, b] = [r.series[k - 1], r.series[k]];
      if (b.dirtyRate > 0 && b.timeNs < switchoverNs) expect(b.guestWorkRate).toBeGreaterThan(0);
      const wholeWindowAtOneThrottle =
        a.throttlePercent === b.throttlePercent &&
        Math.abs(b.rateWindowNs - (b.timeNs - a.timeNs)) <= 1 &&
        b.rateWindowNs >= MIN_RATE_WINDOW_NS;
      if (!wholeWindowAtOneThrottle || b.referenceWorkRate === 0 || b.timeNs >= switchoverNs) {
        continue;
      }
      const share = b.guestWorkRate / b.referenceWorkRate;
      expect(share).toBeGreaterThan((1 - b.throttlePercent / 100) * 0.93);
      expect(share).toBeLessThan((1 - b.throttlePercent / 100) * 1.07);
      if (b.throttlePercent > 0) checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("the work chart plots those rates, per vCPU", () => {
    const spec = chartSpecs([{ label: "auto-converge", series: r.series, vcpus: 2 }], "operations");
    const work = spec.find((c) => c.id === "work");
    expect(work).toBeDefined();
    const values = chartValues(work!.spec).filter((p) => p.measure === "migrated guest");
    expect(values).toHaveLength(r.series.length);
    const layers = (work!.spec as { layer: { encoding: { y?: { title?: string } } }[] }).layer;
    expect(layers[0].encoding.y?.title).toBe("thousand operations/s per vCPU");
    values.forEach((p, i) => {
      expect(p.y * 1000).toBeCloseTo(r.series[i].guestWorkRate / 2, 6);
    });
  });

  it("auto-converge declares its throttle: equal to cpu-throttle-percentage, charted as before", () => {
    expect(r.declaredSeries.map((d) => d.key)).toEqual(["cpu-throttle-percentage"]);
    for (const s of r.series)
      expect(s.declared?.["cpu-throttle-percentage"]).toBe(s.throttlePercent);
    const run = { label: "auto-converge", series: r.series, vcpus: 2 };
    const declared = controllerChartSpec([{ ...run, declaredSeries: r.declaredSeries }]);
    expect(declared).toEqual(controllerChartSpec([run])); // drawn from throttlePercent
    // and in a comparison with a run that declares nothing
    const plain = { label: "precopy", series: r.series.slice(0, 5), vcpus: 2 };
    expect(controllerChartSpec([plain, { ...run, declaredSeries: r.declaredSeries }])).toEqual(
      controllerChartSpec([plain, run]),
    );
  });
});

/** The line rows of a chart spec's inline data. */
function chartValues(spec: unknown): { t: number; y: number; measure: string }[] {
  const values = (spec as { data: { values: { layer: string }[] } }).data.values;
  return values.filter((v) => v.layer === "line") as never[];
}
