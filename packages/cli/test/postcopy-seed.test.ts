/**
 * Post-copy on the synthetic seed scenario (seed-specjbb, 256 GiB, 20 vCPUs) at 1/128 scale over
 * the compact link: the switch after one pre-copy pass, workload vCPUs block on missing pages in
 * virtual time until they arrive, and the RAM check holds at the end.
 */
import { describe, expect, it } from "vitest";
import { scaleSeedConfig, SEED_CONFIG_PATH } from "../../../bench/seed-scenario";
import { loadConfig, runMigration } from "../src/index";

describe("post-copy on seed-specjbb at 1/128", () => {
  it("completes after one pass and verifies; vCPUs blocked on faults", async () => {
    const config = scaleSeedConfig(loadConfig(SEED_CONFIG_PATH), 128);
    const r = await runMigration(config, {
      capabilities: { "postcopy-ram": true },
      parameters: { "x-postcopy-after-passes": 1 },
    });
    expect(r.status).toBe("completed");
    expect(r.verification.ramEqual).toBe(true);
    expect(r.verification.verified).toBe(true);
    const info = r.stats as Record<string, unknown>;
    const ram = info.ram as Record<string, number>;
    expect(ram["postcopy-requests"]).toBeGreaterThan(0);
    expect((info["postcopy-vcpu-blocktime"] as number[]).length).toBe(20);
    expect(info["x-postcopy-latency-max"] as number).toBeGreaterThan(0);
  }, 300_000);
});
