/**
 * Synthetic RAM + `workload` backend throughput. Each "workload" iteration performs
 * WRITES_PER_ITER page writes (multiply hz by it for writes per second); each "materialize"
 * iteration produces PAGES_PER_ITER pages.
 *
 *   npx vitest bench --run bench/synthetic.bench.ts
 */
import { test } from "vitest";
import { createAddressSpace } from "../packages/core/src/memory/address-space";
import { PAGE_SIZE } from "../packages/core/src/memory/types";
import { createSyntheticRamBackend } from "../packages/sim/src/synthetic";
import { createVcpuRun } from "../packages/core/src/vcpu/types";
import { workloadBackend } from "../packages/sim/src/workload";
import type { WorkloadDistribution } from "../packages/sim/src/workload";

const GiB = 1024 * 1024 * 1024;
const SIZE = 256 * GiB;
const WRITES_PER_ITER = 100_000;
const PAGES_PER_ITER = 1_000;

const ram = createSyntheticRamBackend({ size: SIZE, seed: 1, bytesPerWrite: 64, zeroShare: 0.01 });
const memory = createAddressSpace();
const region = memory.addRam({ name: "ram", base: 0x8000_0000, size: SIZE, backend: ram });
region.dirty.start();

function vcpuFor(distribution: WorkloadDistribution) {
  const cpu = workloadBackend({ seed: 2, writesPerSecond: 1e9, busyShare: 1, distribution });
  return cpu.createVcpu({ hartId: 0, memory, timebaseHz: 10_000_000, vcpuCount: 1 });
}

const run = createVcpuRun();
// 1e9 writes/s: a budget of WRITES_PER_ITER ns performs WRITES_PER_ITER writes.
const hotCold = vcpuFor({
  kind: "hot-cold",
  hotBytes: GiB,
  hotShare: 0.9,
  footprintBytes: 9 * GiB,
});
const zipf = vcpuFor({ kind: "zipf", s: 1, footprintBytes: 9 * GiB });
const uniform = vcpuFor({ kind: "uniform" });

test(`workload writes on a 256 GiB synthetic backend (x${WRITES_PER_ITER} writes/iter)`, async ({
  bench,
}) => {
  await bench.compare(
    bench("hot-cold 1 GiB hot (90%) / 9 GiB, dirty logging on", () => {
      hotCold.run(run, WRITES_PER_ITER);
    }),
    bench("zipf s=1 over 9 GiB, dirty logging on", () => {
      zipf.run(run, WRITES_PER_ITER);
    }),
    bench("uniform over 256 GiB, dirty logging on", () => {
      uniform.run(run, WRITES_PER_ITER);
    }),
  );
});

const out = new Uint8Array(PAGE_SIZE);
const wide = createSyntheticRamBackend({ size: GiB, seed: 1, bytesPerWrite: 64, deltaWindow: 8 });
let next = 0;

test(`page materialization (x${PAGES_PER_ITER} pages/iter)`, async ({ bench }) => {
  await bench.compare(
    bench("materializePage, bytesPerWrite 64", () => {
      for (let i = 0; i < PAGES_PER_ITER; i++) {
        ram.materializePage(next++ & 0xffff, 1 + (i & 7), out);
      }
    }),
    bench("materializePage, bytesPerWrite 64, deltaWindow 8", () => {
      for (let i = 0; i < PAGES_PER_ITER; i++) {
        wide.materializePage(next++ & 0xffff, 100 + (i & 7), out);
      }
    }),
    bench("read() of a whole page", () => {
      for (let i = 0; i < PAGES_PER_ITER; i++) ram.read((next++ & 0xffff) * PAGE_SIZE, out);
    }),
  );
});
