/**
 * compact = bytes at the seed's link rate: the seed-specjbb scenario at 1/128 (2 GiB, 20 vCPUs,
 * 2112 Mbit/s / 128) migrated once over the compact link (pages as versions into a synthetic
 * destination) and once over the full byte path (pages as bytes into an `array` destination)
 * gives identical statistics and time series, and equal destination content.
 */
import { describe, expect, it } from "vitest";
import { runSeedScenario } from "../../../bench/seed-scenario";

describe("seed-specjbb at 1/128: the compact path equals the byte path", () => {
  it("every statistic and the whole time series are equal (rfc-2013, completes)", async () => {
    const compact = await runSeedScenario({ mode: "rfc-2013", scale: 128, timeLimitS: 400 });
    const bytes = await runSeedScenario({
      mode: "rfc-2013",
      scale: 128,
      timeLimitS: 400,
      bytePath: true,
    });
    expect(compact.info.status).toBe("completed");
    expect(compact.contentEqual).toBe(true);
    expect(bytes.contentEqual).toBe(true);
    expect(JSON.stringify(bytes.info)).toBe(JSON.stringify(compact.info));
    expect(JSON.stringify(bytes.series)).toBe(JSON.stringify(compact.series));
    expect(bytes.guestWrites).toBe(compact.guestWrites);
    expect(compact.series.length).toBeGreaterThan(10);
  }, 600_000);
});
