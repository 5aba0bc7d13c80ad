import { describe, expect, it } from "vitest";
import {
  createQemuPolicy,
  DEFAULT_SETTINGS,
  dirtyThresholdBytes,
  type Evaluation,
  nextThrottlePct,
} from "../src/index";
import { feed } from "./sample";

const HIGH = [600, 1000] as const; // 600 dirtied vs 1000 sent: above 50 %
const LOW = [400, 1000] as const;

describe("qemu policy: evaluation gate", () => {
  it("evaluates only when >= 1 s has passed, accumulating shorter periods", () => {
    const p = createQemuPolicy(DEFAULT_SETTINGS);
    const sync = feed();
    expect(p.onSync(sync(400, 100, 1000))).toBeNull();
    expect(p.onSync(sync(599, 200, 1000))).toBeNull(); // 999 ms
    const e = p.onSync(sync(1, 300, 1000)) as Evaluation; // exactly 1 s
    expect(e).not.toBeNull();
    expect(e.durationNs).toBe(1000 * 1e6);
    expect(e.dirtyBytes).toBe(600);
    expect(e.xferBytes).toBe(3000);
    expect(e.thresholdBytes).toBe(1500);
    expect(e.high).toBe(false);
    // the accumulators restart after an evaluation
    expect(p.onSync(sync(500, 5000, 10))).toBeNull();
    const e2 = p.onSync(sync(700, 900, 1000)) as Evaluation;
    expect(e2.dirtyBytes).toBe(5900);
    expect(e2.xferBytes).toBe(1010);
    expect(e2.durationNs).toBe(1200 * 1e6);
    expect(e2.high).toBe(true);
    expect(p.counters().evaluations).toBe(2);
  });

  it("the first period starts at the start of the first sync's period", () => {
    const p = createQemuPolicy(DEFAULT_SETTINGS);
    const sync = feed(5000 * 1e6);
    expect(p.onSync(sync(999, ...HIGH))).toBeNull();
    expect(p.onSync(sync(1, ...HIGH))).not.toBeNull();
  });

  it("threshold is truncated integer math of throttle-trigger-threshold %", () => {
    expect(dirtyThresholdBytes(1001, 50)).toBe(500);
    expect(dirtyThresholdBytes(999, 33)).toBe(329);
    const p = createQemuPolicy({ ...DEFAULT_SETTINGS, triggerThreshold: 33 });
    const sync = feed();
    const e = p.onSync(sync(1000, 330, 999)) as Evaluation;
    expect(e.thresholdBytes).toBe(329);
    expect(e.high).toBe(true); // 330 > 329
    const e2 = p.onSync(sync(1000, 329, 999)) as Evaluation;
    expect(e2.high).toBe(false); // not strictly above
  });
});

describe("qemu policy: trigger and growth", () => {
  it("throttles on the 2nd high period; low periods do not reset the count", () => {
    const p = createQemuPolicy(DEFAULT_SETTINGS);
    const sync = feed();
    const run = (d: readonly [number, number]) => p.onSync(sync(1000, d[0], d[1])) as Evaluation;
    expect(run(HIGH)).toMatchObject({ high: true, highCount: 1, throttled: false });
    expect(run(LOW)).toMatchObject({ high: false, highCount: 1, throttled: false });
    expect(run(LOW)).toMatchObject({ high: false, highCount: 1, throttled: false });
    expect(p.target()).toEqual({ kind: "off" });
    const e = run(HIGH);
    expect(e).toMatchObject({ high: true, highCount: 0, throttled: true });
    expect(e.target).toEqual({ kind: "percentage", pct: 20 });
    expect(p.percentage()).toBe(20);
    // the count restarts at the action
    expect(run(HIGH)).toMatchObject({ highCount: 1, throttled: false });
    expect(run(LOW).throttled).toBe(false);
    expect(run(HIGH)).toMatchObject({ throttled: true, target: { kind: "percentage", pct: 30 } });
  });

  it("grows 20 → 30 → … → 90 → 99 and stays capped at max-cpu-throttle", () => {
    const p = createQemuPolicy(DEFAULT_SETTINGS);
    const sync = feed();
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) {
      const e = p.onSync(sync(1000, ...HIGH)) as Evaluation;
      if (e.throttled) seen.push(p.percentage());
    }
    expect(seen).toEqual([20, 30, 40, 50, 60, 70, 80, 90, 99, 99, 99, 99, 99, 99, 99]);
    expect(p.counters()).toEqual({
      evaluations: 30,
      highPeriods: 30,
      actions: 15,
      steps: 9,
      maxPct: 99,
    });
  });

  it("honours custom initial, increment and max", () => {
    const s = { ...DEFAULT_SETTINGS, initial: 35, increment: 25, max: 80 };
    let pct = 0;
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) seen.push((pct = nextThrottlePct(pct, s, 2, 1)));
    expect(seen).toEqual([35, 60, 80, 80]);
  });

  it("tailslow: inc = min(increment, cpu_now − trunc(cpu_now × threshold / dirty))", () => {
    const s = { ...DEFAULT_SETTINGS, tailslow: true };
    // first activation ignores tailslow
    expect(nextThrottlePct(0, s, 1000, 1)).toBe(20);
    // cpu_now 80, ideal trunc(80 × 500/600 = 66.67) = 66 → 14, capped by increment 10
    expect(nextThrottlePct(20, s, 600, 500)).toBe(30);
    // cpu_now 70, ideal trunc(70 × 500/520 = 67.31) = 67 → inc 3
    expect(nextThrottlePct(30, s, 520, 500)).toBe(33);
    // cpu_now 10, ideal trunc(10 × 50/57 = 8.77) = 8 → inc 2 (truncation, not rounding)
    expect(nextThrottlePct(90, s, 57, 50)).toBe(92);
    // cpu_now 10, ideal trunc(10 × 999/1000 = 9.99) = 9 → inc 1
    expect(nextThrottlePct(90, s, 1000, 999)).toBe(91);
    // cpu_now 5, ideal 0 → inc min(5, 10) = 5 → 100, capped at max 99
    expect(nextThrottlePct(95, s, 1000, 1)).toBe(99);
    // without tailslow the same situation adds the full increment
    expect(nextThrottlePct(30, DEFAULT_SETTINGS, 520, 500)).toBe(40);
  });

  it("tailslow through the policy uses the period's threshold and dirty bytes", () => {
    const p = createQemuPolicy({ ...DEFAULT_SETTINGS, tailslow: true });
    const sync = feed();
    p.onSync(sync(1000, 2000, 1000));
    p.onSync(sync(1000, 2000, 1000));
    expect(p.percentage()).toBe(20);
    p.onSync(sync(1000, 520, 1000)); // threshold 500, dirty 520
    const e = p.onSync(sync(1000, 520, 1000)) as Evaluation;
    expect(e.thresholdBytes).toBe(500);
    // cpu_now 80, ideal trunc(80 × 500/520 = 76.92) = 76 → inc 4
    expect(p.percentage()).toBe(24);
  });
});
