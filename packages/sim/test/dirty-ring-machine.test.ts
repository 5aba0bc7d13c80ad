import { describe, expect, it } from "vitest";
import { createDirtyBitmap, PAGE_SIZE, VirtualScheduler, type Machine } from "@ferry/core";
import { createWorkloadMachine } from "../src/index";

const MiB = 2 ** 20;
const MS = 1_000_000;

const workload = {
  seed: 11,
  writesPerSecond: 20_000,
  busyShare: 1,
  distribution: { kind: "uniform" as const, footprintBytes: 2 * MiB },
};

function build(s: VirtualScheduler, ring: boolean, ringSize = 16): Machine {
  return createWorkloadMachine({
    scheduler: s,
    vcpus: 2,
    memory: { size: 4 * MiB },
    workload,
    sliceNs: MS,
    dirtyTracking: ring ? { kind: "ring", ringSize } : undefined,
  });
}

function syncPages(m: Machine): number[] {
  const into = createDirtyBitmap(m.ram.dirty.pageCount);
  m.ram.dirty.sync(into);
  const out: number[] = [];
  for (let p = into.nextSet(0); p >= 0; p = into.nextSet(p + 1)) out.push(p);
  return out;
}

describe("dirty ring in the vCPU loop", () => {
  it("option validation names the field", () => {
    const s = new VirtualScheduler();
    expect(() => build(s, true, 12)).toThrow(/dirtyTracking\.ringSize: must be a power of two/);
    expect(() =>
      createWorkloadMachine({
        scheduler: s,
        vcpus: 1,
        memory: { size: 4 * MiB },
        workload,
        dirtyTracking: { kind: "log" as "ring" },
      }),
    ).toThrow(/dirtyTracking\.kind/);
    expect(build(s, false).dirtyRings).toBeNull();
    expect(build(s, false).ram.dirty.kind).toBe("bitmap");
    expect(build(s, true).ram.dirty.kind).toBe("ring");
  });

  it("ring-full exits are reaped at once by default; the guest does the same work and dirties the same pages as with the bitmap", async () => {
    const sb = new VirtualScheduler();
    const sr = new VirtualScheduler();
    const bitmap = build(sb, false);
    const ring = build(sr, true);
    bitmap.ram.dirty.start();
    ring.ram.dirty.start();
    const pagesB: number[][] = [];
    const pagesR: number[][] = [];
    for (let period = 0; period < 5; period++) {
      await bitmap.runUntilShutdown({ timeLimitNs: 20 * MS });
      await ring.runUntilShutdown({ timeLimitNs: 20 * MS });
      pagesB.push(syncPages(bitmap));
      pagesR.push(syncPages(ring));
    }
    expect(ring.workDone()).toBe(bitmap.workDone());
    expect(pagesR).toEqual(pagesB);
    expect(pagesR[0].length).toBeGreaterThan(100);
    const stats = ring.vcpuStats();
    for (const st of stats) {
      expect(st.dirtyRingFullExits).toBeGreaterThan(5);
      expect(st.dirtyRingWaitNs).toBe(0);
    }
    expect(bitmap.vcpuStats()[0].dirtyRingFullExits).toBe(0);
  });

  it("without a reaping handler a vCPU waits on its full ring until a reset, then resumes", async () => {
    const s = new VirtualScheduler();
    const m = build(s, true, 8);
    const rings = m.dirtyRings!;
    const full: Array<[number, number]> = [];
    m.setDirtyRingFullHandler((vcpu, _rings, atNs) => {
      full.push([vcpu, atNs]);
    });
    m.ram.dirty.start();
    await m.runUntilShutdown({ timeLimitNs: 10 * MS });
    // 20,000 writes/s → 8 fresh pages take about 0.4 ms; then each vCPU waits.
    expect(full.length).toBe(2);
    expect(m.vcpus[0].activity).toBe("ring-full");
    expect(m.vcpus[1].activity).toBe("ring-full");
    expect(rings.count(0)).toBe(8);
    const work = m.workDone();
    await m.runUntilShutdown({ timeLimitNs: 10 * MS });
    expect(m.workDone()).toBe(work); // stopped while full
    const waited = m.vcpus[0].stats().dirtyRingWaitNs;
    expect(waited).toBeGreaterThan(15 * MS);
    // Harvesting alone does not free the ring; the reset does.
    expect(rings.harvest(0)).toBe(8);
    expect(m.vcpus[0].activity).toBe("ring-full");
    rings.reset();
    expect(m.vcpus[0].activity).toBe("scheduled");
    expect(m.vcpus[1].activity).toBe("ring-full");
    await m.runUntilShutdown({ timeLimitNs: 10 * MS });
    expect(m.workDone()).toBeGreaterThan(work);
    expect(full.length).toBe(3);
    // Pause and resume while waiting keep the wait.
    await m.pause();
    m.resume();
    expect(m.vcpus[1].activity).toBe("ring-full");
    rings.reap();
    expect(m.vcpus[1].activity).toBe("scheduled");
    // Every page any vCPU dirtied is returned by the next sync.
    const pages = syncPages(m);
    expect(pages.length).toBeGreaterThanOrEqual(8 + 8 + 8);
    for (const p of pages) expect(p).toBeLessThan((2 * MiB) / PAGE_SIZE);
    m.stop();
  });
});
