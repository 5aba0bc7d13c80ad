/**
 * RV32 interpreter throughput (vitest bench). Each iteration runs 2 million guest instructions;
 * guest MIPS = 2000 / (mean ms). `npx tsx bench/riscv-mips.ts` prints MIPS directly.
 * Run: npx vitest bench --run bench/riscv-interp.bench.ts (vitest 5: `bench` is a test fixture).
 */
import { test } from "vitest";
import {
  createAddressSpace,
  createRamBackend,
  createVcpuRun,
  type RamRegion,
} from "../packages/core/src/index";
import { type RiscvHart, riscvBackend } from "../packages/riscv/src/index";
import { computeLoop, storeLoop } from "./riscv-programs";

const RAM_BASE = 0x80000000;
const PER_ITERATION = 2_000_000;

function setup(program: readonly number[]): { hart: RiscvHart; ram: RamRegion } {
  const memory = createAddressSpace();
  const size = 4 << 20;
  const ram = memory.addRam({
    name: "ram",
    base: RAM_BASE,
    size,
    backend: createRamBackend("array", size),
  });
  const bytes = new Uint8Array(program.length * 4);
  const dv = new DataView(bytes.buffer);
  program.forEach((w, i) => {
    dv.setUint32(i * 4, w, true);
  });
  memory.writeBytes(RAM_BASE, bytes);
  const hart = riscvBackend({ mips: 1000 }).createVcpu({
    hartId: 0,
    memory,
    timebaseHz: 10_000_000,
    vcpuCount: 1,
  });
  hart.reset(RAM_BASE, 0);
  return { hart, ram };
}

const run = createVcpuRun();
const compute = setup(computeLoop);
const storesOff = setup(storeLoop);
const storesOn = setup(storeLoop);
storesOn.ram.dirty.start();

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
    { iterations: 50 },
  );
});
