/**
 * The block compiler against the interpreter (vitest bench): each iteration runs 2 million guest
 * instructions on each engine; the ratio of the means is the speed-up, guest MIPS = 2000 / (mean
 * ms). `npx tsx bench/riscv-jit.ts` prints ratios, MIPS and the compile cost directly.
 * Run: npx vitest bench --run bench/riscv-jit.bench.ts
 */
import { test } from "vitest";
import { createVcpuRun } from "../packages/core/src/index";
import { benchHart, computeLoop, storeLoop } from "./riscv-programs";

const PER_ITERATION = 2_000_000;

const run = createVcpuRun();
const computeI = benchHart(computeLoop, "interpreter");
const computeJ = benchHart(computeLoop, "jit");
const storesI = benchHart(storeLoop, "interpreter");
const storesJ = benchHart(storeLoop, "jit");
storesI.ram.dirty.start();
storesJ.ram.dirty.start();

test("compute loop: jit vs interpreter, 2M guest instructions per iteration", async ({ bench }) => {
  await bench.compare(
    bench("interpreter", () => {
      computeI.hart.run(run, PER_ITERATION);
    }),
    bench("jit", () => {
      computeJ.hart.run(run, PER_ITERATION);
    }),
    { iterations: 30 },
  );
});

test("store loop, dirty logging on: jit vs interpreter", async ({ bench }) => {
  await bench.compare(
    bench("interpreter", () => {
      storesI.hart.run(run, PER_ITERATION);
    }),
    bench("jit", () => {
      storesJ.hart.run(run, PER_ITERATION);
    }),
    { iterations: 30 },
  );
});
