/**
 * Whole-RAM operations work in chunks up to the largest RAM a config accepts (2 GiB dense): Node
 * refuses single buffers of 2^31 bytes, so hashing, comparing, snapshots and migration must never
 * hand a whole RAM to one call.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createRamBackend, MAX_RAM_SIZE, type RamRegion } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config";
import { runMigration } from "../../src/migrate/run-migration";
import {
  chunkedSha256,
  firstDifference,
  forEachChunk,
  ramEqual,
  ramHash,
} from "../../src/ram/whole-ram";
import { ferry, tmp } from "./helpers";

const TWO_GIB = 2 ** 31;
/** sha256 of 2 GiB of zero bytes (`head -c 2147483648 /dev/zero | sha256sum`). */
const ZERO_2GIB_SHA256 = "a7c744c13cc101ed66c29f672f92455547889cc586ce6d44fe76ae824958ea51";

function denseRegion(size: number): RamRegion {
  const backend = createRamBackend("array", size);
  return {
    kind: "ram",
    name: "ram",
    base: 0x8000_0000,
    size,
    backend,
    readonly: false,
  } as RamRegion;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("chunked helpers (property)", () => {
  it("chunkedSha256 equals a one-shot sha256 for every chunk size", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 4000 }), (b, c) => {
        expect(chunkedSha256(b, c)).toBe(sha(b));
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it("forEachChunk covers the bytes in order, each view at most one chunk", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 300 }), (b, c) => {
        const seen: number[] = [];
        forEachChunk(
          b,
          (v) => {
            expect(v.length).toBeLessThanOrEqual(c);
            expect(v.length).toBeGreaterThan(0);
            seen.push(...v);
          },
          c,
        );
        expect(seen).toEqual([...b]);
      }),
      { seed: 12, numRuns: 200 },
    );
  });

  it("firstDifference finds the first differing byte (or -1)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 1, max: 500 }),
        (a, at, delta, chunk) => {
          const b = a.slice();
          expect(firstDifference(a, b, chunk)).toBe(-1);
          const i = at % a.length;
          b[i] = (b[i] + delta) & 0xff;
          expect(firstDifference(a, b, chunk)).toBe(i);
          expect(firstDifference(a, a.subarray(0, i), chunk)).toBe(i === a.length ? -1 : i);
        },
      ),
      { seed: 13, numRuns: 200 },
    );
  });
});

describe("2 GiB (the largest dense RAM a config accepts)", () => {
  it("the config limit is 2 GiB", () => {
    expect(MAX_RAM_SIZE).toBe(TWO_GIB);
  });

  it("hashes and compares 2 GiB of sparse RAM", { timeout: 120_000 }, () => {
    const a = denseRegion(TWO_GIB);
    expect(ramHash(a)).toBe(ZERO_2GIB_SHA256);
    const b = denseRegion(TWO_GIB);
    // sparse content: a few bytes at the start, across the 1 GiB boundary and at the last byte
    for (const off of [0, 2 ** 30 - 1, 2 ** 30, TWO_GIB - 1]) {
      a.backend.bytes![off] = 0x5a;
      b.backend.bytes![off] = 0x5a;
    }
    expect(ramEqual(a, b)).toBe(true);
    b.backend.bytes![TWO_GIB - 1] = 0xa5;
    expect(ramEqual(a, b)).toBe(false);
    expect(firstDifference(a.backend.bytes!, b.backend.bytes!)).toBe(TWO_GIB - 1);
  });

  it("migrates a 2 GiB array workload and verifies RAM at switchover", {
    timeout: 300_000,
  }, async () => {
    const config = parseConfigText(
      [
        "name: big",
        "machine: { vcpus: 1, memory: 2GiB, ram-backend: array }",
        "workload: { writes-per-second: 1000, distribution: { kind: uniform, footprint-bytes: 1MiB } }",
        "run: { time-limit: 100ms }",
        "migration: { start-after: 10ms, link: { bandwidth: unlimited } }",
      ].join("\n"),
    );
    const report = await runMigration(config);
    expect(report.status, report.message).toBe("completed");
    expect(report.verification).toMatchObject({ verified: true, ramEqual: true });
    expect(report.verification.sourceRamHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("snapshots and restores a 2 GiB array workload", { timeout: 300_000 }, async () => {
    const file = join(tmp(), "big.snap");
    const base = [
      "--set",
      "machine.memory=2GiB",
      "--set",
      "workload.distribution.footprint-bytes=1MiB",
      "--set",
      "workload.distribution.hot-bytes=64KiB",
      "--set",
      "run.time-limit=20ms",
    ];
    const cfg = join(import.meta.dirname, "../../../../examples/configs/workload-small.yaml");
    const s = await ferry("snapshot", cfg, ...base, "--at", "10ms", "--out", file);
    expect(s.code, s.err).toBe(0);
    const r = await ferry("restore", cfg, file, ...base);
    expect(r.code, r.err).toBe(0);
  });
});
