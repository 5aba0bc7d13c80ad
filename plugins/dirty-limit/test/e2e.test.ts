import { createHash } from "node:crypto";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  createLink,
  createMigrationManager,
  formatInfoMigrate,
  incoming,
  type Migration,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { autoConverge } from "@ferry/plugin-auto-converge";
import { workloadBackend } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import { dirtyLimit } from "../src/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;
const S = 1000 * MS;

/**
 * 80 MiB, 2 vCPUs: vCPU 0 writes 20,000 pages/s (~78 MB/s) over 64 MiB; vCPU 1 only reads
 * (200,000 reads/s, no writes). Dirty ring of 1024 entries (4 MiB).
 */
function machine(s: VirtualScheduler, tracking: "ring" | "bitmap" = "ring"): Machine {
  return createMachine({
    scheduler: s,
    cpu: workloadBackend({
      seed: 7,
      writesPerSecond: 20_000,
      vcpuWritesPerSecond: [20_000, 0],
      readsPerSecond: 200_000,
      busyShare: 1,
      distribution: { kind: "uniform", footprintBytes: 64 * MiB },
    }),
    vcpus: 2,
    memory: { size: 80 * MiB, backend: "array" },
    sliceNs: 10 * MS,
    dirtyTracking: { kind: tracking, ringSize: 1024 },
  });
}

const ramHash = (m: Machine): string =>
  createHash("sha256").update(m.ram.backend.bytes!).digest("hex");

interface Outcome {
  m: Migration;
  src: Machine;
  s: VirtualScheduler;
  sameAtSwitch: boolean | null;
  work: number[];
  throttled: number[];
}

async function migrate(
  caps: Record<string, boolean>,
  params: Record<string, unknown>,
  limitNs: number,
): Promise<Outcome> {
  const s = new VirtualScheduler();
  const src = machine(s);
  const dst = machine(s);
  src.start();
  await s.run({ untilNs: 1 * S });
  const mgr = createMigrationManager({ plugins: [precopy(), autoConverge(), dirtyLimit()] });
  mgr.setCapabilities(caps);
  mgr.setParameters(params);
  const link = createLink({ scheduler: s, bandwidth: 40 * MiB, latency: MS, bufferBytes: 1 * MiB });
  incoming({ machine: dst, transport: link.destination });
  const before = src.vcpuStats();
  const m = mgr.migrate({ machine: src, transport: link.source });
  let sameAtSwitch: boolean | null = null;
  let work: number[] = [];
  let throttled: number[] = [];
  m.events.on("complete", () => {
    sameAtSwitch = ramHash(src) === ramHash(dst);
    const after = src.vcpuStats();
    work = after.map((v, i) => v.workDone - before[i].workDone);
    throttled = after.map((v, i) => v.throttledNs - before[i].throttledNs);
  });
  await s.run({
    untilNs: s.now() + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  return { m, src, s, sameAtSwitch, work, throttled };
}

type Section = Record<string, number>;

describe("dirty-limit end to end (one writer vCPU, one reader vCPU, 40 MiB/s link)", () => {
  it("limits only the vCPU that dirties memory, and converges", async () => {
    const { m, src, s, sameAtSwitch, throttled, work } = await migrate(
      { "dirty-limit": true },
      {},
      60 * S,
    );
    expect(m.status).toBe("completed");
    expect(sameAtSwitch).toBe(true);
    const info = m.info();
    const sec = info["dirty-limit"] as Section;
    expect(sec.triggers).toBeGreaterThanOrEqual(1);
    expect(sec["max-throttle-time-per-round"]).toBeGreaterThan(0);
    expect(sec["vcpu0-throttled-ms"]).toBeGreaterThan(100);
    expect(sec["vcpu1-throttled-ms"]).toBe(0);
    expect(throttled[0]).toBeGreaterThan(100 * MS);
    expect(throttled[1]).toBe(0);
    // the reader did all its work: 200,000 reads per second of migration (less the downtime)
    const seconds = ((info["total-time"] as number) - (info.downtime as number)) / 1000;
    expect(work[1]).toBeGreaterThan(0.97 * 200_000 * seconds);
    console.log(
      `dirty-limit: total ${info["total-time"]} ms, downtime ${info.downtime} ms, writer slept ${sec["vcpu0-throttled-ms"]} ms, reader work ${work[1]}`,
    );
    // the limit is cancelled at the end: no stats, hooks gone
    expect(info["dirty-limit-throttle-time-per-round"]).toBeUndefined();
    expect(sec["limit-in-service"]).toBe(0);
    expect(formatInfoMigrate(info)).toMatch(/dirty limit triggers: \d+/);
    const before = src.vcpuStats()[0].throttledNs;
    src.resume();
    await s.run({ untilNs: s.now() + S });
    expect(src.vcpuStats()[0].throttledNs).toBe(before);
  });

  it("auto-converge on the same guest slows the reader vCPU too", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    await s.run({ untilNs: 1 * S });
    const mgr = createMigrationManager({ plugins: [precopy(), autoConverge(), dirtyLimit()] });
    mgr.setCapabilities({ "auto-converge": true });
    const link = createLink({ scheduler: s, bandwidth: 40 * MiB, latency: MS, bufferBytes: MiB });
    incoming({ machine: dst, transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    const reader = () => src.vcpuStats()[1].throttledNs;
    await s.run({ untilNs: 20 * S, stopWhen: () => reader() > 100 * MS });
    expect(m.status).toBe("active");
    expect(reader()).toBeGreaterThan(100 * MS);
    m.cancel();
    await s.run({ untilNs: s.now() + S });
    expect(m.status).toBe("cancelled");
  });

  it("reports query-migrate's dirty-limit fields while the limit is in service", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    await s.run({ untilNs: 1 * S });
    const mgr = createMigrationManager({ plugins: [precopy(), dirtyLimit()] });
    mgr.setCapabilities({ "dirty-limit": true });
    mgr.setParameters({ "vcpu-dirty-limit": 10, "x-vcpu-dirty-limit-period": 500 });
    const link = createLink({ scheduler: s, bandwidth: 10 * MiB, latency: MS });
    incoming({ machine: dst, transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    let seenAt = -1;
    m.events.on("sync", () => {
      const i = m.info();
      if (seenAt < 0 && i["dirty-limit-throttle-time-per-round"] !== undefined) seenAt = s.now();
    });
    await s.run({ untilNs: 30 * S, stopWhen: () => seenAt >= 0 && s.now() > seenAt + 3 * S });
    expect(seenAt).toBeGreaterThan(0);
    const info = m.info();
    expect(info["dirty-limit-throttle-time-per-round"]).toBeGreaterThan(0);
    expect(info["dirty-limit-ring-full-time"]).toBeGreaterThan(0);
    const sec = info["dirty-limit"] as Section;
    expect(sec["vcpu-dirty-limit"]).toBe(10);
    expect(sec["vcpu1-dirty-rate"]).toBe(0);
    // held near the quota (QEMU's tolerance is 25 MB/s)
    expect(sec["vcpu0-dirty-rate"]).toBeLessThanOrEqual(10 + 25);
    m.cancel();
    await s.run({ untilNs: s.now() + S });
    expect(m.status).toBe("cancelled");
  });

  it("refuses a machine without a dirty ring, and auto-converge at the same time", () => {
    const s = new VirtualScheduler();
    const src = machine(s, "bitmap");
    const mgr = createMigrationManager({ plugins: [precopy(), autoConverge(), dirtyLimit()] });
    mgr.setCapabilities({ "dirty-limit": true });
    const link = createLink({ scheduler: s, bandwidth: 4 * MiB, latency: MS });
    expect(() => mgr.migrate({ machine: src, transport: link.source })).toThrow(/dirty-ring-size/);
    expect(mgr.active).toBeNull();
    expect(() => mgr.setCapabilities({ "auto-converge": true })).toThrow(/dirty-limit/);
    expect(() => mgr.setParameters({ "vcpu-dirty-limit": 0 })).toThrow(/vcpu-dirty-limit/);
    expect(() => mgr.setParameters({ "x-vcpu-dirty-limit-period": 1001 })).toThrow(
      /x-vcpu-dirty-limit-period/,
    );
  });
});
