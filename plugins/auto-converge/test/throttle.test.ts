import {
  createMachine,
  type Machine,
  type PreRunHook,
  VirtualScheduler,
  workloadBackend,
} from "@ferry/core";
import { describe, expect, it } from "vitest";
import { createThrottler, ThrottleClock, type ThrottleableVcpu } from "../src/index";
import { MS } from "./sample";

const S = 1000 * MS;

function machine(s: VirtualScheduler, vcpus = 2): Machine {
  return createMachine({
    scheduler: s,
    cpu: workloadBackend({
      seed: 1,
      writesPerSecond: 1000,
      busyShare: 1,
      distribution: { kind: "uniform" },
    }),
    vcpus,
    memory: { size: 1024 * 1024 },
  });
}

/** Simulate a vCPU loop on the clock alone: entries every `sliceNs` of running, sleeps as asked. */
function simulate(clock: ThrottleClock, untilNs: number, sliceNs: number): number {
  let t = 0;
  let slept = 0;
  while (t < untilNs) {
    const s = clock.onEntry(t);
    if (s > 0) {
      slept += Math.min(s, untilNs - t);
      t += s; // after a sleep the guest is entered without asking again
    }
    t += sliceNs;
  }
  return slept;
}

describe("throttle clock arithmetic", () => {
  it.each([1, 20, 30, 50, 70, 99])(
    "at %i percent a vCPU sleeps that share of virtual time",
    (pct) => {
      for (const slice of [100_000, 1_000_000, 3_333_333]) {
        const c = new ThrottleClock();
        c.set({ kind: "percentage", pct }, 0);
        const total = 200 * S;
        const share = simulate(c, total, slice) / total;
        expect(Math.abs(share - pct / 100), `slice ${slice}`).toBeLessThan(0.005);
      }
    },
  );

  it("ticks every 10 ms / (1 − p) and sleeps p / (1 − p) × 10 ms, rounded cumulatively", () => {
    const c = new ThrottleClock();
    c.set({ kind: "percentage", pct: 20 }, 0);
    expect(c.onEntry(0)).toBe(2.5 * MS); // ticks immediately on activation
    expect(c.dueNs).toBe(12.5 * MS);
    expect(c.onEntry(12.4 * MS)).toBe(0);
    expect(c.onEntry(12.5 * MS)).toBe(2.5 * MS);
    const c30 = new ThrottleClock();
    c30.set({ kind: "percentage", pct: 30 }, 0);
    let sum = 0;
    for (let k = 0; k < 7; k++) {
      const s = c30.onEntry(c30.dueNs);
      expect(Number.isInteger(s)).toBe(true);
      sum += s;
    }
    expect(sum).toBe(30 * MS); // 7 × 30/70 × 10 ms, exactly
    expect(c30.dueNs).toBe(100 * MS); // 7 × 10/0.7 ms
  });

  it("a change keeps the pending tick; a long absence restarts the cadence", () => {
    const c = new ThrottleClock();
    c.set({ kind: "percentage", pct: 50 }, 0);
    expect(c.onEntry(0)).toBe(10 * MS);
    expect(c.dueNs).toBe(20 * MS);
    c.set({ kind: "percentage", pct: 99 }, 15 * MS);
    expect(c.dueNs).toBe(20 * MS);
    expect(c.onEntry(20 * MS)).toBe(990 * MS);
    expect(c.dueNs).toBe(1020 * MS);
    // halted for 5 s: one sleep, then the cadence restarts from that entry
    expect(c.onEntry(6000 * MS)).toBe(990 * MS);
    expect(c.dueNs).toBe(7000 * MS);
    c.set({ kind: "off" }, 6000 * MS);
    expect(c.onEntry(1e12)).toBe(0);
  });

  it("fixed: a sleep is due once the vCPU has run runNs since its last sleep", () => {
    const c = new ThrottleClock();
    c.set({ kind: "fixed", sleepNs: 50 * MS, runNs: 25 * MS }, 100 * MS);
    expect(c.onEntry(100 * MS)).toBe(50 * MS);
    expect(c.onEntry(150 * MS)).toBe(0);
    expect(c.onEntry(174.9 * MS)).toBe(0);
    expect(c.onEntry(175.05 * MS)).toBe(50 * MS);
    expect(c.dueNs).toBe(250.05 * MS);
    const share = simulate(c, 100 * S, 100_000) / (100 * S);
    expect(Math.abs(share - 2 / 3)).toBeLessThan(0.01);
  });

  it("refuses nonsense targets", () => {
    const c = new ThrottleClock();
    expect(() => c.set({ kind: "percentage", pct: 100 }, 0)).toThrow(/\(0, 100\), got 100/);
    expect(() => c.set({ kind: "fixed", sleepNs: 0, runNs: 1 }, 0)).toThrow(/sleepNs > 0/);
  });
});

describe("throttler on real vCPUs", () => {
  it.each([20, 50, 99])(
    "at %i percent each vCPU sleeps that share of a long run (within 1 point)",
    async (pct) => {
      const s = new VirtualScheduler();
      const m = machine(s);
      m.start();
      await s.run({ untilNs: 7 * MS });
      const t = createThrottler(m.vcpus, () => s.now());
      const before = m.vcpuStats();
      const t0 = s.now();
      t.apply({ kind: "percentage", pct });
      await s.run({ untilNs: t0 + 20 * S + 3.3 * MS });
      const elapsed = s.now() - t0;
      const after = m.vcpuStats();
      let sum = 0;
      for (let i = 0; i < after.length; i++) {
        const slept = after[i].throttledNs - before[i].throttledNs;
        const ran = after[i].runningNs - before[i].runningNs;
        sum += slept;
        expect(Math.abs(slept / elapsed - pct / 100)).toBeLessThan(0.01);
        expect(Math.abs(ran / elapsed - (1 - pct / 100))).toBeLessThan(0.01);
      }
      // the throttler's own accounting matches the loop's
      expect(t.sleptNs()).toBeCloseTo(sum, -2);
      expect(t.sleeps()).toBeGreaterThan(0);
    },
  );

  it("a raise mid-run takes effect from the next tick", async () => {
    const s = new VirtualScheduler();
    const m = machine(s, 1);
    m.start();
    const t = createThrottler(m.vcpus, () => s.now());
    t.apply({ kind: "percentage", pct: 20 });
    await s.run({ untilNs: 5 * S });
    t.apply({ kind: "percentage", pct: 80 });
    const b = m.vcpuStats()[0];
    await s.run({ untilNs: 15 * S });
    const a = m.vcpuStats()[0];
    expect(Math.abs((a.throttledNs - b.throttledNs) / (10 * S) - 0.8)).toBeLessThan(0.01);
  });

  it("rfc-2013 fixed target: ~25 ms of running then a 50 ms sleep", async () => {
    const s = new VirtualScheduler();
    const m = machine(s);
    m.start();
    const t = createThrottler(m.vcpus, () => s.now());
    t.apply({ kind: "fixed", sleepNs: 50 * MS, runNs: 25 * MS });
    await s.run({ untilNs: 10 * S });
    for (const v of m.vcpuStats()) {
      expect(Math.abs(v.throttledNs / (10 * S) - 2 / 3)).toBeLessThan(0.01);
    }
    expect(t.sleeps()).toBe(2 * Math.ceil((10 * S) / (75.1 * MS)));
  });

  it("stop removes the hooks and kicks: a sleep in progress ends at once", async () => {
    const s = new VirtualScheduler();
    const m = machine(s, 1);
    m.start();
    const t = createThrottler(m.vcpus, () => s.now());
    t.apply({ kind: "percentage", pct: 99 });
    await s.run({ untilNs: 100 * MS }); // inside the first 990 ms sleep
    expect(m.vcpus[0].activity).toBe("throttled");
    t.stop();
    expect(t.active).toBe(false);
    expect(t.sleptNs()).toBe(100 * MS);
    const b = m.vcpuStats()[0];
    expect(b.throttledNs).toBe(100 * MS);
    await s.run({ untilNs: 1100 * MS });
    const a = m.vcpuStats()[0];
    expect(a.throttledNs).toBe(b.throttledNs);
    expect(a.runningNs - b.runningNs).toBeGreaterThanOrEqual(1000 * MS);
    expect(a.runningNs - b.runningNs).toBeLessThanOrEqual(1000 * MS + m.vcpus[0].sliceNs);
    t.stop(); // idempotent
  });

  it("installs one hook per vCPU while active and kicks at start and stop", () => {
    const log: string[] = [];
    const hooks: Array<PreRunHook | null> = [null, null];
    const vcpus: ThrottleableVcpu[] = [0, 1].map((i) => ({
      addPreRunHook(h: PreRunHook) {
        log.push(`add${i}`);
        hooks[i] = h;
        return () => {
          log.push(`remove${i}`);
          hooks[i] = null;
        };
      },
      kick: () => log.push(`kick${i}`),
    }));
    let now = 0;
    const t = createThrottler(vcpus, () => now);
    t.apply({ kind: "percentage", pct: 50 });
    t.apply({ kind: "percentage", pct: 60 }); // no new hooks, no kick
    expect(log).toEqual(["add0", "add1", "kick0", "kick1"]);
    expect(hooks[0]!({ vcpuIndex: 0, nowNs: 0 })).toBe(15 * MS);
    now = 5 * MS;
    t.apply({ kind: "off" });
    expect(log.slice(4)).toEqual(["remove0", "remove1", "kick0", "kick1"]);
    expect(hooks).toEqual([null, null]);
    expect(t.sleptNs()).toBe(5 * MS);
  });
});
