import { CPU_THROTTLE_TIMESLICE_NS, type PreRunHook, type ThrottleableVcpu } from "@ferry/core";
import type { SyncStats } from "@ferry/migration";
import { describe, expect, it } from "vitest";
import { createRateConvergeInstance, DEFAULT_RATE_CONVERGE_SETTINGS } from "../src/index";

const MS = 1_000_000;
const MiB = 1024 * 1024;

interface FakeVcpu extends ThrottleableVcpu {
  hooks: PreRunHook[];
  kicks: number;
  entry(nowNs: number): number;
}

function fakeVcpu(index: number): FakeVcpu {
  const v: FakeVcpu = {
    hooks: [],
    kicks: 0,
    addPreRunHook(hook) {
      v.hooks.push(hook);
      return () => {
        v.hooks = v.hooks.filter((h) => h !== hook);
      };
    },
    kick() {
      v.kicks++;
    },
    entry(nowNs) {
      let sleep = 0;
      for (const h of v.hooks) sleep += h({ vcpuIndex: index, nowNs });
      return sleep;
    },
  };
  return v;
}

function sync(nowNs: number, periodNs: number, dirtyBytes: number, sentBytes: number): SyncStats {
  return {
    nowNs,
    syncCount: 2,
    dirtyPagesPeriod: dirtyBytes / 4096,
    dirtyBytesPeriod: dirtyBytes,
    bytesSentPeriod: sentBytes,
    periodNs,
    dirtyRate: 0,
    remainingBytes: 0,
  };
}

describe("rate-converge instance", () => {
  it("waits for a full window, then sets the needed throttle in one step", () => {
    let now = 0;
    const vcpus = [fakeVcpu(0), fakeVcpu(1)];
    const inst = createRateConvergeInstance({
      settings: DEFAULT_RATE_CONVERGE_SETTINGS,
      vcpus,
      now: () => now,
    });
    // Half a window: nothing decided yet.
    now = 500 * MS;
    inst.onSync(sync(now, 500 * MS, 4 * MiB, 2 * MiB));
    expect(inst.evaluations).toHaveLength(0);
    expect(inst.pct).toBe(0);
    // A full second: 8 MiB dirtied, 4 MiB sent → 8 (1 − p) ≤ 0.5 × 4 → 75 %.
    now = 1000 * MS;
    inst.onSync(sync(now, 500 * MS, 4 * MiB, 2 * MiB));
    expect(inst.evaluations).toHaveLength(1);
    expect(inst.evaluations[0]).toMatchObject({
      windowNs: 1000 * MS,
      dirtyRate: 8 * MiB,
      bandwidth: 4 * MiB,
      previousPct: 0,
      pct: 75,
    });
    expect(inst.pct).toBe(75);
    for (const v of vcpus) {
      expect(v.hooks).toHaveLength(1);
      expect(v.kicks).toBe(1);
      expect(v.entry(now)).toBe(30 * MS);
    }
    expect(inst.stats()["cpu-throttle-percentage"]).toBe(75);
    // Next window under 75 %: 2 MiB dirtied in 1 s while running 25 % of it = 8 MiB/s
    // unthrottled again → the throttle stays.
    now = 2000 * MS;
    inst.onSync(sync(now, 1000 * MS, 2 * MiB, 4 * MiB));
    expect(inst.evaluations[1].dirtyRate).toBeCloseTo(8 * MiB, 0);
    expect(inst.pct).toBe(75);
    expect(vcpus[0].kicks).toBe(1);
    // The guest calms down: 1 MiB in a 25 %-running second = 4 MiB/s → 50 %.
    now = 3000 * MS;
    inst.onSync(sync(now, 1000 * MS, 1 * MiB, 4 * MiB));
    expect(inst.pct).toBe(50);
    expect(vcpus[0].kicks).toBe(2);
    expect(inst.sleptNs()).toBe(2 * 30 * MS); // one 75 % sleep each, long over
    expect(vcpus[0].entry(now)).toBe(10 * MS); // 50 %: due at once
    // Nearly idle: the throttle comes off.
    now = 4000 * MS;
    inst.onSync(sync(now, 1000 * MS, 64 * 1024, 4 * MiB));
    expect(inst.pct).toBe(0);
    expect(vcpus[0].hooks).toHaveLength(0);
    const sec = inst.stats()["rate-converge"] as Record<string, number>;
    expect(sec).toMatchObject({
      "throttle-percentage": 0,
      "max-throttle-percentage": 75,
      "throttle-changes": 3,
      evaluations: 4,
    });
    expect(inst.stats()["cpu-throttle-percentage"]).toBeUndefined();
  });

  it("does nothing until bytes were sent, and removes its hooks at the end", () => {
    let now = 0;
    const v = fakeVcpu(0);
    const inst = createRateConvergeInstance({
      settings: { targetRatio: 1, maxThrottlePct: 40, windowNs: 100 * MS },
      vcpus: [v],
      now: () => now,
    });
    now = 200 * MS;
    inst.onSync(sync(now, 200 * MS, 4 * MiB, 0));
    expect(inst.evaluations).toHaveLength(0);
    now = 400 * MS;
    inst.onSync(sync(now, 200 * MS, 4 * MiB, 64 * 1024));
    expect(inst.pct).toBe(40); // capped
    expect(v.entry(now)).toBe(Math.round((CPU_THROTTLE_TIMESLICE_NS * 40) / 60));
    inst.onEnd("completed");
    expect(v.hooks).toHaveLength(0);
    expect(inst.pct).toBe(0);
    now = 800 * MS;
    inst.onSync(sync(now, 400 * MS, 4 * MiB, 64 * 1024));
    expect(inst.pct).toBe(0); // ended: no new hooks
    expect(v.hooks).toHaveLength(0);
  });
});
