import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CPU_THROTTLE_TIMESLICE_NS,
  createCpuThrottle,
  composeMachine,
  InvalidArgumentError,
  type Machine,
  type PreRunHook,
  sameThrottleTarget,
  ThrottleClock,
  type ThrottleableVcpu,
  throttleSleepNs,
  throttleTargetPercentage,
  VirtualScheduler,
} from "../src/index";
import { busyBackend } from "./busy-backend";
import { testBoard } from "./test-board";

const MS = 1_000_000;
const S = 1000 * MS;

function machine(s: VirtualScheduler, vcpus = 2): Machine {
  return composeMachine({
    board: testBoard,
    scheduler: s,
    cpu: busyBackend(),
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

/** A fake vCPU that logs hook changes and kicks and runs its hooks on `entry`. */
interface FakeVcpu extends ThrottleableVcpu {
  hooks: PreRunHook[];
  kicks: number;
  entry(nowNs: number): number;
}

function fakeVcpu(index: number, log?: string[]): FakeVcpu {
  const v: FakeVcpu = {
    hooks: [],
    kicks: 0,
    addPreRunHook(hook) {
      log?.push(`add${index}`);
      v.hooks.push(hook);
      return () => {
        log?.push(`remove${index}`);
        v.hooks = v.hooks.filter((h) => h !== hook);
      };
    },
    kick() {
      log?.push(`kick${index}`);
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

describe("throttle arithmetic", () => {
  it("sleeps p / (1 − p) of the 10 ms timeslice", () => {
    expect(CPU_THROTTLE_TIMESLICE_NS).toBe(10 * MS);
    expect(throttleSleepNs(50)).toBe(10 * MS);
    expect(throttleSleepNs(20)).toBe(2.5 * MS);
    expect(throttleSleepNs(75)).toBe(30 * MS);
    expect(throttleSleepNs(99)).toBeCloseTo(990 * MS, 3);
  });

  it("gives a sleep share of exactly p (property)", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 99.99, noNaN: true }), (p) => {
        const sleep = throttleSleepNs(p);
        expect(Math.abs(sleep / (sleep + CPU_THROTTLE_TIMESLICE_NS) - p / 100)).toBeLessThan(1e-9);
      }),
    );
  });

  it("refuses percentages outside (0, 100) with InvalidArgumentError", () => {
    expect(() => throttleSleepNs(0)).toThrow(/in \(0, 100\), got 0/);
    expect(() => throttleSleepNs(100)).toThrow(InvalidArgumentError);
    expect(() => throttleSleepNs(Number.NaN)).toThrow(InvalidArgumentError);
  });

  it("reports the percentage a target amounts to and compares targets", () => {
    expect(throttleTargetPercentage({ kind: "off" })).toBe(0);
    expect(throttleTargetPercentage({ kind: "percentage", pct: 30 })).toBe(30);
    expect(throttleTargetPercentage({ kind: "fixed", sleepNs: 50 * MS, runNs: 25 * MS })).toBe(67);
    expect(sameThrottleTarget({ kind: "off" }, { kind: "off" })).toBe(true);
    expect(sameThrottleTarget({ kind: "percentage", pct: 3 }, { kind: "percentage", pct: 3 })).toBe(
      true,
    );
    expect(sameThrottleTarget({ kind: "percentage", pct: 3 }, { kind: "percentage", pct: 4 })).toBe(
      false,
    );
    expect(
      sameThrottleTarget(
        { kind: "fixed", sleepNs: 1, runNs: 2 },
        { kind: "fixed", sleepNs: 1, runNs: 3 },
      ),
    ).toBe(false);
    expect(sameThrottleTarget({ kind: "off" }, { kind: "percentage", pct: 3 })).toBe(false);
  });
});

describe("throttle clock", () => {
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

  it("a change keeps the pending tick (or restarts on request); a long absence restarts", () => {
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
    c.set({ kind: "percentage", pct: 75 }, 6500 * MS, true);
    expect(c.dueNs).toBe(6500 * MS);
    expect(c.onEntry(6500 * MS)).toBe(30 * MS);
    c.set({ kind: "off" }, 6600 * MS);
    expect(c.dueNs).toBe(Number.POSITIVE_INFINITY);
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
    expect(() => c.set({ kind: "fixed", sleepNs: 1, runNs: Number.NaN }, 0)).toThrow(
      InvalidArgumentError,
    );
  });
});

describe("createCpuThrottle on real vCPUs", () => {
  it.each([20, 50, 99])(
    "at %i percent each vCPU sleeps that share of a long run (within 1 point)",
    async (pct) => {
      const s = new VirtualScheduler();
      const m = machine(s);
      m.start();
      await s.run({ untilNs: 7 * MS });
      const t = createCpuThrottle(m.vcpus, s);
      const before = m.vcpuStats();
      const t0 = s.now();
      t.set(pct);
      expect(t.active).toBe(true);
      expect(t.percentage).toBe(pct);
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
      // the throttle's own accounting matches the loop's
      expect(t.sleptNs()).toBeCloseTo(sum, -2);
      expect(t.sleeps).toBeGreaterThan(0);
    },
  );

  it.each(["next-tick", "restart"] as const)(
    "a raise mid-run takes effect (onChange %s)",
    async (onChange) => {
      const s = new VirtualScheduler();
      const m = machine(s, 1);
      m.start();
      const t = createCpuThrottle(m.vcpus, () => s.now(), { onChange });
      t.set(20);
      await s.run({ untilNs: 5 * S });
      t.set(80);
      const b = m.vcpuStats()[0];
      await s.run({ untilNs: 15 * S });
      const a = m.vcpuStats()[0];
      expect(Math.abs((a.throttledNs - b.throttledNs) / (10 * S) - 0.8)).toBeLessThan(0.01);
    },
  );

  it("fixed target (rfc-2013): ~25 ms of running then a 50 ms sleep", async () => {
    const s = new VirtualScheduler();
    const m = machine(s);
    m.start();
    const t = createCpuThrottle(m.vcpus, s);
    t.setFixed(50 * MS, 25 * MS);
    expect(t.percentage).toBe(67);
    expect(t.target).toEqual({ kind: "fixed", sleepNs: 50 * MS, runNs: 25 * MS });
    await s.run({ untilNs: 10 * S });
    for (const v of m.vcpuStats()) {
      expect(Math.abs(v.throttledNs / (10 * S) - 2 / 3)).toBeLessThan(0.01);
    }
    expect(t.sleeps).toBe(2 * Math.ceil((10 * S) / (75.1 * MS)));
  });

  it("stop removes the hooks and kicks: a sleep in progress ends at once", async () => {
    const s = new VirtualScheduler();
    const m = machine(s, 1);
    m.start();
    const t = createCpuThrottle(m.vcpus, s);
    t.set(99);
    await s.run({ untilNs: 100 * MS }); // inside the first 990 ms sleep
    expect(m.vcpus[0].activity).toBe("throttled");
    t.stop();
    expect(t.active).toBe(false);
    expect(t.percentage).toBe(0);
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
});

describe("createCpuThrottle with fake vCPUs", () => {
  it("next-tick: one hook per vCPU while active, kicks at start and stop only", () => {
    const log: string[] = [];
    const vcpus = [fakeVcpu(0, log), fakeVcpu(1, log)];
    let now = 0;
    const t = createCpuThrottle(vcpus, () => now);
    expect(t.active).toBe(false);
    t.set(50);
    t.set(60); // no new hooks, no kick
    expect(log).toEqual(["add0", "add1", "kick0", "kick1"]);
    expect(vcpus[0].entry(0)).toBe(15 * MS);
    expect(t.sleeps).toBe(1);
    now = 5 * MS;
    t.apply({ kind: "off" });
    expect(log.slice(4)).toEqual(["remove0", "remove1", "kick0", "kick1"]);
    expect(vcpus.map((v) => v.hooks.length)).toEqual([0, 0]);
    expect(t.sleptNs()).toBe(5 * MS);
  });

  it("restart: runs 10 ms then sleeps p / (1 − p) × 10 ms, a change applies at once", () => {
    let now = 0;
    const v = fakeVcpu(0);
    const t = createCpuThrottle([v], () => now, { onChange: "restart" });
    expect(v.entry(0)).toBe(0);
    t.set(50);
    expect(v.hooks).toHaveLength(1);
    expect(v.kicks).toBe(1);
    expect(v.entry(0)).toBe(10 * MS); // due at once
    now = 10 * MS;
    expect(v.entry(10 * MS)).toBe(0); // running its 10 ms
    expect(v.entry(15 * MS)).toBe(0);
    now = 20 * MS;
    expect(v.entry(20 * MS)).toBe(10 * MS);
    expect(t.sleptNs()).toBe(10 * MS); // the second sleep is in progress
    t.set(75);
    expect(v.kicks).toBe(2);
    expect(t.sleptNs()).toBe(10 * MS); // the sleep in progress ended at the kick
    expect(v.entry(20 * MS)).toBe(30 * MS); // the new value applies at once
    t.set(75);
    expect(v.kicks).toBe(2); // no change, no kick
    now = 50 * MS;
    t.set(0);
    expect(v.hooks).toHaveLength(0);
    expect(v.kicks).toBe(3);
    expect(t.percentage).toBe(0);
    expect(t.sleptNs()).toBe(40 * MS); // 10 + 0 (cut short) + 30
    t.stop();
    expect(v.kicks).toBe(3);
  });

  it("settle ends the sleeps in progress in the accounting only", () => {
    let now = 0;
    const vcpus = [fakeVcpu(0), fakeVcpu(1)];
    const t = createCpuThrottle(vcpus, () => now);
    t.set(20);
    expect(vcpus[0].entry(0)).toBe(2.5 * MS);
    expect(vcpus[1].entry(0)).toBe(2.5 * MS);
    now = 1 * MS;
    expect(t.sleptNs()).toBe(2 * MS);
    t.settle();
    now = 10 * MS;
    expect(t.sleptNs()).toBe(2 * MS);
    expect(t.sleeps).toBe(2);
    expect(vcpus[0].hooks).toHaveLength(1); // still throttling
  });

  it("serves a sleep share of p over time with 1 ms slices", () => {
    let now = 0;
    const v = fakeVcpu(0);
    const t = createCpuThrottle([v], () => now, { onChange: "restart" });
    t.set(30);
    while (now < 10_000 * MS) {
      const s = v.entry(now);
      now += s > 0 ? s : MS;
    }
    expect(Math.abs(t.sleptNs() / now - 0.3)).toBeLessThan(0.005);
  });

  it("refuses bad values without changing anything", () => {
    const v = fakeVcpu(0);
    const t = createCpuThrottle([v], () => 0);
    expect(() => t.set(100)).toThrow(/throttle percentage must be in \(0, 100\), got 100/);
    expect(() => t.set(-1)).toThrow(InvalidArgumentError);
    expect(() => t.setFixed(0, 10)).toThrow(/sleepNs > 0 and runNs > 0, got 0 and 10/);
    expect(() => createCpuThrottle([v], () => 0, { onChange: "sometimes" as "restart" })).toThrow(
      /"next-tick" or "restart", got sometimes/,
    );
    expect(t.active).toBe(false);
    expect(v.hooks).toHaveLength(0);
    expect(v.kicks).toBe(0);
  });
});
