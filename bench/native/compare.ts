/**
 * XBZRLE against a C baseline (not part of CI): compiles bench/native/xbzrle.c with gcc -O2 — a
 * C implementation of QEMU's plain encoder/decoder path written from the format description —
 * and times it on the same pages as ferry's WebAssembly encoder, its JavaScript encoder (the
 * previous implementation) and its decoder, in the same run. Prints GB/s of input page bytes
 * (best batch and mean) and the ratios.
 *
 *   npx tsx bench/native/compare.ts [MIN_MS=1500]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createXbzrleWasmKernel,
  type XbzrleEncodeFn,
  xbzrleDecode,
  xbzrleEncodeJs,
  xbzrleEncodeWasm,
} from "../../plugins/xbzrle/src/codec";
import { BYTES_PER_ITER, makeCache, makeCases, PAGES, PS } from "../xbzrle-cases";

const MIN_MS = Number(process.argv[2] ?? 1500);
const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ferry-xbzrle-"));
const exe = join(dir, "xbzrle");
execFileSync("gcc", ["-O2", "-o", exe, join(here, "xbzrle.c")]);

interface Timing {
  best: number;
  mean: number;
  check: number;
}

function runC(mode: string, file: string, limit: number): Timing {
  const outText = execFileSync(exe, [mode, file, `${PAGES}`, `${PS}`, `${limit}`, `${MIN_MS}`], {
    encoding: "utf8",
  });
  const [best, mean, check] = outText.trim().split(/\s+/).map(Number);
  return { best, mean, check };
}

/** Times `iter` (one pass over every page; returns a checksum) like the C driver does. */
function timeJs(iter: () => number): Timing {
  for (let w = 0; w < 50; w++) iter();
  let best = Number.POSITIVE_INFINITY;
  let total = 0;
  let n = 0;
  let check = 0;
  const end = performance.now() + MIN_MS;
  do {
    const t0 = process.hrtime.bigint();
    check = iter();
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt < best) best = dt;
    total += dt;
    n++;
  } while (performance.now() < end);
  return { best, mean: total / n, check };
}

const gbs = (ns: number) => BYTES_PER_ITER / ns;
const f2 = (x: number) => x.toFixed(2);

const cache = makeCache();
const cases = makeCases(cache);
const out = new Uint8Array(3 * PS + 8);

function encodeAll(
  enc: XbzrleEncodeFn,
  neu: Uint8Array,
  limit: number,
  old: Uint8Array = cache,
  dst: Uint8Array = out,
): () => number {
  return () => {
    let sum = 0;
    for (let p = 0; p < PAGES; p++) sum += enc(old, p * PS, neu, p * PS, PS, dst, 0, limit);
    return sum;
  };
}

/**
 * The migration encoder's set-up: the cached pages live in the kernel's memory and the output
 * goes to the kernel's output area; only the new page is copied in.
 */
const kernel = createXbzrleWasmKernel();
const kernelStore = kernel === null ? null : kernel.allocate(BYTES_PER_ITER);
kernelStore?.set(cache);

const rows: string[] = [];
const head = (cols: string[]) => {
  rows.push(`| ${cols.join(" | ")} |`);
  rows.push(`| ${cols.map(() => "---").join(" | ")} |`);
};

head([
  "encode case",
  "C -O2 GB/s (best/mean)",
  "C + snapshot memcpy",
  "wasm GB/s (pages copied in)",
  "wasm GB/s (as in migration: cache + output in kernel)",
  "JS GB/s (previous)",
  "wasm / C",
  "wasm migration / C",
  "wasm migration / C+memcpy",
  "JS / C",
  "wasm migration / JS",
]);
for (const c of cases) {
  const file = join(dir, `${c.name}.enc`);
  const both = new Uint8Array(2 * BYTES_PER_ITER);
  both.set(cache, 0);
  both.set(c.neu, BYTES_PER_ITER);
  writeFileSync(file, both);
  const tc = runC("enc", file, c.limit);
  const ts = runC("save", file, c.limit);
  const tj = timeJs(encodeAll(xbzrleEncodeJs, c.neu, c.limit));
  const tw = xbzrleEncodeWasm === null ? null : timeJs(encodeAll(xbzrleEncodeWasm, c.neu, c.limit));
  const tk =
    kernel === null || kernelStore === null
      ? null
      : timeJs(encodeAll(kernel.encode, c.neu, c.limit, kernelStore, kernel.output()));
  for (const t of [tj, tw, tk]) {
    if (t !== null && t.check !== tc.check) {
      throw new Error(`${c.name}: result checksums differ (C ${tc.check}, ferry ${t.check})`);
    }
  }
  const cell = (t: Timing | null) =>
    t === null ? "n/a" : `${f2(gbs(t.best))} / ${f2(gbs(t.mean))}`;
  const ratio = (a: Timing | null, b: Timing | null) =>
    a === null || b === null ? "n/a" : f2(a.best / b.best);
  const cells = [cell(tc), cell(ts), cell(tw), cell(tk), cell(tj)];
  const ratios = [ratio(tc, tw), ratio(tc, tk), ratio(ts, tk), ratio(tc, tj), ratio(tj, tk)];
  rows.push(`| ${c.title} | ${[...cells, ...ratios].join(" | ")} |`);
}

rows.push("");
head(["decode case", "C -O2 GB/s (best/mean)", "ferry GB/s (best/mean)", "ferry / C"]);
for (const c of cases) {
  if (c.name === "identical" || c.name === "alternating") continue;
  const stride = 4 + PS;
  const payload = new Uint8Array(BYTES_PER_ITER + PAGES * stride);
  payload.set(cache, 0);
  const lens = new Int32Array(PAGES);
  for (let p = 0; p < PAGES; p++) {
    const at = BYTES_PER_ITER + p * stride;
    const n = xbzrleEncodeJs(cache, p * PS, c.neu, p * PS, PS, payload, at + 4, PS);
    if (n <= 0) throw new Error(`${c.name}: page ${p} did not encode (${n})`);
    lens[p] = n;
    new DataView(payload.buffer).setUint32(at, n, true);
  }
  const file = join(dir, `${c.name}.dec`);
  writeFileSync(file, payload);
  const tc = runC("dec", file, PS);
  const dest = cache.slice();
  const tf = timeJs(() => {
    let sum = 0;
    for (let p = 0; p < PAGES; p++) {
      sum += xbzrleDecode(payload, BYTES_PER_ITER + p * stride + 4, lens[p], dest, p * PS, PS);
    }
    return sum;
  });
  if (tf.check !== tc.check) throw new Error(`${c.name}: decode checksums differ`);
  const cell = (t: Timing) => `${f2(gbs(t.best))} / ${f2(gbs(t.mean))}`;
  rows.push(`| ${c.title} | ${cell(tc)} | ${cell(tf)} | ${f2(tc.best / tf.best)} |`);
}

rmSync(dir, { recursive: true, force: true });
console.log(`XBZRLE vs C (gcc -O2), ${PAGES} pages of ${PS} bytes per batch, ${MIN_MS} ms per row`);
console.log(rows.join("\n"));
