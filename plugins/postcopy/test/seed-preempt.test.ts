/**
 * `postcopy-preempt` on the seed-specjbb scenario at 1/128 (`ferry migrate`'s path: 20 vCPUs,
 * pre-copy does not converge, post-copy after 1 pass): with requested pages on their own channel
 * the fault latency and the vCPU blocktime are lower; both runs complete and verify.
 */
import { describe, expect, it } from "vitest";
import { scaleSeedConfig, SEED_CONFIG_PATH } from "../../../bench/seed-scenario";
import { loadConfig, runMigration } from "../../../packages/cli/src/index";

const MS = 1_000_000;

async function run(preempt: boolean): Promise<Record<string, unknown>> {
  const config = scaleSeedConfig(loadConfig(SEED_CONFIG_PATH), 128);
  const r = await runMigration(config, {
    capabilities: { "postcopy-ram": true, "postcopy-preempt": preempt },
    parameters: { "x-postcopy-after-passes": 1 },
  });
  expect(r.status).toBe("completed");
  expect(r.verification.verified).toBe(true);
  return r.stats as unknown as Record<string, unknown>;
}

describe("postcopy-preempt on the seed at 1/128", () => {
  it("lowers the fault latency and the blocktime; both runs verify", async () => {
    const plain = await run(false);
    const pre = await run(true);
    const mean = (x: Record<string, unknown>) => x["postcopy-latency"] as number;
    const p99 = (x: Record<string, unknown>) => x["x-postcopy-latency-p99"] as number;
    const blocked = (x: Record<string, unknown>) =>
      (x["postcopy-vcpu-blocktime"] as number[]).reduce((a, b) => a + b, 0);
    // Deterministic: mean 85.4 → 29.5 ms, p99 117 → 64 ms, blocktime per vCPU ~9.2 → ~5.3 s.
    expect(mean(plain)).toBeGreaterThan(80 * MS);
    expect(mean(pre)).toBeLessThan(mean(plain) / 2);
    expect(p99(pre)).toBeLessThan(p99(plain));
    expect(blocked(pre)).toBeLessThan(blocked(plain) * 0.7);
    expect(pre["x-postcopy-preempt-pages"]).toBeGreaterThan(1000);
    expect(plain["x-postcopy-preempt-pages"]).toBeUndefined();
  }, 120_000);
});
