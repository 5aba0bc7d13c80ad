/**
 * The seed-specjbb scenario (examples/configs/seed-specjbb.yaml) at reduced size (1/128: 2 GiB,
 * rates / 128): the bench's runner (bench/seed-scenario.ts) and `ferry migrate` run the same
 * scenario with identical statistics; it is deterministic, does not converge without
 * auto-converge and does with it.
 */
import { describe, expect, it } from "vitest";
import { runSeedScenario, SEED_CONFIG_PATH, seedConfig } from "../../../bench/seed-scenario";
import { loadConfig, runMigration } from "../src";

const SCALE = 128;
const LIMIT_S = 400;

function limited(config: ReturnType<typeof seedConfig>) {
  return { ...config, run: { ...config.run, timeLimitNs: LIMIT_S * 1e9 } };
}

describe("seed-specjbb config", () => {
  it("describes the calibrated scenario: 256 GiB synthetic, 9 GiB prefilled heap, compact-ready", () => {
    const c = loadConfig(SEED_CONFIG_PATH);
    expect(c.machine).toMatchObject({ vcpus: 20, memoryBytes: 2 ** 38, ramBackend: "synthetic" });
    expect(c.workload).toMatchObject({ prefillBytes: 9 * 2 ** 30, writesPerSecond: 6250 });
    expect(c.migration.link).toEqual({
      bandwidthBytesPerSec: 264e6,
      latencyNs: 1e6,
      bufferBytes: 4 * 2 ** 20,
    });
    expect(c.migration.parameters).toMatchObject({ "x-page-cost-ns": 1900 });
    expect(c.migration.capabilities).toEqual({ "auto-converge": false });
  });
});

describe("seed-specjbb at reduced size (1/128)", () => {
  it("the bench runner and ferry migrate agree; runs are deterministic", async () => {
    const a = await runSeedScenario({ mode: "rfc-2013", scale: SCALE, timeLimitS: LIMIT_S });
    const b = await runSeedScenario({ mode: "rfc-2013", scale: SCALE, timeLimitS: LIMIT_S });
    expect(a.info.status).toBe("completed");
    expect(JSON.stringify(b.info)).toBe(JSON.stringify(a.info));
    expect(JSON.stringify(b.series)).toBe(JSON.stringify(a.series));
    const cli = await runMigration(limited(seedConfig("rfc-2013", SCALE)));
    expect(cli.status).toBe("completed");
    expect(cli.verification.verified).toBe(true);
    expect(JSON.stringify(cli.stats)).toBe(JSON.stringify(a.info));
    // the compact link: the statistics count real page bytes (far more than versions would)
    expect(cli.stats!.ram!.transferred).toBeGreaterThan((9 * 2 ** 30) / SCALE);
  });

  it("does not converge without auto-converge, and completes with it (rfc-2013 and qemu)", async () => {
    const off = await runMigration(limited(seedConfig("off", SCALE)));
    expect(off.status).toBe("active");
    expect(off.exitCode).toBe(1);
    expect(off.stats!.ram!.remaining).toBeGreaterThan(0);
    expect(off.workLost!.lost).toBe(0); // no throttling: the source keeps the twin's pace
    const rfc = await runSeedScenario({ mode: "rfc-2013", scale: SCALE, timeLimitS: LIMIT_S });
    expect(rfc.contentEqual).toBe(true);
    const downtime = rfc.info.downtime!;
    expect(downtime).toBeGreaterThan(1000);
    expect(downtime).toBeLessThan(10000);
    const qemu = await runSeedScenario({ mode: "qemu", scale: SCALE, timeLimitS: LIMIT_S });
    expect(qemu.info.status).toBe("completed");
    expect(qemu.contentEqual).toBe(true);
  });
});
