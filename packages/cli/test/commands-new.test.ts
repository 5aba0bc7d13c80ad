import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  buildReportSeries,
  CSV_COLUMNS,
  type CompareReport,
  captureIo,
  commands,
  importPlugin,
  type MigrateReport,
  main,
  parseStrategySet,
  parseStrategySets,
  type RestoreReport,
  resolveModule,
  type SnapshotReport,
  UsageError,
} from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const config = (name: string): string => join(root, "examples/configs", `${name}.yaml`);
const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const RATE_CONVERGE_PATH = "plugins.0=../plugin-authoring/src/index.ts";

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

describe("--help on every command", () => {
  for (const c of commands) {
    it(`ferry ${c.name} --help prints its usage and exits 0`, async () => {
      const r = await ferry(c.name, "--help");
      expect(r.code).toBe(0);
      expect(r.out).toBe(c.help);
      expect(r.out).toMatch(new RegExp(`^Usage:\\s+ferry ${c.name}`));
      expect(r.out).toContain("--json");
    });
  }
  it("the main help lists compare, dirty-rate, snapshot and restore", async () => {
    const r = await ferry("--help");
    expect(r.out).toMatch(/compare .*\n.*dirty-rate .*\n.*snapshot .*\n.*restore /);
  });
});

describe("strategy sets", () => {
  it("parses capabilities and parameters", () => {
    expect(parseStrategySet("precopy")).toEqual({
      label: "precopy",
      capabilities: [],
      parameters: {},
    });
    expect(
      parseStrategySet(
        "precopy+xbzrle+auto-converge:x-auto-converge-policy=rfc-2013,cpu-throttle-initial=30",
      ),
    ).toEqual({
      label: "precopy+xbzrle+auto-converge:x-auto-converge-policy=rfc-2013,cpu-throttle-initial=30",
      capabilities: ["xbzrle", "auto-converge"],
      parameters: { "x-auto-converge-policy": "rfc-2013", "cpu-throttle-initial": "30" },
    });
    expect(parseStrategySets(["precopy precopy+xbzrle", "xbzrle"]).map((s) => s.label)).toEqual([
      "precopy",
      "precopy+xbzrle",
      "xbzrle",
    ]);
  });
  it("refuses malformed sets with what was expected and found", () => {
    expect(() => parseStrategySet("precopy++xbzrle")).toThrow(/found "" where a capability name/);
    expect(() => parseStrategySet("auto-converge:cpu-throttle-initial")).toThrow(/param=value/);
    expect(() => parseStrategySet("xbzrle+xbzrle")).toThrow(/twice/);
    expect(() => parseStrategySets(["precopy", "precopy"])).toThrow(UsageError);
    expect(() => parseStrategySets([])).toThrow(/at least one/);
  });
});

describe("ferry compare", () => {
  it("runs every set deterministically, one table, exit 0 when some do not converge (1 with --require-converged); report files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-compare-"));
    const args = [
      "compare",
      config("workload-small"),
      "--strategies",
      "precopy",
      "precopy+xbzrle",
      "precopy+auto-converge:cpu-throttle-initial=30",
      "--param",
      "max-bandwidth=8MiB/s",
    ];
    const r = await ferry(...args, "--json", "--report", dir);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as CompareReport;
    expect(rep.notConverged).toEqual(["precopy", "precopy+auto-converge:cpu-throttle-initial=30"]);
    expect(rep.rows.map((x) => [x.strategy, x.status])).toEqual([
      ["precopy", "active"],
      ["precopy+xbzrle", "completed"],
      ["precopy+auto-converge:cpu-throttle-initial=30", "active"],
    ]);
    const [plain, xb, ac] = rep.rows;
    expect(plain.maxThrottlePercent).toBe(0);
    expect(plain.workLost).toBe(0); // nothing throttles: the twin and the guest do the same work
    expect(xb.downtimeMs).toBeGreaterThan(0);
    expect(xb.iterations).toBeGreaterThan(1);
    expect(xb.transferredBytes).toBeLessThan(plain.transferredBytes!);
    expect(ac.maxThrottlePercent).toBeGreaterThanOrEqual(30);
    expect(ac.workLost).toBeGreaterThan(0);
    expect(ac.workLostShare).toBeGreaterThan(0);
    expect(rep.runs[0].capabilities).toMatchObject({ xbzrle: false, "auto-converge": false });
    expect(rep.runs[2].report?.parameters).toMatchObject({ "cpu-throttle-initial": 30 });

    // the same comparison as text: the same numbers (deterministic)
    const t = await ferry(...args);
    expect(t.code).toBe(0);
    expect(t.err).toContain(
      "not converged: precopy, precopy+auto-converge:cpu-throttle-initial=30 (exit 0,",
    );
    const strict = await ferry(...args, "--require-converged", "--json");
    expect(strict.code).toBe(1);
    expect((JSON.parse(strict.out) as CompareReport).status).toBe("failed");
    expect(t.out).toMatch(
      /^strategy\s+status\s+total time\s+downtime\s+transferred\s+iterations\s+max throttle\s+guest work lost\n/,
    );
    expect(t.out).toMatch(
      new RegExp(`precopy\\+xbzrle\\s+completed\\s+${xb.totalTimeMs} ms\\s+${xb.downtimeMs} ms`),
    );
    expect(t.out).toContain("not converged");

    // report.json has everything; series.csv one row per sample of every run
    const json = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as CompareReport;
    expect(json.rows).toEqual(rep.rows);
    const series = json.runs[2].report!.series;
    expect(series.length).toBeGreaterThan(10);
    expect(Object.keys(series[0])).toEqual(
      expect.arrayContaining([
        "timeNs",
        "remainingBytes",
        "dirtyRate",
        "transferRate",
        "throttlePercent",
        "guestWorkRate",
        "referenceWorkRate",
      ]),
    );
    expect(series.some((s) => s.throttlePercent >= 30)).toBe(true);
    expect(series.some((s) => s.guestWorkRate < s.referenceWorkRate)).toBe(true);
    const csv = readFileSync(join(dir, "series.csv"), "utf8").trimEnd().split("\n");
    expect(csv[0]).toBe(CSV_COLUMNS.join(","));
    const total = json.runs.reduce((n, run) => n + run.report!.series.length, 0);
    expect(csv.length).toBe(1 + total);
    expect(csv[1]).toMatch(/^precopy,sync,0,1,67108864,/);
    expect(csv.every((line) => line.split(",").length === CSV_COLUMNS.length)).toBe(true);

    // report.html: self-contained, five charts with axis titles, legends and hover titles
    const html = readFileSync(join(dir, "report.html"), "utf8");
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/);
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(5);
    for (const svg of svgs) {
      expect(svg).toContain("time since migration start (s)");
      expect(svg).toContain(">precopy+xbzrle<");
      expect(svg).toMatch(/<title>precopy\+xbzrle · (sync|tick) \d+ · t=[\d.]+ s · /);
    }
    expect(svgs[0]).toContain("remaining dirty memory (MiB)");
    expect(svgs[0]).toContain("switchover threshold (bandwidth × downtime-limit)");
    expect(svgs[0]).toContain("<title>precopy+xbzrle · switchover at 0.");
    expect(svgs[1]).toContain("transferred (MiB)");
    expect(svgs[1]).toContain(">strategy set<");
    expect(svgs[2]).toContain("rate (MiB/s)");
    expect(svgs[2]).toContain(">dirty rate<");
    expect(svgs[2]).toContain(">bandwidth (transfer rate)<");
    expect(svgs[3]).toContain("cpu-throttle-percentage (%)");
    expect(svgs[3]).toContain(">strategy set<");
    expect(svgs[4]).toMatch(/(thousand )?operations\/s per vCPU/);
    expect(svgs[4]).toContain(">unmigrated twin<");
    expect(html).toContain("<td>precopy+xbzrle</td>");
  }, 60_000);

  it("refuses an unknown capability before running anything (exit 2)", async () => {
    const r = await ferry(
      "compare",
      config("workload-small"),
      "--strategies",
      "precopy",
      "precopy+nosuch",
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nosuch/);
    expect(r.err).not.toContain("compare 1/");
  });

  it("usage errors: no config, no --strategies", async () => {
    expect((await ferry("compare", "--strategies", "precopy")).code).toBe(2);
    const r = await ferry("compare", config("workload-small"), "--json");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ status: "error", exitCode: 2 });
  });

  it("Ctrl-C (an aborted signal) cancels the current run cleanly and skips the rest (exit 130)", async () => {
    const { runCompare, loadConfig } = await import("../src");
    const cfg = loadConfig(config("workload-small"));
    const abort = new AbortController();
    const rep = await runCompare(cfg, parseStrategySets(["precopy", "precopy+xbzrle"]), {
      parameters: { "max-bandwidth": "8MiB/s" },
      signal: abort.signal,
      onProgress: (_label, p) => {
        if (p.iteration >= 2) abort.abort();
      },
    });
    expect(rep.exitCode).toBe(130);
    expect(rep.status).toBe("interrupted");
    expect(rep.rows.map((r) => r.status)).toEqual(["cancelled", "not-run"]);
    expect(rep.runs[0].report?.message).toMatch(/interrupted/);
  });
});

describe("ferry migrate --report", () => {
  it("writes report.json, series.csv and report.html for one run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-migrate-"));
    const r = await ferry("migrate", config("workload-small"), "--report", dir, "--json");
    expect(r.code).toBe(0);
    const rep = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as MigrateReport;
    expect(rep).toEqual(JSON.parse(r.out));
    expect(rep.workLost).toMatchObject({ unit: "operations", spanStartNs: 500_000_000 });
    expect(rep.workLost!.reference).toBeGreaterThan(0);
    expect(rep.workLost!.lost).toBe(rep.workLost!.reference - rep.workLost!.migrated);
    const html = readFileSync(join(dir, "report.html"), "utf8");
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(5);
    expect(svgs[0]).toContain(">series<"); // one run: coloured by measure
    expect(svgs[0]).toContain(">remaining<");
    expect(svgs[4]).toContain(">migrated guest<");
    const csv = readFileSync(join(dir, "series.csv"), "utf8").trimEnd().split("\n");
    expect(csv).toHaveLength(1 + rep.series.length);
  }, 30_000);
});

describe("report series", () => {
  it("joins framework samples with work samples: throttle at or before, rate of the interval", () => {
    const t = (kind: "sync" | "tick", timeNs: number) => ({
      kind,
      timeNs,
      remainingBytes: 0,
      dirtyRate: 2,
      transferRate: 0,
      iteration: 1,
    });
    const work = [
      { timeNs: 0, work: 0, referenceWork: 0, throttlePercent: 0 },
      { timeNs: 1e9, work: 100, referenceWork: 200, throttlePercent: 20 },
      { timeNs: 2e9, work: 150, referenceWork: 400, throttlePercent: 30 },
    ];
    const rows = buildReportSeries(
      [t("sync", 0), t("tick", 5e8), t("sync", 1e9), t("tick", 1.5e9)],
      work,
    );
    expect(rows.map((r) => r.throttlePercent)).toEqual([0, 0, 20, 20]);
    expect(rows.map((r) => r.guestWorkRate)).toEqual([100, 100, 100, 50]);
    expect(rows.map((r) => r.referenceWorkRate)).toEqual([200, 200, 200, 200]);
    expect(rows[0].dirtyBytesPerSec).toBe(8192);
  });
});

describe("ferry snapshot / restore", () => {
  it("restore: output after the snapshot point and exit equal the unmigrated run's", () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-snap-"));
    const file = join(dir, "memtouch.snap");
    const cfg = config("memtouch-migrate");
    const short = ["--set", "guest.args.2=3"]; // 3 passes instead of 6
    const full = ferryProcess("run", cfg, ...short, "--json");
    const ref = JSON.parse(full.out) as {
      guestOutput: string;
      exitCode: number;
      guestCode: number;
    };
    expect(ref.guestOutput).toContain("memtouch done: passes=3");
    const s = ferryProcess("snapshot", cfg, ...short, "--at", "150ms", "--out", file, "--json");
    expect(s.code).toBe(0);
    const snap = JSON.parse(s.out) as SnapshotReport;
    expect(snap).toMatchObject({ status: "saved", atNs: 150_000_000 });
    expect(snap.snapshot!.normalPages + snap.snapshot!.zeroPages).toBe(4096);
    const r = ferryProcess("restore", cfg, file, ...short, "--json");
    const rest = JSON.parse(r.out) as RestoreReport;
    expect(r.code).toBe(ref.exitCode);
    expect(rest.guestCode).toBe(ref.guestCode);
    expect(rest.snapshotAtNs).toBe(150_000_000);
    expect(snap.guestOutput).toMatch(/^memtouch: ws=4194304/);
    expect(rest.guestOutput).toMatch(/memtouch done: passes=3/);
    expect(snap.guestOutput + rest.guestOutput).toBe(ref.guestOutput);
    // text mode streams the output after the snapshot point
    const txt = ferryProcess("restore", cfg, file, ...short);
    expect(txt.out).toBe(rest.guestOutput);
    expect(txt.err).toMatch(/restored from 150\.000 ms; pass \(guest code 0\)/);
  }, 60_000);

  it("a workload restores and runs to its time limit (exit 0); a time limit before the end gives 3 for a guest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-snap-"));
    const file = join(dir, "w.snap");
    expect(
      (await ferry("snapshot", config("workload-small"), "--at", "1s", "--out", file)).code,
    ).toBe(0);
    const r = await ferry("restore", config("workload-small"), file, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ status: "done", snapshotAtNs: 1e9 });
    const g = join(dir, "g.snap");
    await ferry("snapshot", config("multihart"), "--at", "2ms", "--out", g);
    const limited = await ferry("restore", config("multihart"), g, "--set", "run.time-limit=3ms");
    const unmigrated = await ferry("run", config("multihart"), "--set", "run.time-limit=3ms");
    expect(limited.code).toBe(unmigrated.code);
    expect(limited.code).toBe(3);
  }, 60_000);

  it("bad input exits 2 with a clear message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-snap-"));
    const missing = await ferry("restore", config("hello"), join(dir, "nope.snap"));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/expected a snapshot file, found no file/);
    const junk = join(dir, "junk.snap");
    writeFileSync(junk, "not a snapshot");
    expect((await ferry("restore", config("hello"), junk)).code).toBe(2);
    const file = join(dir, "w.snap");
    await ferry("snapshot", config("workload-small"), "--at", "100ms", "--out", file);
    const other = await ferry("restore", config("workload-small"), file, "--set", "name=other");
    expect(other.code).toBe(2);
    expect(other.err).toMatch(
      /expected a snapshot of config "other", found one of "workload-small"/,
    );
    expect((await ferry("snapshot", config("hello"), "--at", "soon", "--out", file)).code).toBe(2);
    expect((await ferry("snapshot", config("hello"), "--at", "1s")).code).toBe(2);
    const ended = await ferry(
      "snapshot",
      config("hello"),
      "--at",
      "10s",
      "--out",
      join(dir, "h.snap"),
    );
    expect(ended.code).toBe(1);
    expect(ended.err).toMatch(/before the snapshot time/);
  }, 30_000);
});

describe("plugins from configs", () => {
  it("resolves paths and packages like an import from a directory", () => {
    expect(resolveModule("./not-a-plugin.ts", fixtures)).toBe(join(fixtures, "not-a-plugin.ts"));
    expect(resolveModule("./not-a-plugin", fixtures)).toBe(join(fixtures, "not-a-plugin.ts"));
    expect(resolveModule("zod", join(root, "packages/cli/src"))).toMatch(/zod/);
    expect(() => resolveModule("no-such-package-here", fixtures)).toThrow(/package not found/);
  });

  it("loads a named `plugin` export and a default factory", async () => {
    const named = await importPlugin({
      name: "./named-plugin.ts",
      fromDir: fixtures,
      origin: "test",
    });
    expect(named().name).toBe("fixture-plugin");
    const rc = await importPlugin({
      name: "../plugin-authoring/src/index.ts",
      fromDir: join(root, "examples/configs"),
      origin: "test",
    });
    expect(rc().name).toBe("rate-converge");
    expect(rc()).not.toBe(rc()); // a factory: fresh instances
  });

  it("workload-rate-converge.yaml: plain pre-copy does not converge, rate-converge completes", async () => {
    const r = await ferry(
      "compare",
      config("workload-rate-converge"),
      "--set",
      RATE_CONVERGE_PATH,
      "--strategies",
      "precopy",
      "precopy+rate-converge",
      "--json",
    );
    const rep = JSON.parse(r.out) as CompareReport;
    expect(rep.rows.map((x) => x.status)).toEqual(["active", "completed"]);
    expect(rep.rows[1].maxThrottlePercent).toBeGreaterThan(0);
    expect(rep.runs[1].report?.verification.verified).toBe(true);
    expect(r.code).toBe(0);
  }, 60_000);

  it("--plugin loads from the working directory; the capability becomes known", async () => {
    const r = await ferry(
      "migrate",
      config("workload-small"),
      "--plugin",
      join(fixtures, "named-plugin.ts"),
      "--capability",
      "fixture-cap=on",
      "--json",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).capabilities).toMatchObject({ "fixture-cap": true });
  }, 30_000);

  it("a plugin that cannot be loaded or is not a plugin: exit 2, clear message", async () => {
    const missing = await ferry(
      "migrate",
      config("workload-small"),
      "--set",
      "plugins.0=no-such-ferry-plugin",
    );
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(
      /plugin "no-such-ferry-plugin" \(plugins in .*workload-small.yaml\): cannot be resolved/,
    );
    const notPlugin = await ferry(
      "migrate",
      config("workload-small"),
      "--plugin",
      join(fixtures, "not-a-plugin.ts"),
    );
    expect(notPlugin.code).toBe(2);
    expect(notPlugin.err).toMatch(
      /is not a plugin: expected a default export that is a plugin factory/,
    );
    expect(notPlugin.err).toMatch(/found default: an object with keys hello/);
  });

  it.skipIf(
    !(() => {
      try {
        resolveModule("ferry-plugin-rate-converge", join(root, "examples/configs"));
        return true;
      } catch {
        return false;
      }
    })(),
  )("the package name resolves from examples/configs (needs the root devDependency)", async () => {
    const r = await ferry("config", "check", config("workload-rate-converge"));
    expect(r.code).toBe(0);
    const p = await importPlugin({
      name: "ferry-plugin-rate-converge",
      fromDir: join(root, "examples/configs"),
      origin: "test",
    });
    expect(p().name).toBe("rate-converge");
  });
});
