/**
 * Dirty-limit and dirty-rate from the CLI: `ferry dirty-rate` (modes, per-vCPU rates, exit codes,
 * determinism), `ferry compare` with `precopy+dirty-limit` on a real RISC-V guest (verified), and
 * the seed-specjbb scenario at 1/128 with dirty rings and dirty-limit.
 */
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { seedConfig } from "../../../bench/seed-scenario";
import { captureIo, type CompareReport, main, runMigration } from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const config = (name: string): string => join(root, "examples/configs", `${name}.yaml`);

/** The real binary: the interpreter is ~10x faster under tsx than under vitest's transform. */
function ferryProcess(...argv: string[]): { code: number | null; out: string; err: string } {
  const p = spawnSync(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    cwd: root,
    encoding: "utf8",
  });
  return { code: p.status, out: p.stdout, err: p.stderr };
}

async function ferry(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe("ferry dirty-rate", () => {
  it("dirty-ring: per-vCPU rates (the reader vCPU dirties nothing); deterministic JSON", async () => {
    const file = config("workload-dirty-limit");
    const a = await ferry(
      "dirty-rate",
      file,
      "--mode",
      "dirty-ring",
      "--calc-time",
      "500ms",
      "--json",
    );
    expect(a.code).toBe(0);
    const r = JSON.parse(a.out);
    expect(r.status).toBe("measured");
    expect(r.info).toMatchObject({ status: "measured", mode: "dirty-ring", "calc-time": 500 });
    expect(r.vcpus[0]["dirty-rate"]).toBeGreaterThan(50);
    expect(r.vcpus[1]["dirty-rate"]).toBe(0);
    expect(r.dirtyRate).toBe(r.vcpus[0]["dirty-rate"]);
    const b = await ferry(
      "dirty-rate",
      file,
      "--mode",
      "dirty-ring",
      "--calc-time",
      "500ms",
      "--json",
    );
    expect({ ...JSON.parse(b.out), wallMs: 0 }).toEqual({ ...r, wallMs: 0 });
    const t = await ferry("dirty-rate", file, "--mode", "dirty-ring", "--calc-time", "500ms");
    expect(t.out).toMatch(/vCPU {2}dirty rate \(MB\/s\)/);
    expect(t.out).toMatch(/^ {3}1 {18}0$/m);
  });

  it("page-sampling and dirty-bitmap on a bitmap machine; bad input exits 2", async () => {
    const file = config("workload-dirty-limit");
    const bitmap = ["--set", "machine.dirty-tracking=bitmap"];
    const ps = await ferry("dirty-rate", file, ...bitmap, "--calc-time", "200ms", "--json");
    expect(ps.code).toBe(0);
    expect(JSON.parse(ps.out).dirtyRate).toBeGreaterThan(0);
    const bm = await ferry("dirty-rate", file, ...bitmap, "--mode", "dirty-bitmap", "--json");
    expect(bm.code).toBe(0);
    expect(JSON.parse(bm.out).dirtyRate).toBeGreaterThan(0);
    const ring = await ferry("dirty-rate", file, ...bitmap, "--mode", "dirty-ring");
    expect(ring.code).toBe(2);
    expect(ring.err).toMatch(/mode dirty-ring is not enabled, use other method instead/);
    expect((await ferry("dirty-rate", file, "--mode", "dirty-bitmap")).code).toBe(2);
    expect((await ferry("dirty-rate", file, "--mode", "fast")).code).toBe(2);
    expect((await ferry("dirty-rate", file, "--calc-time", "61s")).err).toMatch(
      /Calc-time is out of range\[1, 60\]/,
    );
    expect((await ferry("dirty-rate", file, "--sample-pages", "5")).err).toMatch(
      /sample-pages is out of range/,
    );
    expect((await ferry("dirty-rate", "--help")).out).toMatch(/Usage: ferry dirty-rate/);
  });
});

describe("ferry compare precopy+dirty-limit", () => {
  it("on a real RISC-V guest (memtouch, dirty ring): completes and verifies", () => {
    const p = ferryProcess(
      "compare",
      config("memtouch-migrate"),
      "--set",
      "guest.args.2=40",
      "--set",
      "machine.dirty-tracking=ring",
      "--set",
      "machine.dirty-ring-size=256",
      "--param",
      "max-bandwidth=32MiB/s",
      "--strategies",
      "precopy+dirty-limit",
      "--require-converged",
      "--json",
    );
    expect(p.code, p.err).toBe(0);
    const report = JSON.parse(p.out) as CompareReport;
    const run = report.runs[0].report!;
    expect(run.status).toBe("completed");
    expect(run.verification.verified).toBe(true);
    const sec = run.stats!["dirty-limit"] as Record<string, number>;
    expect(sec.triggers).toBeGreaterThanOrEqual(1);
    expect(sec["vcpu0-throttled-ms"]).toBeGreaterThan(0);
  }, 300_000);

  it("refuses dirty-limit on a machine without a dirty ring (exit 2)", async () => {
    const r = await ferry(
      "compare",
      config("workload-dirty-limit"),
      "--set",
      "machine.dirty-tracking=bitmap",
      "--strategies",
      "precopy+dirty-limit",
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/dirty-ring-size/);
  });
});

describe("seed-specjbb at 1/128 with dirty rings and dirty-limit", () => {
  it("triggers, but every vCPU is under QEMU's 25 MB/s tolerance: no sleep, no convergence", async () => {
    const base = seedConfig("off", 128);
    const c = {
      ...base,
      machine: { ...base.machine, dirtyTracking: { kind: "ring" as const, ringSize: 4096 } },
      run: { ...base.run, timeLimitNs: 400e9 },
      migration: {
        ...base.migration,
        capabilities: { "auto-converge": false, "dirty-limit": true },
      },
    };
    const r = await runMigration(c);
    expect(r.status).toBe("active");
    const sec = r.stats!["dirty-limit"] as Record<string, number>;
    expect(sec.triggers).toBeGreaterThanOrEqual(1);
    expect(sec["limit-in-service"]).toBe(1);
    expect(sec["max-throttle-time-per-round"]).toBe(0);
    expect(sec["throttle-sleeps"]).toBe(0);
    expect(r.workLost!.lost).toBe(0);
  }, 300_000);
});
