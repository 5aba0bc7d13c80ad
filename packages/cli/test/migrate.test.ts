import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  captureIo,
  convertParameter,
  type MigrateReport,
  main,
  parseCapabilityFlags,
  UsageError,
} from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const config = (name: string): string => join(root, "examples/configs", `${name}.yaml`);

async function ferry(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** The real binary: the interpreter is ~10x faster under tsx than under vitest's transform. */
function ferryProcess(...argv: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    cwd: root,
    encoding: "utf8",
  });
}

function expectVerified(r: MigrateReport): void {
  expect(r.status).toBe("completed");
  expect(r.exitCode).toBe(0);
  expect(r.verification).toMatchObject({ verified: true, ramEqual: true, stateEqual: true });
  expect(r.verification.sourceRamHash).toMatch(/^[0-9a-f]{64}$/);
  expect(r.verification.destinationRamHash).toBe(r.verification.sourceRamHash);
  expect(r.stats?.status).toBe("completed");
  expect(r.stats?.downtime).toBeGreaterThanOrEqual(1);
  expect(r.series.length).toBeGreaterThan(0);
}

describe("ferry migrate on the example configs", () => {
  it("multihart: completes; RAM, state, output and exit equal the unmigrated run (--json)", async () => {
    const r = await ferry("migrate", config("multihart"), "--json");
    const report = JSON.parse(r.out) as MigrateReport;
    expect(r.code).toBe(0);
    expectVerified(report);
    expect(report.verification).toMatchObject({
      outputEqual: true,
      exitEqual: true,
      continuationEqual: true,
      shadow: { status: "pass", guestCode: 0 },
    });
    expect(report.verification.reference).toEqual({ status: "pass", guestCode: 0 });
    expect(report.guestOutput.combined).toBe(report.guestOutput.reference);
    expect(report.guestOutput.combined).toContain("multihart done");
    expect(report.migrationStartNs).toBe(5_000_000);
    expect(report.parameters).toMatchObject({ "downtime-limit": 300 });
    expect(report.capabilities).toBeTypeOf("object");
  });

  it("memtouch-migrate (the demo): verified, with info migrate and the verification block", () => {
    const p = ferryProcess("migrate", "examples/configs/memtouch-migrate.yaml");
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/^--- info migrate ---\nMigration status: completed\n/);
    expect(p.stdout).toMatch(/\ndirty sync count: [3-9]\n/);
    expect(p.stdout).toContain("--- guest output: destination, after switchover ---\n");
    expect(p.stdout).toContain("memtouch done: passes=6");
    expect(p.stdout).toMatch(
      /RAM at switchover \(sha256\): source ([0-9a-f]{16}) {2}destination \1 {2}ok/,
    );
    expect(p.stdout).toContain("continuation = shadow source: ok (shadow: pass code 0)");
    expect(p.stdout).toContain("guest output = unmigrated:  ok");
    expect(p.stdout).toContain("verified: yes");
    expect(p.stderr).toMatch(
      /^ferry: memtouch-migrate: migration completed, total \d+ ms, downtime \d+ ms/,
    );
  }, 180_000); // the destination and the shadow source both run the guest to its end

  it("memtouch with fewer passes: verified as JSON", () => {
    const p = ferryProcess(
      "migrate",
      "examples/configs/memtouch.yaml",
      "--set",
      "guest.args.2=10",
      "--json",
    );
    expect(p.status).toBe(0);
    const report = JSON.parse(p.stdout) as MigrateReport;
    expectVerified(report);
    expect(report.verification).toMatchObject({
      outputEqual: true,
      exitEqual: true,
      continuationEqual: true,
      shadow: { status: "pass", guestCode: 0 },
    });
    expect(report.parameters).toMatchObject({
      "downtime-limit": 300,
      "max-bandwidth": 128 * 2 ** 20,
    });
  });

  it("a workload config migrates and verifies (RAM hash, work before/during/after)", async () => {
    const r = await ferry("migrate", config("workload-small"), "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as MigrateReport;
    expectVerified(report);
    expect(report.verification).toMatchObject({
      continuationEqual: null,
      outputEqual: null,
      exitEqual: null,
      reference: null,
    });
    expect(report.verification.workBeforeMigration).toBeGreaterThan(0);
    expect(report.verification.workAfterMigration).toBeGreaterThan(0);
    expect(report.guestOutput.combined).toBe("");
  });
});

describe("ferry migrate failures", () => {
  it("a link far below the dirty rate does not converge: exit 1, status active, never completed", async () => {
    const r = await ferry(
      "migrate",
      config("workload-small"),
      "--param",
      "max-bandwidth=100KiB/s",
      "--set",
      "run.time-limit=1500ms",
      "--json",
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as MigrateReport;
    expect(report.status).toBe("active");
    expect(report.stats?.status).toBe("active");
    expect(report.stats?.downtime).toBeUndefined();
    expect(report.stats?.ram?.remaining).toBeGreaterThan(0);
    expect(report.message).toMatch(/^not converged/);
    expect(report.verification.verified).toBe(false);
    expect(report.verification.ramEqual).toBeNull();
    expect(r.out).not.toMatch(/"completed"/);
    const text = await ferry(
      "migrate",
      config("workload-small"),
      "--param",
      "max-bandwidth=100KiB/s",
      "--set",
      "run.time-limit=1500ms",
    );
    expect(text.code).toBe(1);
    expect(text.err).toMatch(/migration active: not converged/);
    expect(text.out).toContain("verified: no");
  });

  it("an unknown capability exits 2 with the registry's message", async () => {
    const r = await ferry("migrate", config("multihart"), "--capability", "nosuch=on");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^ferry: nosuch: unknown capability \(known: /);
    const j = await ferry("migrate", config("multihart"), "--capability", "nosuch=on", "--json");
    expect(JSON.parse(j.out)).toMatchObject({ status: "error", exitCode: 2 });
  });

  it("a bad parameter value exits 2", async () => {
    const r = await ferry("migrate", config("multihart"), "--param", "downtime-limit=-5");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^ferry: downtime-limit: .*-5/);
    const u = await ferry("migrate", config("multihart"), "--param", "max-bandwidth=fast/s");
    expect(u.code).toBe(2);
    const c = await ferry("migrate", config("multihart"), "--capability", "xbzrle=maybe");
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/expected on or off/);
  });
});

describe("parameter units", () => {
  it("converts units by parameter and leaves other values for the registry", () => {
    expect(convertParameter("downtime-limit", "300ms")).toBe(300);
    expect(convertParameter("downtime-limit", "2s")).toBe(2000);
    expect(convertParameter("max-bandwidth", "128MiB/s")).toBe(128 * 2 ** 20);
    expect(convertParameter("max-bandwidth", "1Gbit/s")).toBe(125e6);
    expect(convertParameter("xbzrle-cache-size", "64MiB")).toBe(64 * 2 ** 20);
    expect(convertParameter("downtime-limit", "-5")).toBe(-5);
    expect(convertParameter("cpu-throttle-tailslow", "on")).toBe(true);
    expect(convertParameter("x-auto-converge-policy", "rfc-2013")).toBe("rfc-2013");
    expect(convertParameter("downtime-limit", 250)).toBe(250);
    expect(() => convertParameter("max-bandwidth", "12 parsecs/s")).toThrow(UsageError);
  });

  it("parses capability flags", () => {
    expect(parseCapabilityFlags(["xbzrle=on", "auto-converge=false"])).toEqual({
      xbzrle: true,
      "auto-converge": false,
    });
    expect(() => parseCapabilityFlags(["xbzrle"])).toThrow(/expected name=value/);
  });
});

describe("migrate progress", () => {
  it("draws a bar of virtual time against the time limit", async () => {
    const { formatProgress } = await import("../src");
    const line = formatProgress({
      status: "active",
      iteration: 3,
      remainingBytes: 2 * 1024 * 1024,
      mbps: 123.4,
      throttlePercent: 30,
      virtualNs: 5e9,
      timeLimitNs: 10e9,
    });
    expect(line).toContain(`[${"#".repeat(10)}${"-".repeat(10)}] 5.0/10s`);
    expect(line).toMatch(
      /\[active\] iteration 3 {2}remaining 2\.0 MiB {2}123\.4 Mbps {2}throttle 30%/,
    );
  });

  it("says whether it converges: remaining vs threshold, dirty rate vs bandwidth, downtime", async () => {
    const { formatProgress } = await import("../src");
    const base = {
      status: "active",
      iteration: 5,
      remainingBytes: 2 * 2 ** 20,
      mbps: 67.1,
      throttlePercent: undefined,
      virtualNs: 1e9,
      timeLimitNs: 3e9,
      thresholdBytes: 0.4 * 2 ** 20,
      bandwidthBytesPerSec: 8 * 2 ** 20,
      expectedDowntimeMs: 250,
      downtimeLimitMs: 50,
      transferredBytes: 20 * 2 ** 20,
    };
    const slow = formatProgress({ ...base, dirtyBytesPerSec: 9 * 2 ** 20 });
    expect(slow).toContain(
      "threshold 0.4 MiB  dirty 9.0 MiB/s vs bandwidth 8.0 MiB/s  expected downtime 250/50 ms  sent 20.0 MiB  → NOT converging",
    );
    expect(formatProgress({ ...base, dirtyBytesPerSec: 7 * 2 ** 20 })).toContain(
      "→ converging (dirty rate < bandwidth)",
    );
    expect(formatProgress({ ...base, dirtyBytesPerSec: 0 })).toContain("→ measuring");
    expect(formatProgress({ ...base, status: "completed", phase: "destination" })).toMatch(
      /1\.0\/3s \[completed after 5 iterations\] destination running the guest on$/,
    );
    expect(formatProgress({ ...base, remainingBytes: 0.1 * 2 ** 20 })).toContain(
      "→ below threshold: switchover next",
    );
  });

  it("reports progress at every sync and in between, in virtual-time order", async () => {
    const { loadConfig, runMigration } = await import("../src");
    const cfg = loadConfig(config("workload-small"));
    const seen: { status: string; iteration: number; virtualNs: number; limit: number }[] = [];
    const rep = await runMigration(cfg, {
      parameters: { "max-bandwidth": "8MiB/s" },
      onProgress: (p) =>
        seen.push({
          status: p.status,
          iteration: p.iteration,
          virtualNs: p.virtualNs,
          limit: p.timeLimitNs,
        }),
    });
    expect(rep.stats?.ram?.["dirty-sync-count"]).toBeGreaterThan(2);
    expect(seen.length).toBeGreaterThanOrEqual(rep.stats!.ram!["dirty-sync-count"]);
    expect(seen.every((p) => p.limit === cfg.run.timeLimitNs)).toBe(true);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i].virtualNs).toBeGreaterThanOrEqual(seen[i - 1].virtualNs);
      expect(seen[i].iteration).toBeGreaterThanOrEqual(seen[i - 1].iteration);
    }
    expect(seen.at(-1)!.iteration).toBe(rep.stats!.ram!["dirty-sync-count"]);
  });
});
