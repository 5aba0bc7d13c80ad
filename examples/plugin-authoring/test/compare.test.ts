/**
 * rate-converge against auto-converge (QEMU's policy, defaults) on the same scenario. The
 * comparison needs the auto-converge plugin, which is not a dependency of this package (a plugin
 * never depends on another); the test reaches its source in the monorepo.
 */
import { precopy } from "@ferry/plugin-precopy";
import { describe, expect, it } from "vitest";
import { autoConverge } from "@ferry/plugin-auto-converge";
import { rateConverge } from "../src/index";
import { type Outcome, runScenario, S } from "./scenario";

const summary = (name: string, o: Outcome): string => {
  const i = o.m.info();
  const t = o.m.timings();
  const ideal = (2 * 1200 * t.totalNs) / 1e9; // page writes an unthrottled guest would have done
  return `${name}: ${o.m.status}, total ${i["total-time"]} ms, downtime ${i.downtime} ms, syncs ${i.ram!["dirty-sync-count"]}, vCPU sleep ${Math.round(o.throttledNs / 1e6)} ms, guest work lost ${Math.round(ideal - o.workDuring)} of ${Math.round(ideal)} page writes`;
};

describe("rate-converge vs auto-converge", () => {
  it("converges in fewer iterations, sooner, with less guest time lost", async () => {
    const rate = await runScenario(
      [precopy(), rateConverge()],
      { "rate-converge": true },
      {},
      60 * S,
    );
    const auto = await runScenario(
      [precopy(), autoConverge()],
      { "auto-converge": true },
      {},
      60 * S,
    );
    console.log(summary("rate-converge", rate));
    console.log(summary("auto-converge", auto));
    expect(rate.m.status).toBe("completed");
    expect(auto.m.status).toBe("completed");
    const syncs = (o: Outcome) => o.m.info().ram!["dirty-sync-count"];
    expect(syncs(rate)).toBeLessThan(syncs(auto));
    expect(rate.m.timings().totalNs).toBeLessThan(auto.m.timings().totalNs);
    expect(rate.throttledNs).toBeLessThan(auto.throttledNs);
  });
});
