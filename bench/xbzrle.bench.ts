/**
 * XBZRLE codec throughput (input page bytes per second). Each iteration handles PAGES pages
 * of 4 KiB; the GB/s figure (1 GB = 1e9 bytes) is printed after each group.
 *
 *   npx vitest bench --run bench/xbzrle.bench.ts
 */
import { test } from "vitest";
import { xbzrleDecode, xbzrleEncode } from "../plugins/xbzrle/src/codec";

const PS = 4096;
const PAGES = 64;
const BYTES_PER_ITER = PS * PAGES;

let seed = 1;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed >>> 8;
}

/** Cached copies (old pages), random content. */
const cache = new Uint8Array(BYTES_PER_ITER);
for (let i = 0; i < cache.length; i++) cache[i] = rnd() & 0xff;

/** New pages with 3 changed runs of 1..16 bytes each. */
const fewRuns = cache.slice();
for (let p = 0; p < PAGES; p++) {
  for (let r = 0; r < 3; r++) {
    const off = p * PS + (rnd() % (PS - 16));
    const len = 1 + (rnd() % 16);
    for (let k = 0; k < len; k++) fewRuns[off + k] ^= 0xff;
  }
}

/** New pages where every other byte changed: the encoder's worst case. */
const alternating = cache.slice();
for (let i = 0; i < alternating.length; i += 2) alternating[i] ^= 0x55;

/** New pages with 16 changed runs of 64 bytes (a quarter of the page). */
const dense = cache.slice();
for (let p = 0; p < PAGES; p++) {
  for (let r = 0; r < 16; r++) {
    const off = p * PS + r * 256 + 32;
    for (let k = 0; k < 64; k++) dense[off + k] ^= 0x0f;
  }
}

const out = new Uint8Array(4 * PS);

function encodeAll(neu: Uint8Array, limit: number): void {
  for (let p = 0; p < PAGES; p++) xbzrleEncode(cache, p * PS, neu, p * PS, PS, out, 0, limit);
}

/** Pre-encoded payloads of `neu` against `cache`, one per page. */
function payloadsOf(neu: Uint8Array, limit: number): { buf: Uint8Array; len: Int32Array } {
  const buf = new Uint8Array(PAGES * limit);
  const len = new Int32Array(PAGES);
  for (let p = 0; p < PAGES; p++) {
    len[p] = xbzrleEncode(cache, p * PS, neu, p * PS, PS, buf, p * limit, limit);
    if (len[p] <= 0) throw new Error(`bench setup: page ${p} did not encode (${len[p]})`);
  }
  return { buf, len };
}

const fewPayloads = payloadsOf(fewRuns, PS);
const densePayloads = payloadsOf(dense, PS);
const altPayloads = payloadsOf(alternating, 2 * PS);
const dest = cache.slice();

function decodeAll(pl: { buf: Uint8Array; len: Int32Array }, stride: number): void {
  for (let p = 0; p < PAGES; p++) {
    xbzrleDecode(pl.buf, p * stride, pl.len[p], dest, p * PS, PS);
  }
}

type Stats = { latency: { mean: number; min: number } };

/** Prints GB/s from the mean and from the fastest iteration (less sensitive to a busy host). */
function report(result: { get(name: string): Stats }, names: readonly string[]): void {
  for (const name of names) {
    const { mean, min } = result.get(name).latency;
    const gb = (ms: number) => (BYTES_PER_ITER / (ms * 1e6)).toFixed(2);
    console.log(`${name}: mean ${gb(mean)} GB/s, best ${gb(min)} GB/s`);
  }
}

const ENC = [
  "encode: 3 short changed runs per page",
  "encode: identical pages",
  "encode: 16 runs of 64 bytes per page",
  "encode worst case: alternating bytes, limit = page (overflows)",
  "encode worst case: alternating bytes, limit = 2 pages (full page)",
] as const;

test(`xbzrle encode (x${PAGES} pages of 4 KiB per iteration)`, async ({ bench }) => {
  const result = await bench.compare(
    bench(ENC[0], () => encodeAll(fewRuns, PS)),
    bench(ENC[1], () => encodeAll(cache, PS)),
    bench(ENC[2], () => encodeAll(dense, PS)),
    bench(ENC[3], () => encodeAll(alternating, PS)),
    bench(ENC[4], () => encodeAll(alternating, 2 * PS)),
  );
  report(result, ENC);
});

const DEC = [
  "decode: 3 short changed runs per page",
  "decode: 16 runs of 64 bytes per page",
  "decode worst case: alternating bytes (2048 runs per page)",
] as const;

test(`xbzrle decode (x${PAGES} pages of 4 KiB per iteration)`, async ({ bench }) => {
  const result = await bench.compare(
    bench(DEC[0], () => decodeAll(fewPayloads, PS)),
    bench(DEC[1], () => decodeAll(densePayloads, PS)),
    bench(DEC[2], () => decodeAll(altPayloads, 2 * PS)),
  );
  report(result, DEC);
});
