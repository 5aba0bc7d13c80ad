import type { PreRunHook, ThrottleableVcpu } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { createAutoConvergeInstance, createPolicy, DEFAULT_SETTINGS } from "../src/index";
import { feed, MS } from "./sample";

function fakeVcpus(n: number) {
  const hooks: Array<PreRunHook | null> = new Array(n).fill(null);
  const kicks: number[] = new Array(n).fill(0);
  const vcpus: ThrottleableVcpu[] = hooks.map((_, i) => ({
    addPreRunHook(h: PreRunHook) {
      hooks[i] = h;
      return () => {
        hooks[i] = null;
      };
    },
    kick: () => kicks[i]++,
  }));
  return { hooks, kicks, vcpus };
}

describe("auto-converge instance", () => {
  it("throttles on the policy's action, reports stats, and cleans up at the end", () => {
    const { hooks, kicks, vcpus } = fakeVcpus(2);
    let now = 0;
    let paused = false;
    const inst = createAutoConvergeInstance({
      policy: createPolicy(DEFAULT_SETTINGS),
      vcpus,
      now: () => now,
      isPaused: () => paused,
    });
    const sync = feed();
    const step = (dirty: number, sent: number, periodMs = 1000) => {
      const s = sync(periodMs, dirty, sent);
      now = s.nowNs;
      inst.onSync({ ...s, syncCount: 1, dirtyPagesPeriod: 0, dirtyRate: 0, remainingBytes: 0 });
    };
    step(900, 1000);
    expect(inst.throttling).toBe(false);
    expect(inst.stats()["cpu-throttle-percentage"]).toBeUndefined();
    expect(hooks).toEqual([null, null]);
    step(900, 1000);
    expect(inst.throttling).toBe(true);
    expect(kicks).toEqual([1, 1]);
    expect(inst.stats()["cpu-throttle-percentage"]).toBe(20);
    expect(hooks[0]!({ vcpuIndex: 0, nowNs: now })).toBe(2.5 * MS);
    expect(hooks[1]!({ vcpuIndex: 1, nowNs: now })).toBe(2.5 * MS);
    now += 1 * MS;
    expect(inst.sleptNs()).toBe(2 * MS);
    // the machine paused for switchover: the sleeps in progress end now
    paused = true;
    step(0, 0, 1); // at now (1 ms into the sleeps)
    now += 10 * MS;
    expect(inst.sleptNs()).toBe(2 * MS);
    inst.onEnd("completed");
    expect(hooks).toEqual([null, null]);
    expect(kicks).toEqual([2, 2]);
    const st = inst.stats();
    expect(st["cpu-throttle-percentage"]).toBeUndefined();
    expect(st["auto-converge"]).toMatchObject({
      "throttle-percentage": 0,
      "max-throttle-percentage": 20,
      "throttle-steps": 1,
      "throttle-actions": 1,
      "high-periods": 2,
      evaluations: 2, // the 1 ms sync did not close a period
      "throttle-sleeps": 2,
      "throttled-ns": 2 * MS,
    });
    // syncs after the end change nothing
    step(900, 1000);
    step(900, 1000);
    expect(hooks).toEqual([null, null]);
  });

  it("applies the rfc-2013 policy's fixed target through the core throttle", () => {
    const { hooks, kicks, vcpus } = fakeVcpus(1);
    let now = 0;
    const inst = createAutoConvergeInstance({
      policy: createPolicy({ ...DEFAULT_SETTINGS, policy: "rfc-2013" }),
      vcpus,
      now: () => now,
    });
    const sync = feed();
    for (let i = 0; i < 7; i++) {
      expect(inst.throttling).toBe(false);
      const s = sync(1000, 8192, 10000);
      now = s.nowNs;
      inst.onSync({ ...s, syncCount: 1, dirtyPagesPeriod: 0, dirtyRate: 0, remainingBytes: 0 });
    }
    expect(inst.throttling).toBe(true);
    expect(kicks).toEqual([1]);
    expect(inst.stats()["cpu-throttle-percentage"]).toBe(67);
    expect(hooks[0]!({ vcpuIndex: 0, nowNs: now })).toBe(50 * MS);
    expect(hooks[0]!({ vcpuIndex: 0, nowNs: now + 74 * MS })).toBe(0); // 25 ms of running first
    expect(hooks[0]!({ vcpuIndex: 0, nowNs: now + 75 * MS })).toBe(50 * MS);
    now += 100 * MS;
    inst.onEnd("cancelled");
    expect(hooks).toEqual([null]);
    expect(kicks).toEqual([2]);
    expect(inst.sleptNs()).toBe(75 * MS); // 50 + the second sleep cut short after 25 ms
  });
});
