/**
 * RV32 interpreter throughput (vitest bench). Each iteration runs 2 million guest instructions;
 * guest MIPS = 2000 / (mean ms). `npx tsx bench/riscv-mips.ts` prints MIPS directly.
 * Run: npx vitest bench --run bench/riscv-interp.bench.ts (vitest 5: `bench` is a test fixture).
 */
import { test } from "vitest";
import { createDirtyBitmap, createVcpuRun } from "../packages/core/src/index";
import { benchHart, computeLoop, storeLoop } from "./riscv-programs";

const PER_ITERATION = 2_000_000;

const run = createVcpuRun();
const ringSink = createDirtyBitmap(1024);
const compute = benchHart(computeLoop);
const storesOff = benchHart(storeLoop);
const storesOn = benchHart(storeLoop);
storesOn.ram.dirty.start();
const storesRing = benchHart(storeLoop, "interpreter", 4096);
storesRing.ram.dirty.start();

test("riscv interpreter, 2M guest instructions per iteration", async ({ bench }) => {
  await bench.compare(
    bench("compute loop", () => {
      compute.hart.run(run, PER_ITERATION);
    }),
    bench("store loop, dirty logging off", () => {
      storesOff.hart.run(run, PER_ITERATION);
    }),
    bench("store loop, dirty logging on", () => {
      storesOn.hart.run(run, PER_ITERATION);
    }),
    bench("store loop, dirty ring (4096 entries, synced every iteration)", () => {
      storesRing.hart.run(run, PER_ITERATION);
      storesRing.ram.dirty.sync(ringSink);
    }),
    { iterations: 50 },
  );
});
