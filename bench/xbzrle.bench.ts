/**
 * XBZRLE codec throughput (input page bytes per second). Each iteration handles PAGES pages
 * of 4 KiB; the GB/s figures (1 GB = 1e9 bytes) and the ratios of the WebAssembly encoder to the
 * JavaScript encoder (the previous implementation, still the fallback) are printed after each
 * group, all measured in the same run.
 *
 *   npx vitest bench --run bench/xbzrle.bench.ts
 *
 * The comparison with a C build of QEMU's plain path is a separate script (needs gcc):
 *   npx tsx bench/native/compare.ts
 */
import { test } from "vitest";
import {
  createXbzrleWasmKernel,
  type XbzrleEncodeFn,
  xbzrleDecode,
  xbzrleEncodeJs,
  xbzrleEncodeWasm,
} from "../plugins/xbzrle/src/codec";
import { BYTES_PER_ITER, makeCache, makeCases, PAGES, PS } from "./xbzrle-cases";

const cache = makeCache();
const cases = makeCases(cache);
const out = new Uint8Array(3 * PS + 8);

/**
 * The migration encoder's set-up: the cached pages live in the kernel's memory and the output
 * goes to the kernel's output area; only the new page is copied in.
 */
const kernel = createXbzrleWasmKernel();
const kernelStore = kernel === null ? null : kernel.allocate(BYTES_PER_ITER);
kernelStore?.set(cache);

function encodeAll(
  enc: XbzrleEncodeFn,
  old: Uint8Array,
  neu: Uint8Array,
  limit: number,
  dst: Uint8Array = out,
): void {
  for (let p = 0; p < PAGES; p++) enc(old, p * PS, neu, p * PS, PS, dst, 0, limit);
}

type Stats = { latency: { mean: number; min: number } };
type Results = { get(name: string): Stats };

const gb = (ms: number) => BYTES_PER_ITER / (ms * 1e6);

/** Prints GB/s from the mean and from the fastest iteration (less sensitive to a busy host). */
function report(result: Results, names: readonly string[]): void {
  for (const name of names) {
    const { mean, min } = result.get(name).latency;
    console.log(`${name}: mean ${gb(mean).toFixed(2)} GB/s, best ${gb(min).toFixed(2)} GB/s`);
  }
}

/** Prints new/previous speed ratios (mean and best). */
function ratio(result: Results, label: string, fast: string, base: string): void {
  const f = result.get(fast).latency;
  const b = result.get(base).latency;
  console.log(
    `${label}: ${(b.mean / f.mean).toFixed(2)}x (mean), ${(b.min / f.min).toFixed(2)}x (best)`,
  );
}

for (const c of cases) {
  test(`xbzrle encode, ${c.title} (x${PAGES} pages of 4 KiB per iteration)`, async ({ bench }) => {
    const js = `${c.name}: JS encoder (previous)`;
    const wasm = `${c.name}: wasm encoder, pages copied in`;
    const inKernel = `${c.name}: wasm encoder, cached pages in its memory (migration set-up)`;
    const entries = [bench(js, () => encodeAll(xbzrleEncodeJs, cache, c.neu, c.limit))];
    const names = [js];
    if (xbzrleEncodeWasm !== null && kernel !== null && kernelStore !== null) {
      const w = xbzrleEncodeWasm;
      entries.push(bench(wasm, () => encodeAll(w, cache, c.neu, c.limit)));
      entries.push(
        bench(inKernel, () =>
          encodeAll(kernel.encode, kernelStore, c.neu, c.limit, kernel.output()),
        ),
      );
      names.push(wasm, inKernel);
    }
    const result = await bench.compare(...entries);
    report(result, names);
    if (names.length === 3) {
      ratio(result, `${c.name}: wasm / JS`, wasm, js);
      ratio(result, `${c.name}: wasm in kernel / JS`, inKernel, js);
    }
  });
}

/** Pre-encoded payloads of `neu` against `cache`, one per page. */
function payloadsOf(neu: Uint8Array, limit: number): { buf: Uint8Array; len: Int32Array } {
  const buf = new Uint8Array(PAGES * limit);
  const len = new Int32Array(PAGES);
  for (let p = 0; p < PAGES; p++) {
    len[p] = xbzrleEncodeJs(cache, p * PS, neu, p * PS, PS, buf, p * limit, limit);
    if (len[p] <= 0) throw new Error(`bench setup: page ${p} did not encode (${len[p]})`);
  }
  return { buf, len };
}

const byName = new Map(cases.map((c) => [c.name, c]));
const alternating = byName.get("alternating");
if (alternating === undefined) throw new Error("bench setup: no alternating case");
const decodeInputs = [
  ...cases
    .filter((c) => c.name !== "identical" && c.name !== "alternating")
    .map((c) => ({ title: c.title, pl: payloadsOf(c.neu, PS), stride: PS })),
  {
    title: "alternating bytes (2048 runs per page)",
    pl: payloadsOf(alternating.neu, 2 * PS),
    stride: 2 * PS,
  },
];
const dest = cache.slice();

function decodeAll(pl: { buf: Uint8Array; len: Int32Array }, stride: number): void {
  for (let p = 0; p < PAGES; p++) {
    xbzrleDecode(pl.buf, p * stride, pl.len[p], dest, p * PS, PS);
  }
}

test(`xbzrle decode (x${PAGES} pages of 4 KiB per iteration)`, async ({ bench }) => {
  const names = decodeInputs.map((d) => `decode: ${d.title}`);
  const result = await bench.compare(
    ...decodeInputs.map((d, i) => bench(names[i], () => decodeAll(d.pl, d.stride))),
  );
  report(result, names);
});
