/**
 * The series rate-converge declares (its throttle, the unthrottled dirty rate and the bandwidth it
 * measured): values equal to its query-migrate section at every sync, and sampling them — at every
 * sync and every 5 ms — changes nothing in the migration.
 */
import { isTerminalStatus, type SeriesValue } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { describe, expect, it } from "vitest";
import { RATE_CONVERGE_SERIES, rateConverge } from "../src/index";
import { MS, runScenario, S } from "./scenario";

type Section = Record<string, number>;

describe("rate-converge's declared series", () => {
  it("match its statistics at every sync; sampling leaves the migration byte-identical", async () => {
    const atSync: { values: Record<string, SeriesValue>; section: Section | undefined }[] = [];
    let between = 0;
    const sampled = await runScenario(
      [precopy(), rateConverge()],
      { "rate-converge": true },
      {},
      60 * S,
      (m, s) => {
        m.events.on("sync", () => {
          atSync.push({
            values: m.sampleSeries(),
            section: m.info()["rate-converge"] as Section,
          });
        });
        const tick = (): void => {
          m.sampleSeries();
          between++;
          if (!isTerminalStatus(m.status)) s.at(s.now() + 5 * MS, tick);
        };
        s.at(s.now() + 5 * MS, tick);
      },
    );
    const plain = await runScenario(
      [precopy(), rateConverge()],
      { "rate-converge": true },
      {},
      60 * S,
    );

    expect(sampled.m.status).toBe("completed");
    expect(sampled.m.declaredSeries).toEqual(RATE_CONVERGE_SERIES);
    expect(between).toBeGreaterThan(100);
    let measured = 0;
    for (const { values, section } of atSync) {
      if (section === undefined) continue; // the setup sync: query-migrate has no sections yet
      expect(values["rate-converge-throttle"]).toBe(section["throttle-percentage"]);
      if (section.evaluations === 0) {
        expect(values["rate-converge-dirty-rate"]).toBeUndefined();
        continue;
      }
      measured++;
      expect(Math.round(values["rate-converge-dirty-rate"] as number)).toBe(section["dirty-rate"]);
      expect(Math.round(values["rate-converge-bandwidth"] as number)).toBe(section.bandwidth);
    }
    expect(measured).toBeGreaterThan(2);

    // the same migration without sampling: identical statistics, series and timings
    expect(JSON.stringify(sampled.m.info())).toBe(JSON.stringify(plain.m.info()));
    expect(sampled.m.series).toEqual(plain.m.series);
    expect(sampled.m.timings()).toEqual(plain.m.timings());
    expect(sampled.workDuring).toBe(plain.workDuring);
    expect(sampled.throttledNs).toBe(plain.throttledNs);
  });
});
