/**
 * Dirty bitmap / dirty log scans over a 256 GiB guest (67,108,864 pages of 4 KiB).
 * Run: npx vitest bench --run bench/core-dirty.bench.ts
 * (vitest 5 benchmark API: `bench` is a test-context fixture; `bench.compare` prints a table.)
 */
import { test } from "vitest";
import { createDirtyBitmap, createDirtyLog, type DirtyBitmap } from "../packages/core/src/index";

const PAGES = (256 * 1024 ** 3) / 4096;

/** Deterministic xorshift32 (benchmarks too avoid Math.random). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function fill(bm: DirtyBitmap, share: number, seed: number): void {
  const r = rng(seed);
  if (share >= 0.5) {
    for (let w = 0; w < bm.words.length; w++) bm.words[w] = (r() * 4294967296) >>> 0;
  } else {
    const n = Math.round(PAGES * share);
    for (let i = 0; i < n; i++) bm.set(Math.floor(r() * PAGES));
  }
}

function scan(bm: DirtyBitmap): number {
  let n = 0;
  for (let p = bm.nextSet(0); p !== -1; p = bm.nextSet(p + 1)) n++;
  return n;
}

const sparse = createDirtyBitmap(PAGES);
fill(sparse, 0.0001, 1); // ~6.7k dirty pages
const dense = createDirtyBitmap(PAGES);
fill(dense, 0.5, 2); // ~33.5M dirty pages (random words)

test("256 GiB bitmap: nextSet scan of every set page", async ({ bench }) => {
  await bench.compare(
    bench("sparse (0.01% dirty)", () => {
      scan(sparse);
    }),
    bench("dense (50% dirty)", () => {
      scan(dense);
    }),
    { iterations: 5 },
  );
});

test("256 GiB bitmap: count", async ({ bench }) => {
  await bench.compare(
    bench("sparse (0.01% dirty)", () => {
      sparse.count();
    }),
    bench("dense (50% dirty)", () => {
      dense.count();
    }),
  );
});

test("256 GiB dirty log: sync into the migration bitmap", async ({ bench }) => {
  const log = createDirtyLog(PAGES);
  log.start();
  const into = createDirtyBitmap(PAGES);
  const sparsePages: number[] = [];
  for (let p = sparse.nextSet(0); p !== -1; p = sparse.nextSet(p + 1)) sparsePages.push(p);
  await bench.compare(
    bench("clean (nothing dirty)", () => {
      log.sync(into);
    }),
    bench("sparse (0.01% dirty): mark + sync", () => {
      for (const p of sparsePages) log.markPage(p);
      log.sync(into);
    }),
    bench("dense (50% dirty): copy words + sync", () => {
      log.words.set(dense.words);
      log.sync(into);
    }),
    { iterations: 10 },
  );
});
