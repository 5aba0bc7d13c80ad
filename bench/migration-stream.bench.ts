/**
 * Migration stream and end-to-end benchmarks (vitest 5 fixture API). GB/s figures (1 GB = 1e9
 * bytes) and the virtual-time results are printed.
 *
 *   npx vitest bench --run bench/migration-stream.bench.ts
 */
import {
  type CpuBackend,
  createRamBackend,
  ExitReason,
  PAGE_SIZE,
  VirtualScheduler,
} from "../packages/core/src/index";
import { createMachine } from "../packages/riscv/src/index";
import {
  createLink,
  createMigrationManager,
  forEachGathered,
  incoming,
  RamFlag,
  SectionType,
  StreamReader,
  StreamWriter,
} from "../packages/migration/src/index";
import { precopy } from "../plugins/precopy/src/index";
import { test } from "vitest";

const MiB = 1024 * 1024;

// ---- stream write + read of raw pages, in process ----
const STREAM_BYTES = 64 * MiB;
const src = new Uint8Array(STREAM_BYTES);
for (let i = 0; i < src.length; i += 4096) src[i] = (i >>> 12) | 1;
const block = { name: "ram", size: STREAM_BYTES };
const destBackend = createRamBackend("array", STREAM_BYTES);

function streamOnce(): void {
  const reader = new StreamReader({
    blocks: [{ name: "ram", size: STREAM_BYTES, backend: destBackend }],
  });
  const w = new StreamWriter((chunk) => reader.push(chunk), 1 << 20);
  w.header();
  const id = w.ramSetupSection([block]);
  w.sectionContinue(SectionType.END, id);
  for (let off = 0; off < STREAM_BYTES; off += PAGE_SIZE) {
    w.ramRecord(block, off, RamFlag.PAGE);
    w.bytes(src, off, PAGE_SIZE);
  }
  w.ramEos();
  w.footer(id);
  w.eof();
  w.flush();
  reader.end();
}

const STREAM_NAME = `write+read ${STREAM_BYTES / MiB} MiB of raw PAGE records`;

test("migration stream: writer → push reader, in process", async ({ bench }) => {
  const result = await bench(STREAM_NAME, streamOnce).run({ iterations: 10 });
  const { mean, min } = result.latency;
  const gb = (ms: number) => (STREAM_BYTES / (ms * 1e6)).toFixed(2);
  console.log(`${STREAM_NAME}: mean ${gb(mean)} GB/s, best ${gb(min)} GB/s`);
});

// The same pages by reference, as a socket migration sends them: runs of pages (PAGE_RUN), the
// pieces handed to the reader as a gathering transport hands them to the kernel.
function streamRunsOnce(): void {
  const reader = new StreamReader({
    blocks: [{ name: "ram", size: STREAM_BYTES, backend: destBackend }],
  });
  const push = (s: Uint8Array, off: number, len: number) => reader.push(s.subarray(off, off + len));
  const w = new StreamWriter((chunk) => reader.push(chunk), 1 << 20);
  w.gatherTo((own, spans) => forEachGathered(own, spans, push), 256);
  w.header();
  const id = w.ramSetupSection([block]);
  w.sectionContinue(SectionType.END, id);
  for (let off = 0; off < STREAM_BYTES; off += PAGE_SIZE) w.pageByRef(block, off, src, off);
  w.ramEos();
  w.footer(id);
  w.eof();
  w.flush();
  reader.end();
}

const RUNS_NAME = `write+read ${STREAM_BYTES / MiB} MiB of raw pages by reference (PAGE_RUN records)`;

test("migration stream: pages by reference in runs → push reader, in process", async ({
  bench,
}) => {
  const result = await bench(RUNS_NAME, streamRunsOnce).run({ iterations: 10 });
  const { mean, min } = result.latency;
  const gb = (ms: number) => (STREAM_BYTES / (ms * 1e6)).toFixed(2);
  console.log(`${RUNS_NAME}: mean ${gb(mean)} GB/s, best ${gb(min)} GB/s`);
});

// ---- 1 GiB guest migration in virtual time ----
/** A light dirtier: `rate` 4-byte stores/s into the first `pages` pages. */
function dirtier(rate: number, pages: number): CpuBackend {
  return {
    name: "bench-dirtier",
    workUnit: "stores",
    createVcpu(ctx) {
      const ram = ctx.memory.ramRegions[0];
      let s = 0x9e3779b9 ^ ctx.hartId;
      let work = 0;
      return {
        get workDone() {
          return work;
        },
        run(run, budgetNs) {
          const n = Math.floor((budgetNs * rate) / 1e9);
          const log = ram.dirty.logging;
          for (let i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >>> 17;
            s ^= s << 5;
            const off = ((s >>> 0) % (pages * 1024)) << 2;
            ram.backend.store(off, 4, s);
            if (log) ram.dirty.markOffset(off);
          }
          work += n;
          run.retired = n;
          run.consumedNs = budgetNs;
          run.exitReason = ExitReason.BudgetExhausted;
        },
        completeMmioRead() {},
        completeHypercall() {},
        setInterrupt() {},
        wantsWake: () => false,
        reset() {},
        saveState: () => ({ arch: "bench", s, work }),
        loadState(st) {
          s = st.s as number;
          work = st.work as number;
        },
      };
    },
  };
}

async function migrateGiB(): Promise<void> {
  const sched = new VirtualScheduler();
  const mk = () =>
    createMachine({
      scheduler: sched,
      cpu: dirtier(200_000, 16_384),
      vcpus: 2,
      memory: { size: 1024 * MiB },
    });
  const source = mk();
  const dest = mk();
  // half the RAM holds data, half is zero
  const bytes = source.ram.backend.bytes!;
  for (let off = 0; off < bytes.length / 2; off += 64) bytes[off] = (off >>> 6) | 1;
  source.start();
  await sched.run({ untilNs: 10_000_000 });
  const link = createLink({ scheduler: sched, bandwidth: 1250 * 1000 * 1000, latency: 100_000 });
  const mgr = createMigrationManager({ plugins: [precopy()] });
  mgr.setParameters({ "max-bandwidth": 0 });
  incoming({ machine: dest, transport: link.destination });
  const m = mgr.migrate({ machine: source, transport: link.source });
  await sched.run({
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  if (m.status !== "completed") throw new Error(`migration ${m.status}: ${m.error?.message}`);
  const info = m.info();
  console.log(
    `1 GiB migration: virtual total ${info["total-time"]} ms, downtime ${m.timings().downtimeNs! / 1e6} ms, ` +
      `transferred ${(info.ram!.transferred / MiB).toFixed(1)} MiB, syncs ${info.ram!["dirty-sync-count"]}`,
  );
  source.stop();
  dest.stop();
}

const GIB_NAME = "1 GiB guest, 2 vCPUs, 10 Gbit/s virtual link (wall time)";

test("migration: 1 GiB guest in virtual time", async ({ bench }) => {
  const result = await bench(GIB_NAME, migrateGiB).run({
    iterations: 2,
    time: 0,
    warmupIterations: 0,
    warmupTime: 0,
  });
  console.log(`${GIB_NAME}: mean ${result.latency.mean.toFixed(0)} ms wall`);
});
