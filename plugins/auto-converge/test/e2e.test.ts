import { createHash } from "node:crypto";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { workloadBackend } from "@ferry/sim";
import {
  createLink,
  createMigrationManager,
  formatInfoMigrate,
  incoming,
  type Migration,
  type MigrationInfo,
} from "@ferry/migration";
import { describe, expect, it } from "vitest";
// @ferry/plugin-precopy is not a dependency of this package; reach its source directly.
import { precopy } from "@ferry/plugin-precopy";
import { autoConverge } from "../src/index";
import { MS } from "./sample";

const MiB = 1024 * 1024;
const S = 1000 * MS;

/** 64 MiB, 2 vCPUs each writing 1200 pages/s uniformly over the first 4 MiB (1024 pages). */
function machine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: workloadBackend({
      seed: 42,
      writesPerSecond: 1200,
      busyShare: 1,
      distribution: { kind: "uniform", footprintBytes: 4 * MiB },
    }),
    vcpus: 2,
    memory: { size: 64 * MiB, backend: "array" },
    sliceNs: 1 * MS,
  });
}

const ramHash = (m: Machine): string =>
  createHash("sha256").update(m.ram.backend.bytes!).digest("hex");

interface Outcome {
  m: Migration;
  src: Machine;
  s: VirtualScheduler;
  samples: MigrationInfo[];
  sameAtSwitch: boolean | null;
  throttledBefore: number;
}

async function migrate(params: Record<string, unknown> | null, limitNs: number): Promise<Outcome> {
  const s = new VirtualScheduler();
  const src = machine(s);
  const dst = machine(s);
  src.start();
  await s.run({ untilNs: 2 * S }); // the guest has written most of its 4 MiB by now
  const mgr = createMigrationManager({ plugins: [precopy(), autoConverge()] });
  if (params !== null) {
    mgr.setCapabilities({ "auto-converge": true });
    mgr.setParameters(params);
  }
  // a link of 4 MiB/s: the guest dirties ~9.4 MiB/s
  const link = createLink({
    scheduler: s,
    bandwidth: 4 * MiB,
    latency: MS,
    bufferBytes: 256 * 1024,
  });
  incoming({ machine: dst, transport: link.destination });
  const throttledBefore = src.vcpuStats().reduce((a, v) => a + v.throttledNs, 0);
  const m = mgr.migrate({ machine: src, transport: link.source });
  const samples: MigrationInfo[] = [];
  let sameAtSwitch: boolean | null = null;
  m.events.on("sync", () => samples.push(m.info()));
  m.events.on("complete", () => {
    sameAtSwitch = ramHash(src) === ramHash(dst);
  });
  await s.run({
    untilNs: s.now() + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  return { m, src, s, samples, sameAtSwitch, throttledBefore };
}

type Section = Record<string, number>;

describe("auto-converge end to end (64 MiB, 4 MiB/s link)", () => {
  it("without auto-converge the migration does not converge", async () => {
    const { m, s } = await migrate(null, 40 * S);
    expect(m.status).toBe("active");
    const info = m.info();
    expect(info["cpu-throttle-percentage"]).toBeUndefined();
    expect(info["auto-converge"]).toBeUndefined();
    expect(info.ram!["dirty-sync-count"]).toBeGreaterThan(10);
    m.cancel();
    await s.run({ untilNs: s.now() + S });
    expect(m.status).toBe("cancelled");
  });

  it("with QEMU's policy it throttles step by step and converges", async () => {
    const { m, src, s, samples, sameAtSwitch, throttledBefore } = await migrate({}, 120 * S);
    expect(m.status).toBe("completed");
    expect(sameAtSwitch).toBe(true);
    const pcts = samples
      .map((i) => i["cpu-throttle-percentage"] as number | undefined)
      .filter((p): p is number => p !== undefined);
    const distinct = [...new Set(pcts)];
    expect(distinct.slice(0, 3)).toEqual([20, 30, 40]);
    expect(Math.max(...pcts)).toBeGreaterThanOrEqual(40);
    const info = m.info();
    expect(info["cpu-throttle-percentage"]).toBeUndefined(); // off once completed
    const sec = info["auto-converge"] as Section;
    expect(sec["throttle-percentage"]).toBe(0);
    expect(sec["max-throttle-percentage"]).toBe(Math.max(...pcts));
    expect(sec["throttle-steps"]).toBe(distinct.length);
    const loopThrottled = src.vcpuStats().reduce((a, v) => a + v.throttledNs, 0) - throttledBefore;
    expect(sec["throttled-ns"]).toBeGreaterThan(S);
    expect(Math.abs(sec["throttled-ns"] - loopThrottled)).toBeLessThan(2 * MS);
    expect(formatInfoMigrate(info)).toMatch(/auto converge max throttle percentage: \d+/);
    // hooks are gone: the guest runs unthrottled on the source after a resume
    const before = src.vcpuStats()[0].throttledNs;
    src.resume();
    await s.run({ untilNs: s.now() + S });
    expect(src.vcpuStats()[0].throttledNs).toBe(before);
    console.log(
      `qemu policy: total ${info["total-time"]} ms, downtime ${info.downtime} ms, max ${sec["max-throttle-percentage"]}%, steps ${sec["throttle-steps"]}, vCPU sleep ${sec["throttled-ms"]} ms`,
    );
  });

  it("with the rfc-2013 policy it converges after the 6th high period", async () => {
    const { m, samples, sameAtSwitch } = await migrate(
      { "x-auto-converge-policy": "rfc-2013" },
      120 * S,
    );
    expect(m.status).toBe("completed");
    expect(sameAtSwitch).toBe(true);
    const on = samples.findIndex((i) => i["cpu-throttle-percentage"] !== undefined);
    expect(on).toBeGreaterThan(0);
    const sec = samples[on]["auto-converge"] as Section;
    expect(sec["high-periods"]).toBe(6);
    expect(samples[on]["cpu-throttle-percentage"]).toBe(67);
    const info = m.info();
    console.log(
      `rfc-2013 policy: total ${info["total-time"]} ms, downtime ${info.downtime} ms, vCPU sleep ${(info["auto-converge"] as Section)["throttled-ms"]} ms`,
    );
  });

  it("refuses to start when max-cpu-throttle < cpu-throttle-initial", () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const mgr = createMigrationManager({ plugins: [precopy(), autoConverge()] });
    mgr.setCapabilities({ "auto-converge": true });
    mgr.setParameters({ "cpu-throttle-initial": 50, "max-cpu-throttle": 40 });
    const link = createLink({ scheduler: s, bandwidth: 4 * MiB, latency: MS });
    expect(() => mgr.migrate({ machine: src, transport: link.source })).toThrow(
      /max-cpu-throttle: expected a value from cpu-throttle-initial \(50\)/,
    );
    expect(mgr.active).toBeNull();
  });
});
