/**
 * Auto-converge on real RISC-V code: `examples/configs/memtouch-autoconverge.yaml` through the
 * CLI's `runMigration` (what `ferry migrate` runs). Without auto-converge pre-copy never gets
 * below the whole working set; with it the guest is throttled, the migration completes and the
 * result equals an unmigrated run.
 */
import { fileURLToPath } from "node:url";
import type { MigrationInfo } from "@ferry/migration";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type MigrateReport, runMigration } from "../src/index";

const CONFIG = fileURLToPath(
  new URL("../../../examples/configs/memtouch-autoconverge.yaml", import.meta.url),
);
const KiB = 1024;
/** What fits in the config's downtime limit: 100 ms at 640 KiB/s. */
const DOWNTIME_BYTES = 64 * KiB;
/** The config's working set (128 pages). */
const WORKING_SET = 512 * KiB;
const FINAL = /memtouch done: passes=40 checksum=(0x[0-9a-f]{8})\n/;

async function migrate(autoConverge: boolean, overrides: string[] = []): Promise<MigrateReport> {
  const config = loadConfig(CONFIG, overrides);
  return runMigration(config, {
    configFile: CONFIG,
    capabilities: { "auto-converge": autoConverge },
  });
}

function autoConvergeStats(info: MigrationInfo | null): Record<string, number> {
  const section = info?.["auto-converge"];
  expect(section).toBeTypeOf("object");
  return section as Record<string, number>;
}

const syncs = (r: MigrateReport) => r.series.filter((s) => s.kind === "sync");

describe("memtouch-autoconverge.yaml", () => {
  let off: MigrateReport;
  let on: MigrateReport;

  beforeAll(async () => {
    off = await migrate(false);
    on = await migrate(true);
  });

  it("does not converge without auto-converge while the guest runs", () => {
    expect(["active", "cancelled"]).toContain(off.status);
    expect(off.status).not.toBe("completed");
    expect(off.exitCode).toBe(1);
    expect(off.message).toMatch(
      /^not converged: the guest shut down on the source .* while the migration was still active/,
    );
    expect(off.verification.verified).toBe(false);
    expect(off.verification.ramEqual).toBeNull();
    // the guest ran to its end on the source, unthrottled, with the unmigrated output
    expect(off.verification.migrated).toEqual({ status: "pass", guestCode: 0 });
    expect(off.guestOutput.source).toBe(off.guestOutput.reference);
    expect(off.guestOutput.destination).toBe("");
    // many rounds, every one ending with the whole working set dirty again
    const rounds = syncs(off).slice(1);
    expect(rounds.length).toBeGreaterThanOrEqual(20);
    for (const s of rounds) {
      expect(s.remainingBytes).toBeGreaterThanOrEqual(WORKING_SET);
      expect(s.remainingBytes).toBeGreaterThan(DOWNTIME_BYTES);
      expect(s.throttlePercent).toBe(0);
    }
    // unconverged for about twice as long as auto-converge needs to complete
    expect(off.stats?.["total-time"]).toBeGreaterThan(2 * (on.stats?.["total-time"] ?? 0));
  });

  it("completes with auto-converge and matches the unmigrated run", () => {
    expect(on.status).toBe("completed");
    expect(on.exitCode).toBe(0);
    expect(on.message).toBeUndefined();
    const v = on.verification;
    expect(v).toMatchObject({
      verified: true,
      ramEqual: true,
      stateEqual: true,
      outputEqual: true,
      exitEqual: true,
      reference: { status: "pass", guestCode: 0 },
      migrated: { status: "pass", guestCode: 0 },
    });
    expect(v.sourceRamHash).toMatch(/^[0-9a-f]{64}$/);
    expect(v.destinationRamHash).toBe(v.sourceRamHash);
    // the guest really moved: the destination printed the end, the output equals the reference
    expect(on.guestOutput.combined).toBe(on.guestOutput.reference);
    const final = on.guestOutput.destination.match(FINAL);
    const reference = on.guestOutput.reference?.match(FINAL);
    expect(final?.[1]).toBeDefined();
    expect(final?.[1]).toBe(reference?.[1]);
    expect(on.guestOutput.source).not.toMatch(FINAL);
    expect(v.workDuringMigration).toBeGreaterThan(0);
    expect(v.workAfterMigration).toBeGreaterThan(0);
  });

  it("throttled the guest to get there", () => {
    const ac = autoConvergeStats(on.stats);
    expect(ac["max-throttle-percentage"]).toBeGreaterThan(0);
    expect(ac["throttle-steps"]).toBeGreaterThanOrEqual(1);
    expect(ac["throttled-ns"]).toBeGreaterThan(0);
    expect(ac["throttle-percentage"]).toBe(0); // released at the end
    expect(Math.max(...on.series.map((s) => s.throttlePercent))).toBe(
      ac["max-throttle-percentage"],
    );
    expect(on.stats?.downtime).toBeLessThanOrEqual(100);
    // throttling costs guest work against the unmigrated twin
    expect(on.workLost?.lost).toBeGreaterThan(0);
  });

  it("is still active at the time limit when that comes first", async () => {
    const r = await migrate(false, ["run.time-limit=10s"]);
    expect(r.status).toBe("active");
    expect(r.exitCode).toBe(1);
    expect(r.message).toMatch(/not converged/);
    expect(r.verification.verified).toBe(false);
  });
});
