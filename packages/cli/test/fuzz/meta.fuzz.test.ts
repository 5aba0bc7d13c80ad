/**
 * Fuzzing the snapshot metadata check with arbitrary values (deep, wide, odd types): a valid
 * `SnapshotMeta` or a one-line `SnapshotError` of bounded length — never another exception.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseMeta, SnapshotError } from "../../src/snapshot/snapshot";
import { fuzzParams, fuzzTimeout } from "./params";

describe("snapshot metadata fuzzing", () => {
  it("anything: a range-checked SnapshotMeta or a short SnapshotError", {
    timeout: fuzzTimeout,
  }, () => {
    const near = fc.record({
      version: fc.oneof(fc.constant(1), fc.anything()),
      config: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.anything()),
      atNs: fc.oneof(fc.nat(), fc.double(), fc.anything()),
      work: fc.oneof(fc.nat(), fc.double(), fc.anything()),
    });
    fc.assert(
      fc.property(fc.oneof(near, fc.anything({ maxDepth: 6 })), (value) => {
        try {
          const m = parseMeta(value, "fuzz.snap");
          expect(m.version).toBe(1);
          expect(Number.isSafeInteger(m.atNs) && m.atNs >= 0).toBe(true);
          expect(Number.isSafeInteger(m.work) && m.work >= 0).toBe(true);
          expect(typeof m.config === "string" && m.config.length > 0).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(SnapshotError);
          expect((err as Error).message).not.toContain("\n");
          expect((err as Error).message.length).toBeLessThan(400);
        }
      }),
      fuzzParams(1000),
    );
  });
});
