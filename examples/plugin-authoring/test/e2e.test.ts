import { formatInfoMigrate } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { describe, expect, it } from "vitest";
import { rateConverge } from "../src/index";
import { MiB, MS, runScenario, S } from "./scenario";

type Section = Record<string, number>;

describe("rate-converge end to end (64 MiB guest dirtying ~9.4 MiB/s, 4 MiB/s link)", () => {
  it("plain pre-copy does not converge", async () => {
    const o = await runScenario([precopy(), rateConverge()], {}, {}, 30 * S);
    expect(o.m.status).toBe("active");
    expect(o.m.info().ram!["dirty-sync-count"]).toBeGreaterThan(10);
    expect(o.m.info()["rate-converge"]).toBeUndefined();
    expect(o.throttledNs).toBe(0);
    o.m.cancel();
    await o.s.run({ untilNs: o.s.now() + S });
    expect(o.m.status).toBe("cancelled");
  });

  it("with rate-converge it converges, throttling to the computed value", async () => {
    const o = await runScenario([precopy(), rateConverge()], { "rate-converge": true }, {}, 60 * S);
    expect(o.m.status).toBe("completed");
    expect(o.sameAtSwitch).toBe(true);
    const info = o.m.info();
    const pcts = o.samples
      .map((i) => i["cpu-throttle-percentage"] as number | undefined)
      .filter((p): p is number => p !== undefined);
    const distinct = [...new Set(pcts)];
    // The throttle is computed, not stepped by 10: at most a few distinct values, the first well
    // above auto-converge's 20 %.
    expect(distinct.length).toBeGreaterThan(0);
    expect(distinct.length).toBeLessThanOrEqual(3);
    expect(distinct[0]).toBeGreaterThan(40);
    const sec = info["rate-converge"] as Section;
    expect(sec["max-throttle-percentage"]).toBe(Math.max(...pcts));
    expect(sec["throttle-percentage"]).toBe(0);
    expect(info["cpu-throttle-percentage"]).toBeUndefined();
    // The estimates are the scenario's: a 4 MiB/s link and a guest dirtying more than it.
    expect(sec.bandwidth).toBeGreaterThan(3.5 * MiB);
    expect(sec.bandwidth).toBeLessThan(4.5 * MiB);
    expect(sec["dirty-rate"]).toBeGreaterThan(4 * MiB);
    // The vCPUs really slept, and the plugin's account matches the vCPU loop's.
    expect(o.throttledNs).toBeGreaterThan(500 * MS);
    expect(Math.abs(sec["throttled-ms"] - o.throttledNs / 1e6)).toBeLessThan(3);
    expect(formatInfoMigrate(info)).toMatch(/downtime/);
    // Hooks are gone: the source runs unthrottled after a resume.
    const before = o.src.vcpuStats()[0].throttledNs;
    o.src.resume();
    await o.s.run({ untilNs: o.s.now() + S });
    expect(o.src.vcpuStats()[0].throttledNs).toBe(before);
  });

  it("a lower target ratio throttles harder", async () => {
    const half = await runScenario(
      [precopy(), rateConverge()],
      { "rate-converge": true },
      {},
      60 * S,
    );
    const quarter = await runScenario(
      [precopy(), rateConverge()],
      { "rate-converge": true },
      { "rate-converge-target-ratio": 0.25 },
      60 * S,
    );
    expect(quarter.m.status).toBe("completed");
    const max = (o: typeof half) =>
      (o.m.info()["rate-converge"] as Section)["max-throttle-percentage"];
    expect(max(quarter)).toBeGreaterThan(max(half));
  });

  it("respects rate-converge-max-throttle", async () => {
    const o = await runScenario(
      [precopy(), rateConverge()],
      { "rate-converge": true },
      { "rate-converge-max-throttle": 30 },
      10 * S,
    );
    const pcts = o.samples.map((i) => (i["cpu-throttle-percentage"] as number | undefined) ?? 0);
    expect(Math.max(...pcts)).toBe(30);
    if (o.m.status !== "completed") o.m.cancel();
  });
});
