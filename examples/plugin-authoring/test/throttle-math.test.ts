import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesPerSec, requiredThrottlePct, unthrottledDirtyRate } from "../src/index";

const MiB = 1024 * 1024;

describe("requiredThrottlePct", () => {
  it("computes the throttle that fits the dirty rate into target × bandwidth", () => {
    // 8 MiB/s dirtied, 4 MiB/s link, half of it allowed: 8 (1 − p) ≤ 2 → p = 75 %.
    const p = requiredThrottlePct({
      dirtyBytesPerSec: 8 * MiB,
      bandwidthBytesPerSec: 4 * MiB,
      targetRatio: 0.5,
      maxThrottlePct: 99,
    });
    expect(p).toBe(75);
    // 10 MiB/s, 4 MiB/s, ratio 1: 10 (1 − p) ≤ 4 → p = 60 %.
    expect(
      requiredThrottlePct({
        dirtyBytesPerSec: 10 * MiB,
        bandwidthBytesPerSec: 4 * MiB,
        targetRatio: 1,
        maxThrottlePct: 99,
      }),
    ).toBe(60);
  });

  it("rounds up to the next whole percent", () => {
    // 3 (1 − p) ≤ 1 → p ≥ 66.67 % → 67.
    expect(
      requiredThrottlePct({
        dirtyBytesPerSec: 3,
        bandwidthBytesPerSec: 1,
        targetRatio: 1,
        maxThrottlePct: 99,
      }),
    ).toBe(67);
  });

  it("is 0 when the guest already fits or dirties nothing", () => {
    const base = { bandwidthBytesPerSec: 4 * MiB, targetRatio: 0.5, maxThrottlePct: 99 };
    expect(requiredThrottlePct({ ...base, dirtyBytesPerSec: 2 * MiB })).toBe(0);
    expect(requiredThrottlePct({ ...base, dirtyBytesPerSec: MiB })).toBe(0);
    expect(requiredThrottlePct({ ...base, dirtyBytesPerSec: 0 })).toBe(0);
  });

  it("caps at the maximum and asks for it when no bandwidth was measured", () => {
    const base = { targetRatio: 0.5, maxThrottlePct: 40 };
    expect(
      requiredThrottlePct({ ...base, dirtyBytesPerSec: 100 * MiB, bandwidthBytesPerSec: MiB }),
    ).toBe(40);
    expect(requiredThrottlePct({ ...base, dirtyBytesPerSec: MiB, bandwidthBytesPerSec: 0 })).toBe(
      40,
    );
  });

  it("is the smallest whole percentage that satisfies the inequality (property)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 1e10, noNaN: true }),
        fc.double({ min: 1, max: 1e10, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 99 }),
        (dirty, bw, ratio, max) => {
          const p = requiredThrottlePct({
            dirtyBytesPerSec: dirty,
            bandwidthBytesPerSec: bw,
            targetRatio: ratio,
            maxThrottlePct: max,
          });
          expect(Number.isInteger(p)).toBe(true);
          expect(p).toBeGreaterThanOrEqual(0);
          expect(p).toBeLessThanOrEqual(max);
          // p fits (up to float rounding), and one percent less would not.
          const load = (q: number) => dirty * (1 - q / 100);
          if (p < max) expect(load(p)).toBeLessThanOrEqual(ratio * bw * (1 + 1e-9));
          if (p > 0) expect(load(p - 1)).toBeGreaterThan(ratio * bw * (1 - 1e-9));
        },
      ),
    );
  });
});

describe("rate estimates", () => {
  it("scales the dirtied bytes to the time the vCPUs could run", () => {
    // 4 MiB dirtied in a 1 s window while throttled at 50 %: 8 MiB/s unthrottled.
    expect(unthrottledDirtyRate(4 * MiB, 0.5e9)).toBe(8 * MiB);
    expect(unthrottledDirtyRate(4 * MiB, 0)).toBe(0);
    expect(bytesPerSec(MiB, 250e6)).toBe(4 * MiB);
    expect(bytesPerSec(MiB, 0)).toBe(0);
  });
});
