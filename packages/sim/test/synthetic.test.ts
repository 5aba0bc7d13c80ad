import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, MemoryAccessError } from "@ferry/core";
import { PAGE_SIZE } from "@ferry/core";
import {
  SyntheticWriteError,
  createSyntheticRamBackend,
  isSyntheticRamBackend,
} from "../src/synthetic";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function page(
  b: ReturnType<typeof createSyntheticRamBackend>,
  p: number,
  version: number,
): Uint8Array {
  const out = new Uint8Array(PAGE_SIZE);
  b.materializePage(p, version, out);
  return out;
}

function diffCount(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe("synthetic content function", () => {
  it("version 0 is the zero page and a fresh backend is all zero", () => {
    const b = createSyntheticRamBackend({ size: 16 * PAGE_SIZE, seed: 7, bytesPerWrite: 64 });
    expect(b.kind).toBe("synthetic");
    expect(b.bytes).toBeNull();
    expect(isSyntheticRamBackend(b)).toBe(true);
    expect(page(b, 3, 0).every((x) => x === 0)).toBe(true);
    for (let p = 0; p < 16; p++) expect(b.isZeroPage(p)).toBe(true);
    const all = new Uint8Array(16 * PAGE_SIZE);
    all.fill(1);
    b.read(0, all);
    expect(all.every((x) => x === 0)).toBe(true);
    expect(b.touchedPageCount()).toBe(0);
  });

  it("is a pure function of (seed, page, version)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 1023 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 1, max: PAGE_SIZE }),
        (seed, p, version, bytesPerWrite) => {
          const a = createSyntheticRamBackend({ size: 1024 * PAGE_SIZE, seed, bytesPerWrite });
          const b = createSyntheticRamBackend({ size: 1024 * PAGE_SIZE, seed, bytesPerWrite });
          b.bumpPage(p); // the current version does not influence materializePage
          expect(page(a, p, version)).toEqual(page(b, p, version));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("consecutive versions differ in at least one and at most 2 x bytesPerWrite bytes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 1, max: 0xfffffffe }),
        fc.integer({ min: 1, max: 512 }),
        (seed, p, v, bytesPerWrite) => {
          const b = createSyntheticRamBackend({ size: 256 * PAGE_SIZE, seed, bytesPerWrite });
          const d = diffCount(page(b, p, v), page(b, p, v + 1));
          expect(d).toBeGreaterThan(0);
          expect(d).toBeLessThanOrEqual(2 * bytesPerWrite);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("with a delta window w, versions v and v+k differ in at most 2·min(k, w)·b bytes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 64 }),
        (seed, w, v, k, bytesPerWrite) => {
          const b = createSyntheticRamBackend({
            size: 4 * PAGE_SIZE,
            seed,
            bytesPerWrite,
            deltaWindow: w,
          });
          const d = diffCount(page(b, 1, v), page(b, 1, v + k));
          expect(d).toBeLessThanOrEqual(2 * Math.min(k, w) * bytesPerWrite);
        },
      ),
      { numRuns: 100 },
    );
    // A wider window really accumulates: after many writes the delta grows beyond one write.
    const wide = createSyntheticRamBackend({
      size: 4 * PAGE_SIZE,
      seed: 3,
      bytesPerWrite: 16,
      deltaWindow: 8,
    });
    expect(diffCount(page(wide, 0, 10), page(wide, 0, 18))).toBeGreaterThan(2 * 16);
  });

  it("depends on the seed and the page", () => {
    const a = createSyntheticRamBackend({ size: 8 * PAGE_SIZE, seed: 1, bytesPerWrite: 8 });
    const b = createSyntheticRamBackend({ size: 8 * PAGE_SIZE, seed: 2, bytesPerWrite: 8 });
    expect(diffCount(page(a, 0, 1), page(b, 0, 1))).toBeGreaterThan(PAGE_SIZE * 0.9);
    expect(diffCount(page(a, 0, 1), page(a, 1, 1))).toBeGreaterThan(PAGE_SIZE * 0.9);
    expect(a.isZeroPage(0)).toBe(true);
    a.bumpPage(0);
    expect(a.isZeroPage(0)).toBe(false);
  });

  it("flags a zeroShare of versions as zero pages, consistently with their bytes", () => {
    const b = createSyntheticRamBackend({
      size: 64 * PAGE_SIZE,
      seed: 11,
      bytesPerWrite: 32,
      zeroShare: 0.3,
    });
    let zeros = 0;
    const n = 4000;
    for (let v = 1; v <= n; v++) if (b.isZeroVersion(5, v)) zeros++;
    expect(zeros / n).toBeGreaterThan(0.27);
    expect(zeros / n).toBeLessThan(0.33);
    for (let v = 1; v <= 40; v++) {
      const bytes = page(b, 9, v);
      expect(bytes.every((x) => x === 0)).toBe(b.isZeroVersion(9, v));
    }
    const all = createSyntheticRamBackend({
      size: 4 * PAGE_SIZE,
      seed: 1,
      bytesPerWrite: 8,
      zeroShare: 1,
    });
    all.bumpPage(2);
    expect(all.isZeroPage(2)).toBe(true);
    expect(page(all, 2, all.pageVersion(2)).every((x) => x === 0)).toBe(true);
  });
});

describe("synthetic RAM access", () => {
  const size = 8 * PAGE_SIZE;

  function written(seed: number) {
    const b = createSyntheticRamBackend({ size, seed, bytesPerWrite: 24, zeroShare: 0.2 });
    for (let p = 0; p < 8; p++) b.setPageVersion(p, p === 3 ? 0 : 17 * p + 1);
    return b;
  }

  it("reads any span, crossing pages, as the concatenation of materialized pages", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: size - 1 }),
        fc.integer({ min: 0, max: 3 * PAGE_SIZE }),
        (seed, offset, len) => {
          const b = written(seed);
          const length = Math.min(len, size - offset);
          const full = new Uint8Array(size);
          for (let p = 0; p < 8; p++) b.materializePage(p, b.pageVersion(p), full, p * PAGE_SIZE);
          const out = new Uint8Array(length);
          b.read(offset, out);
          expect(out).toEqual(full.subarray(offset, offset + length));
        },
      ),
      { numRuns: 120 },
    );
  });

  it("loads little-endian values matching the bytes, also across a page boundary", () => {
    const b = written(5);
    const full = new Uint8Array(size);
    b.read(0, full);
    const view = new DataView(full.buffer);
    for (const off of [0, 1, 4093, 4094, 4095, 5000, 3 * PAGE_SIZE - 2, size - 4]) {
      expect(b.load(off, 1)).toBe(view.getUint8(off));
      expect(b.load(off, 2)).toBe(view.getUint16(off, true));
      expect(b.load(off, 4)).toBe(view.getUint32(off, true));
    }
  });

  it("a store bumps the version of every page it touches (the value is not retained)", () => {
    const b = written(5);
    const v1 = b.pageVersion(1);
    b.store(PAGE_SIZE + 8, 4, 0xdeadbeef);
    expect(b.pageVersion(1)).toBe(v1 + 1);
    const out = new Uint8Array(PAGE_SIZE);
    b.read(PAGE_SIZE, out);
    expect(out).toEqual(page(b, 1, v1 + 1));
    const v4 = b.pageVersion(4);
    const v5 = b.pageVersion(5);
    b.store(5 * PAGE_SIZE - 2, 4, 1);
    expect(b.pageVersion(4)).toBe(v4 + 1);
    expect(b.pageVersion(5)).toBe(v5 + 1);
  });

  it("bumping wraps 2^32-1 to 1, never to the zero version", () => {
    const b = written(1);
    b.setPageVersion(2, 0xffffffff);
    expect(b.bumpPage(2)).toBe(1);
    expect(b.pageVersion(2)).toBe(1);
  });

  it("writes zeros to whole pages, refuses anything it cannot represent", () => {
    const b = written(9);
    const before = b.versions.slice();
    // Non-zero bytes: refused, nothing changes.
    const src = new Uint8Array(PAGE_SIZE);
    src[100] = 1;
    expect(() => b.write(PAGE_SIZE, src)).toThrow(SyntheticWriteError);
    expect(() => b.write(PAGE_SIZE, src)).toThrow(/non-zero byte 0x1 at index 100/);
    // Zeros into part of a non-zero page: refused, nothing changes (even the whole-page part).
    expect(() => b.write(PAGE_SIZE, new Uint8Array(PAGE_SIZE + 10))).toThrow(SyntheticWriteError);
    expect(b.versions).toEqual(before);
    // Zeros into part of a zero page: fine. Whole pages of zeros: version 0.
    b.write(3 * PAGE_SIZE + 10, new Uint8Array(20));
    b.write(PAGE_SIZE, new Uint8Array(2 * PAGE_SIZE));
    expect(b.pageVersion(1)).toBe(0);
    expect(b.pageVersion(2)).toBe(0);
    expect(b.isZeroPage(1)).toBe(true);
  });

  it("rejects out-of-range accesses and bad parameters with clear errors", () => {
    const b = written(9);
    expect(() => b.read(size - 2, new Uint8Array(4))).toThrow(MemoryAccessError);
    expect(() => b.load(size, 1)).toThrow(MemoryAccessError);
    expect(() => b.store(-1, 1, 0)).toThrow(MemoryAccessError);
    expect(() => b.pageVersion(8)).toThrow(InvalidArgumentError);
    expect(() => b.setPageVersion(0, -1)).toThrow(/0\.\.2\^32-1/);
    expect(() => b.setPageVersion(0, 2 ** 32)).toThrow(InvalidArgumentError);
    expect(() => b.materializePage(0, 1, new Uint8Array(100))).toThrow(InvalidArgumentError);
    expect(() => createSyntheticRamBackend({ size: 1000, seed: 1, bytesPerWrite: 8 })).toThrow(
      /multiple of 4096/,
    );
    expect(() => createSyntheticRamBackend({ size: PAGE_SIZE, seed: 1, bytesPerWrite: 0 })).toThrow(
      /bytesPerWrite/,
    );
    expect(() =>
      createSyntheticRamBackend({ size: PAGE_SIZE, seed: 1.5, bytesPerWrite: 8 }),
    ).toThrow(/seed/);
    expect(() =>
      createSyntheticRamBackend({ size: PAGE_SIZE, seed: 1, bytesPerWrite: 8, zeroShare: 2 }),
    ).toThrow(/zeroShare/);
    expect(() =>
      createSyntheticRamBackend({ size: PAGE_SIZE, seed: 1, bytesPerWrite: 8, deltaWindow: 0 }),
    ).toThrow(/deltaWindow/);
  });
});

describe("a 256 GiB synthetic backend", () => {
  it("costs 256 MiB of versions and is usable beyond 4 GiB offsets", () => {
    const before = process.memoryUsage().arrayBuffers;
    const b = createSyntheticRamBackend({ size: 256 * GiB, seed: 42, bytesPerWrite: 64 });
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(b.pageCount).toBe(67_108_864);
    expect(b.versions.byteLength).toBe(256 * MiB);
    expect(grown).toBeLessThan(300 * MiB);

    const last = b.pageCount - 1;
    const highOffset = last * PAGE_SIZE; // > 2^32
    expect(highOffset).toBeGreaterThan(2 ** 32);
    b.store(highOffset + 100, 4, 0);
    expect(b.pageVersion(last)).toBe(1);
    expect(b.isZeroPage(last)).toBe(false);
    const out = new Uint8Array(PAGE_SIZE);
    b.read(highOffset, out);
    expect(out).toEqual(page(b, last, 1));
    expect(b.load(highOffset + 100, 4)).toBe(new DataView(out.buffer).getUint32(100, true));
    // A page just above 4 GiB is distinct from page 0 (no 32-bit truncation of offsets).
    const above4G = (4 * GiB) / PAGE_SIZE + 1;
    b.store(above4G * PAGE_SIZE, 1, 0);
    expect(b.pageVersion(above4G)).toBe(1);
    expect(b.pageVersion(1)).toBe(0);
    expect(b.touchedPageCount()).toBe(2);
    b.write(highOffset, new Uint8Array(PAGE_SIZE));
    expect(b.pageVersion(last)).toBe(0);
  });
});

describe("synthetic RAM's compact page form (VersionedPages)", () => {
  it("is the backend itself; be32 version round-trips into another backend of the same seed", () => {
    const a = createSyntheticRamBackend({ size: 16 * 4096, seed: 7, bytesPerWrite: 64 });
    const b = createSyntheticRamBackend({ size: 16 * 4096, seed: 7, bytesPerWrite: 64 });
    expect(a.versioned).toBe(a);
    expect(a.compactBytes).toBe(4);
    a.bumpPage(3);
    a.setPageVersion(5, 0xfedcba98);
    const buf = new Uint8Array(8);
    for (const page of [3, 5]) {
      a.versioned.writeCompact(page, a.versions[page], buf, 2);
      b.versioned.readCompact(page, buf, 2);
    }
    expect(Array.from(buf.subarray(2, 6))).toEqual([0xfe, 0xdc, 0xba, 0x98]);
    expect(Array.from(b.versions)).toEqual(Array.from(a.versions));
    const pa = new Uint8Array(4096);
    const pb = new Uint8Array(4096);
    a.read(5 * 4096, pa);
    b.read(5 * 4096, pb);
    expect(pb).toEqual(pa);
  });
});
