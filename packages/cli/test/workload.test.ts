import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VirtualScheduler } from "@ferry/core";
import { describe, expect, it } from "vitest";
import {
  buildWorkloadMachine,
  captureIo,
  ConfigError,
  configJsonSchema,
  countSetPages,
  loadConfig,
  main,
  parseConfigText,
  type WorkloadRunReport,
} from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const small = join(root, "examples/configs/workload-small.yaml");
const GiB = 2 ** 30;
const MiB = 2 ** 20;

function issuesOf(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

async function ferry(...argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

const WL = (body: string, machine = "{ memory: 256GiB, ram-backend: synthetic }") =>
  `name: w\nmachine: ${machine}\nworkload:\n${body}`;

describe("workload configs", () => {
  it("parses a 256 GiB hot-cold workload with sizes, defaults and the 10 ms slice", () => {
    const c = parseConfigText(
      WL(
        "  writes-per-second: 4218.75\n  busy-share: 0.8\n" +
          "  distribution: { kind: hot-cold, hot-bytes: 1GiB, hot-share: 0.9, footprint-bytes: 9GiB }\n",
      ),
    );
    expect(c.guest).toBeUndefined();
    expect(c.machine).toMatchObject({
      memoryBytes: 256 * GiB,
      ramBackend: "synthetic",
      sliceNs: 10_000_000,
    });
    expect(c.workload).toEqual({
      seed: 1, // run.seed
      writesPerSecond: 4218.75,
      busyShare: 0.8,
      readsPerWrite: 0,
      readsPerSecond: 0,
      vcpuWritesPerSecond: undefined,
      distribution: { kind: "hot-cold", hotBytes: GiB, hotShare: 0.9, footprintBytes: 9 * GiB },
      bytesPerWrite: 8,
      zeroShare: 0,
      deltaWindow: 1,
      prefillBytes: 0,
    });
  });

  it("converts every distribution kind to core's shape", () => {
    const d = (text: string) =>
      parseConfigText(WL(`  writes-per-second: 1\n  distribution: ${text}\n`)).workload!
        .distribution;
    expect(d("{ kind: uniform }")).toEqual({ kind: "uniform", footprintBytes: undefined });
    expect(d("{ kind: zipf, s: 1.2, footprint-bytes: 8MiB }")).toEqual({
      kind: "zipf",
      s: 1.2,
      footprintBytes: 8 * MiB,
    });
    expect(d("{ kind: sequential, footprint-bytes: 1MiB, stride-bytes: 64 }")).toEqual({
      kind: "sequential",
      footprintBytes: MiB,
      strideBytes: 64,
    });
  });

  it("accepts machine.slice and a seed of its own", () => {
    const c = parseConfigText(
      WL(
        "  seed: 9\n  writes-per-second: 1\n  distribution: { kind: uniform }\n",
        "{ slice: 1ms }",
      ),
    );
    expect(c.machine.sliceNs).toBe(1_000_000);
    expect(c.workload!.seed).toBe(9);
    expect(
      parseConfigText("name: t\nguest: { elf: g }\nmachine: { slice: 20us }\n").machine.sliceNs,
    ).toBe(20_000);
  });

  it("reports bad workload input with paths", () => {
    const err = issuesOf(() =>
      parseConfigText(
        WL(
          "  writes-per-second: -1\n  busy-share: 2\n  colour: red\n" +
            "  distribution: { kind: hot-cold, hot-bytes: 1000, hot-share: 0.5 }\n",
        ),
      ),
    );
    const msg = Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
    expect(msg["workload.writes-per-second"]).toBe("expected >= 0, found -1");
    expect(msg["workload.busy-share"]).toBe("expected <= 1, found 2");
    expect(msg["workload.colour"]).toBe('unknown field "colour"');
    expect(msg["workload.distribution.hot-bytes"]).toMatch(/whole number of 4KiB pages/);
    const kind = issuesOf(() =>
      parseConfigText(WL("  writes-per-second: 1\n  distribution: { kind: gaussian }\n")),
    );
    expect(kind.issues[0].message).toMatch(/kind "uniform", "hot-cold", "zipf" or "sequential"/);
  });

  it("prefills the footprint (workload.prefill-bytes) and sizes the link buffer", async () => {
    const text = WL(
      "  writes-per-second: 0\n  distribution: { kind: uniform, footprint-bytes: 1MiB }\n" +
        "  prefill-bytes: 64KiB\n",
      "{ memory: 2MiB }",
    );
    const c = parseConfigText(`${text}migration: { link: { buffer: 4MiB } }\n`);
    expect(c.workload!.prefillBytes).toBe(64 * 1024);
    expect(c.migration.link.bufferBytes).toBe(4 * MiB);
    const m = buildWorkloadMachine(c, new VirtualScheduler());
    expect(m.ram.backend.isZeroPage(15)).toBe(false);
    expect(m.ram.backend.isZeroPage(16)).toBe(true);
    const synthetic = buildWorkloadMachine(
      parseConfigText(text.replace("{ memory: 2MiB }", "{ memory: 2MiB, ram-backend: synthetic }")),
      new VirtualScheduler(),
    );
    expect(synthetic.ram.backend.isZeroPage(15)).toBe(false);
    expect(synthetic.ram.backend.isZeroPage(16)).toBe(true);
    const msgOf = (t: string) => issuesOf(() => parseConfigText(t)).issues;
    expect(msgOf(text.replace("64KiB", "2MiB"))[0]).toMatchObject({
      path: "workload.prefill-bytes",
      message: "expected at most the footprint (1048576 bytes), found 2097152",
    });
    expect(msgOf(text.replace("64KiB", "100"))[0]).toMatchObject({
      path: "workload.prefill-bytes",
    });
    expect(msgOf(`${text}migration: { link: { buffer: 1KiB } }\n`)[0]).toMatchObject({
      path: "migration.link.buffer",
    });
  });

  it("enforces the cross-field rules", () => {
    const msgOf = (text: string) => issuesOf(() => parseConfigText(text)).issues;
    expect(
      msgOf(WL("  writes-per-second: 1\n  distribution: { kind: uniform }\n", "{ memory: 4GiB }")),
    ).toEqual([
      expect.objectContaining({
        path: "machine.memory",
        message: expect.stringMatching(/at most 2GiB with ram-backend "array"/),
      }),
    ]);
    expect(
      msgOf("name: t\nguest: { elf: g }\nmachine: { ram-backend: synthetic }\n")[0],
    ).toMatchObject({ path: "machine.ram-backend" });
    expect(
      msgOf(
        WL("  writes-per-second: 1\n  distribution: { kind: uniform }\n") + "guest: { elf: g }\n",
      )[0],
    ).toMatchObject({ path: "workload", message: "expected either guest or workload, found both" });
    expect(
      msgOf(
        WL(
          "  writes-per-second: 1\n  distribution: { kind: zipf, s: 1, footprint-bytes: 2MiB }\n",
          "{ memory: 1MiB }",
        ),
      )[0],
    ).toMatchObject({ path: "workload.distribution.footprint-bytes" });
    expect(
      msgOf(
        WL(
          "  writes-per-second: 1\n  distribution: { kind: hot-cold, hot-bytes: 2MiB, hot-share: 1, footprint-bytes: 1MiB }\n",
        ),
      )[0],
    ).toMatchObject({ path: "workload.distribution.hot-bytes" });
    expect(
      msgOf(
        WL(
          "  writes-per-second: 1\n  distribution: { kind: uniform }\n",
          "{ memory: 2TiB, ram-backend: synthetic }",
        ),
      )[0],
    ).toMatchObject({ path: "machine.memory", message: expect.stringMatching(/at most 1TiB/) });
  });

  it("publishes the workload section in the JSON schema", () => {
    const schema = configJsonSchema() as {
      properties: {
        workload: { properties: Record<string, unknown> };
        machine: { properties: Record<string, unknown> };
      };
    };
    expect(Object.keys(schema.properties.workload.properties).sort()).toEqual(
      [
        "busy-share",
        "bytes-per-write",
        "delta-window",
        "prefill-bytes",
        "distribution",
        "reads-per-write",
        "reads-per-second",
        "seed",
        "vcpu-writes-per-second",
        "writes-per-second",
        "zero-share",
      ].sort(),
    );
    expect(schema.properties.machine.properties).toHaveProperty("slice");
  });
});

describe("workload machine and ferry run", () => {
  it("builds a 256 GiB synthetic machine whose vCPUs dirty the footprint deterministically", async () => {
    const config = loadConfig(small, [
      "machine.ram-backend=synthetic",
      "machine.memory=256GiB",
      "workload.distribution.footprint-bytes=9GiB",
      "workload.distribution.hot-bytes=1GiB",
    ]);
    const scheduler = new VirtualScheduler();
    const wm = buildWorkloadMachine(config, scheduler);
    expect(wm.ram.size).toBe(256 * GiB);
    expect(wm.ram.backend.kind).toBe("synthetic");
    wm.ram.dirty.start();
    wm.start();
    await scheduler.run({ untilNs: 1e9 });
    await wm.pause();
    expect(wm.state).toBe("paused");
    // 2 vCPUs x 5000 writes/s x 0.8 busy x 1 s = 8000 writes, plus 3 reads each; a slice does
    // its work when it starts, and the slices starting at exactly 1 s (40 writes each) count too.
    expect(wm.workDone()).toBe((8000 + 2 * 40) * 4);
    const dirtied = countSetPages(wm.ram.dirty.words);
    expect(dirtied).toBeGreaterThan(1000);
    expect(dirtied).toBeLessThanOrEqual(8000);
    const saved = wm.saveState();
    expect(saved.vcpus).toHaveLength(2);
    const again = buildWorkloadMachine(config, new VirtualScheduler());
    again.loadState(saved);
    expect(again.saveState()).toEqual(saved);
    expect(() => again.loadState({ ...saved, vcpus: [] })).toThrow(/expected 2 vCPU states/);
    expect(() => again.loadState({ ...saved, devices: {} })).toThrow(/expected devices/);
  });

  it("ferry run reports operations and pages dirtied, deterministically", async () => {
    const a = await ferry("run", small, "--json");
    expect(a.code).toBe(0);
    const r = JSON.parse(a.out) as WorkloadRunReport;
    expect(r).toMatchObject({ status: "done", exitCode: 0, kind: "workload", virtualTimeNs: 3e9 });
    expect(r.operations).toBe((3 * 8000 + 2 * 40) * 4);
    expect(r.pagesDirtied).toBeGreaterThan(256); // the hot MiB and part of the cold 15 MiB
    expect(r.pagesDirtied).toBeLessThanOrEqual(4096);
    const b = JSON.parse((await ferry("run", small, "--json")).out) as WorkloadRunReport;
    expect({ ...b, wallMs: 0 }).toEqual({ ...r, wallMs: 0 });
    const text = await ferry("run", small);
    expect(text.err).toMatch(
      /^ferry: workload-small: done after 3\.000 s virtual, 96320 operations, \d+ pages dirtied/,
    );
  });

  it("counts set pages in a bitmap", () => {
    expect(countSetPages(Uint32Array.from([0, 1, 0xffffffff, 0x80000001]))).toBe(1 + 32 + 2);
  });
});
