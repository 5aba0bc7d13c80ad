/**
 * Word-array page bitmaps with fast scans.
 */
import { InvalidArgumentError } from "../errors";
import type { DirtyBitmap } from "./types";

/** Number of set bits in a 32-bit word (SWAR popcount). */
export function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Check a page count: a non-negative safe integer. */
export function checkPageCount(pageCount: number, what: string): void {
  if (!Number.isSafeInteger(pageCount) || pageCount < 0) {
    throw new InvalidArgumentError(
      `${what} page count must be a non-negative integer, got ${pageCount}`,
    );
  }
}

/** A page bitmap: bit `p & 31` of word `p >>> 5` is page `p`. Bits past `pageCount` stay 0. */
class WordBitmap implements DirtyBitmap {
  readonly pageCount: number;
  readonly words: Uint32Array;

  constructor(pageCount: number) {
    this.pageCount = pageCount;
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
  }

  private check(page: number): void {
    if (!(page >= 0 && page < this.pageCount) || page % 1 !== 0) {
      throw new InvalidArgumentError(
        `page ${page} is out of range: expected an integer in 0..${this.pageCount - 1}`,
      );
    }
  }

  get(page: number): boolean {
    this.check(page);
    return (this.words[page >>> 5] & (1 << (page & 31))) !== 0;
  }

  set(page: number): void {
    this.check(page);
    this.words[page >>> 5] |= 1 << (page & 31);
  }

  clear(page: number): void {
    this.check(page);
    this.words[page >>> 5] &= ~(1 << (page & 31));
  }

  setAll(): void {
    const words = this.words;
    words.fill(0xffffffff);
    const rem = this.pageCount & 31;
    if (rem !== 0) words[words.length - 1] = (1 << rem) - 1;
  }

  clearAll(): void {
    this.words.fill(0);
  }

  count(): number {
    const words = this.words;
    let n = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (w !== 0) n += popcount32(w);
    }
    return n;
  }

  nextSet(from: number): number {
    if (from < 0) from = 0;
    if (!(from < this.pageCount)) return -1;
    const words = this.words;
    const len = words.length;
    let i = Math.floor(from / 32);
    let w = words[i] & (-1 << (from & 31));
    while (w === 0) {
      if (++i >= len) return -1;
      w = words[i];
    }
    return i * 32 + (31 - Math.clz32(w & -w));
  }
}

/** Build a clean bitmap of `pageCount` pages. */
export function createDirtyBitmap(pageCount: number): DirtyBitmap {
  checkPageCount(pageCount, "bitmap");
  return new WordBitmap(pageCount);
}
