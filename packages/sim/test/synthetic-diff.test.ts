/**
 * SyntheticDiff: the runs of differing bytes computed from versions equal the runs found by
 * comparing materialized pages, for random content parameters and version pairs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_SIZE } from "@ferry/core";
import { SyntheticContent, SyntheticDiff } from "../src/index";

/** Runs of differing bytes between two materialized pages (the reference). */
function referenceRuns(a: Uint8Array, b: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  let i = 0;
  while (i < a.length) {
    if (a[i] === b[i]) {
      i++;
      continue;
    }
    const s = i;
    while (i < a.length && a[i] !== b[i]) i++;
    runs.push([s, i]);
  }
  return runs;
}

const params = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  bytesPerWrite: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 600 })),
  deltaWindow: fc.integer({ min: 1, max: 12 }),
  zeroShare: fc.constantFrom(0, 0, 0.2),
});

/** A version pair: mostly close versions (the XBZRLE case), sometimes far apart or reversed. */
const versionPair = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 20 }))
    .map(([c, k]) => [c, c + k] as const),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  fc
    .tuple(fc.integer({ min: 2 ** 32 - 30, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 30 }))
    .map(([c, v]) => [c, v] as const),
);

describe("SyntheticDiff", () => {
  it("finds exactly the differing runs and the new bytes of materialized pages", () => {
    const a = new Uint8Array(PAGE_SIZE);
    const b = new Uint8Array(PAGE_SIZE);
    let sparse = 0;
    fc.assert(
      fc.property(
        params,
        fc.integer({ min: 0, max: 2 ** 28 - 1 }),
        versionPair,
        (p, page, [from, to]) => {
          const content = new SyntheticContent(p);
          const diff = new SyntheticDiff(p);
          content.fillPage(page, from, a, 0);
          content.fillPage(page, to, b, 0);
          const ref = referenceRuns(a, b);
          const n = diff.diff(page, from, to);
          if (n < 0) {
            // Only dense diffs (one zero side) or oversized windows are refused.
            const zf = content.isZeroVersion(page, from);
            const zt = content.isZeroVersion(page, to);
            const tooMany = 2 * p.deltaWindow * Math.ceil(p.bytesPerWrite / 8) > diff.maxRuns;
            expect(zf !== zt || tooMany).toBe(true);
            return;
          }
          sparse++;
          const got: [number, number][] = [];
          for (let k = 0; k < n; k++) got.push([diff.starts[k], diff.ends[k]]);
          expect(got).toEqual(ref);
          for (const [s, e] of ref) {
            for (let i = s; i < e; i++) expect(diff.newBytes[i]).toBe(b[i]);
          }
        },
      ),
      { numRuns: 600 },
    );
    expect(sparse).toBeGreaterThan(300);
  });

  it("bounds the differing bytes by the two windows' overlays", () => {
    const p = { seed: 7, bytesPerWrite: 64, deltaWindow: 4, zeroShare: 0 };
    const diff = new SyntheticDiff(p);
    for (let v = 2; v < 200; v++) {
      const n = diff.diff(123, v - 1, v);
      let bytes = 0;
      for (let k = 0; k < n; k++) bytes += diff.ends[k] - diff.starts[k];
      expect(n).toBeGreaterThan(0);
      expect(bytes).toBeLessThanOrEqual(2 * 64);
      expect(diff.diff(123, v, v)).toBe(0);
    }
  });

  it("reports both-zero versions as identical and a zero against a non-zero page as dense", () => {
    const p = { seed: 3, bytesPerWrite: 16, deltaWindow: 2, zeroShare: 0 };
    const diff = new SyntheticDiff(p);
    expect(diff.diff(5, 0, 0)).toBe(0);
    expect(diff.diff(5, 0, 9)).toBe(-1);
    expect(diff.diff(5, 9, 0)).toBe(-1);
  });

  it("gives up (-1) when the windows hold more overlay runs than maxRuns", () => {
    const p = { seed: 3, bytesPerWrite: 4096, deltaWindow: 8, zeroShare: 0 };
    const diff = new SyntheticDiff(p, 1024);
    // 8 versions × 512 runs in one window alone.
    expect(diff.diff(1, 100, 101)).toBe(-1);
    const small = new SyntheticDiff({ ...p, deltaWindow: 1 }, 1024);
    expect(small.diff(1, 100, 101)).toBeGreaterThan(0);
  });

  it("stays exact across many calls (epoch reuse of the scratch)", () => {
    const p = { seed: 11, bytesPerWrite: 24, deltaWindow: 3, zeroShare: 0 };
    const content = new SyntheticContent(p);
    const diff = new SyntheticDiff(p);
    const a = new Uint8Array(PAGE_SIZE);
    const b = new Uint8Array(PAGE_SIZE);
    for (let i = 0; i < 2000; i++) {
      const page = (i * 7919) % 4096;
      const from = 1 + (i % 37);
      const to = from + 1 + (i % 5);
      const n = diff.diff(page, from, to);
      if (i % 97 === 0) {
        content.fillPage(page, from, a, 0);
        content.fillPage(page, to, b, 0);
        const ref = referenceRuns(a, b);
        expect(n).toBe(ref.length);
        for (let k = 0; k < n; k++) expect([diff.starts[k], diff.ends[k]]).toEqual(ref[k]);
      }
    }
  });
});
