/**
 * Plain MIPS measurement of the RV32 interpreter: `npx tsx bench/riscv-mips.ts`.
 * Prints guest instructions per wall second for a compute loop and a store-heavy loop with
 * dirty logging off and on. (Wall-clock reads are fine here: this is the host benchmark, not
 * simulated code.)
 */
import { createDirtyBitmap, createVcpuRun } from "../packages/core/src/index";
import { benchHart, computeLoop, storeLoop } from "./riscv-programs";

function measure(
  program: readonly number[],
  logging: boolean,
  instructions: number,
  ringSize?: number,
): number {
  const { hart, ram } = benchHart(program, "interpreter", ringSize);
  if (logging) ram.dirty.start();
  const sink = createDirtyBitmap(ram.dirty.pageCount);
  const run = createVcpuRun();
  const slice = 1_000_000; // 1 ms of virtual time per run at 1000 MIPS
  // warm up
  for (let i = 0; i < 20; i++) hart.run(run, slice);
  const t0 = performance.now();
  let done = 0;
  while (done < instructions) {
    hart.run(run, slice);
    done += run.retired;
    // The ring fills at 4096 fresh pages; a sync (harvest + reset) per 1 M instructions is
    // what a migration thread's syncs amount to. The bitmap gets the same syncs.
    if (logging && ringSize !== undefined) ram.dirty.sync(sink);
  }
  const ms = performance.now() - t0;
  return done / ms / 1000;
}

const N = Number(process.argv[2] ?? 300_000_000);
const compute = measure(computeLoop, false, N);
console.log(`compute loop:                 ${compute.toFixed(1)} MIPS`);
const storeOff = measure(storeLoop, false, N);
console.log(`store loop, dirty log off:    ${storeOff.toFixed(1)} MIPS`);
const storeOn = measure(storeLoop, true, N);
console.log(`store loop, dirty log on:     ${storeOn.toFixed(1)} MIPS`);
console.log(`dirty logging cost:           ${((1 - storeOn / storeOff) * 100).toFixed(1)} %`);
const storeRing = measure(storeLoop, true, N, 4096);
console.log(`store loop, dirty ring:       ${storeRing.toFixed(1)} MIPS`);
console.log(`dirty ring cost:              ${((1 - storeRing / storeOff) * 100).toFixed(1)} %`);
