/**
 * The XBZRLE benchmark inputs shared by bench/xbzrle.bench.ts and bench/native/compare.ts:
 * PAGES cached pages of random bytes and, per case, the new pages (deterministic LCG data).
 */
export const PS = 4096;
export const PAGES = 64;
export const BYTES_PER_ITER = PS * PAGES;

/** One benchmark input: the new pages to encode against {@link makeCache}'s pages. */
export interface XbzrleCase {
  /** Short name (table rows). */
  readonly name: string;
  /** What changed, in words. */
  readonly title: string;
  /** New pages (PAGES × PS bytes). */
  readonly neu: Uint8Array;
  /** The encoder's output limit (QEMU's `dlen`). */
  readonly limit: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
}

/** The cached (old) pages: random content. */
export function makeCache(): Uint8Array {
  const rnd = lcg(1);
  const cache = new Uint8Array(BYTES_PER_ITER);
  for (let i = 0; i < cache.length; i++) cache[i] = rnd() & 0xff;
  return cache;
}

/** The benchmark cases over `cache` (the common cases first). */
export function makeCases(cache: Uint8Array): XbzrleCase[] {
  const rnd = lcg(2);
  const identical = cache.slice();

  const words = cache.slice();
  for (let w = 0; w < words.length; w += 4) {
    if (rnd() % 100 === 0) for (let k = 0; k < 4; k++) words[w + k] ^= 1 + (rnd() % 255);
  }

  const fewRuns = cache.slice();
  for (let p = 0; p < PAGES; p++) {
    for (let r = 0; r < 3; r++) {
      const off = p * PS + (rnd() % (PS - 16));
      const len = 1 + (rnd() % 16);
      for (let k = 0; k < len; k++) fewRuns[off + k] ^= 0xff;
    }
  }

  const dense = cache.slice();
  for (let p = 0; p < PAGES; p++) {
    for (let r = 0; r < 16; r++) {
      const off = p * PS + r * 256 + 32;
      for (let k = 0; k < 64; k++) dense[off + k] ^= 0x0f;
    }
  }

  const alternating = cache.slice();
  for (let i = 0; i < alternating.length; i += 2) alternating[i] ^= 0x55;

  return [
    { name: "identical", title: "identical pages", neu: identical, limit: PS },
    { name: "words-1%", title: "~1 % of 4-byte words changed", neu: words, limit: PS },
    { name: "3-runs", title: "3 short changed runs per page", neu: fewRuns, limit: PS },
    { name: "16x64", title: "16 runs of 64 bytes per page", neu: dense, limit: PS },
    {
      name: "alternating",
      title: "alternating bytes, limit = page (overflows)",
      neu: alternating,
      limit: PS,
    },
  ];
}
