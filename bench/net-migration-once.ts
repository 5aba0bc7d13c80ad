/**
 * One live migration of bench/net-migration-run.ts, printed as JSON (GB/s, total time,
 * query-migrate p50/p99/max, source CPU, both sides' longest event-loop gaps with their
 * process.hrtime windows — the clock of V8's CPU profiles, so a gap can be looked up in a
 * `--cpu-prof` profile of the source, or of the destination with FERRY_NET_BENCH_PROF=DIR).
 *
 *   [FERRY_NET_BENCH_LOOP=1] node --import tsx [--cpu-prof --cpu-prof-dir=DIR] bench/net-migration-once.ts [plain|tls] [off]
 *
 * `off` sets `x-integrity: false` (QEMU's stream: the source does not digest it).
 */
import "reflect-metadata";
import { migrateOnce, pct } from "./net-migration-run";

const tls = process.argv[2] === "tls";
const r = await migrateOnce(tls, process.argv[3] === "off" ? false : "auto");
console.log(
  JSON.stringify({
    gbps: r.gbps,
    totalMs: r.totalMs,
    setupMs: r.setupMs,
    downtimeMs: r.downtimeMs,
    passes: r.passes,
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    max: Math.max(...r.latencies),
    srcCpuMs: r.srcCpuMs,
    srcUse: r.srcUse,
    dstUse: r.dstUse,
    idleCpuPerS: r.idleCpuPerS,
    srcStall: r.srcStall,
    dstStall: r.dstStall,
  }),
);
process.exit(0);
