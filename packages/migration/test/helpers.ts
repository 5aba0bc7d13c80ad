/**
 * Test helpers: RAM backends with guard regions around them, so tests can prove the reader never
 * writes outside guest RAM.
 */
import { PAGE_SIZE, type RamBackend } from "@ferry/core";
import type { RamBlockTarget } from "../src/index";

/** Guard bytes on each side of a guarded backend. */
export const GUARD = 4096;
const GUARD_FILL = 0xa5;

/** A RAM backend whose bytes are a window of a larger buffer filled with a guard pattern. */
export interface GuardedBackend extends RamBackend {
  /** True when both guard regions are untouched. */
  guardsIntact(): boolean;
}

/** Make a guarded array backend of `size` bytes (a multiple of PAGE_SIZE). */
export function guardedBackend(size: number): GuardedBackend {
  const all = new Uint8Array(size + 2 * GUARD).fill(GUARD_FILL);
  const bytes = all.subarray(GUARD, GUARD + size);
  bytes.fill(0);
  return {
    kind: "array",
    size,
    bytes,
    read: (offset, out) => out.set(bytes.subarray(offset, offset + out.length)),
    write: (offset, src) => bytes.set(src, offset),
    isZeroPage(page) {
      for (let i = page * PAGE_SIZE; i < (page + 1) * PAGE_SIZE; i++)
        if (bytes[i] !== 0) return false;
      return true;
    },
    load: (offset, n) => {
      let v = 0;
      for (let i = n - 1; i >= 0; i--) v = v * 256 + bytes[offset + i];
      return v;
    },
    store: (offset, n, value) => {
      for (let i = 0; i < n; i++) bytes[offset + i] = (value >>> (8 * i)) & 0xff;
    },
    guardsIntact() {
      for (let i = 0; i < GUARD; i++) {
        if (all[i] !== GUARD_FILL || all[GUARD + size + i] !== GUARD_FILL) return false;
      }
      return true;
    },
  };
}

/** Blocks named `ram0..` of the given page counts, with guarded backends. */
export function guardedBlocks(
  pageCounts: readonly number[],
): Array<RamBlockTarget & { backend: GuardedBackend }> {
  return pageCounts.map((pages, i) => ({
    name: `ram${i}`,
    size: pages * PAGE_SIZE,
    backend: guardedBackend(pages * PAGE_SIZE),
  }));
}

/** A tiny deterministic PRNG (xorshift32) for test data. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** `bytes` cut at `cuts` (in any order; cuts past the end fall at the end): the pieces in order. */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...cuts].sort((x, y) => x - y)) {
    const to = Math.max(from, Math.min(c, bytes.length));
    out.push(bytes.subarray(from, to));
    from = to;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** The bytes of `parts`, back to back, in one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
