/**
 * Live migration over loopback TCP between real processes, and the monitor's latency meanwhile
 * (the run itself: bench/net-migration-run.ts). Prints GB/s and query-migrate p50/p99/max.
 *
 *   npx vitest bench --run bench/net-migration.bench.ts   (FERRY_NET_BENCH_MIB=1024, FERRY_NET_BENCH_BW=0)
 */
import { test } from "vitest";
import { MIB, migrateOnce, pct } from "./net-migration-run";

/** The median of `xs` (the mean of the middle two for an even count). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** FERRY_NET_BENCH_RUNS: migrations per variant (default 2). */
const RUNS = Number(process.env.FERRY_NET_BENCH_RUNS ?? 2);

/**
 * FERRY_NET_BENCH_VARIANTS: any of `plain` (TCP, default parameters), `plain-off` (TCP with
 * `x-integrity: false`: QEMU's stream, no digest on the source) and `tls`; default all three.
 */
const VARIANTS = (process.env.FERRY_NET_BENCH_VARIANTS ?? "plain,plain-off,tls").split(",");

const LABELS: Record<string, string> = {
  plain: "",
  "plain-off": ", x-integrity off",
  tls: " + TLS",
};

for (const variant of VARIANTS) {
  const tls = variant === "tls";
  const integrity = variant === "plain-off" ? false : "auto";
  const name = `${MIB} MiB non-zero guest over loopback TCP${LABELS[variant] ?? ` (${variant}?)`}, max-bandwidth unlimited`;
  test(name, async () => {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await migrateOnce(tls, integrity));
    for (const r of runs) {
      const l = r.latencies;
      const b = r.baseline;
      console.log(
        `${name}: ${r.gbps.toFixed(2)} GB/s, total ${r.totalMs} ms; query-migrate every 10 ms ` +
          `during the migration (${l.length} answers): p50 ${pct(l, 50).toFixed(2)} ms, ` +
          `p99 ${pct(l, 99).toFixed(2)} ms, max ${Math.max(...l).toFixed(2)} ms; before it ` +
          `(${b.length}): p50 ${pct(b, 50).toFixed(2)} ms, p99 ${pct(b, 99).toFixed(2)} ms; ` +
          `source CPU ${r.srcCpuMs.toFixed(0)} ms (idle before: ${r.idleCpuPerS.toFixed(0)} ms/s)` +
          (r.srcStall !== null && r.dstStall !== null
            ? `; longest event-loop gap (wall / CPU in it / p99 gap): ` +
              `source ${r.srcStall.maxGapMs.toFixed(1)} / ${r.srcStall.maxCpuInGapMs.toFixed(1)} / ${r.srcStall.p99GapMs.toFixed(1)} ms, ` +
              `destination ${r.dstStall.maxGapMs.toFixed(1)} / ${r.dstStall.maxCpuInGapMs.toFixed(1)} / ${r.dstStall.p99GapMs.toFixed(1)} ms`
            : ""),
      );
    }
    if (runs.length > 1) {
      // The runs of one variant together: on a 2-core VM single runs vary by ±20 % (the host).
      const g = runs.map((r) => r.gbps);
      const p99s = runs.map((r) => pct(r.latencies, 99));
      console.log(
        `${name}: ${runs.length} runs: ${Math.min(...g).toFixed(2)}–${Math.max(...g).toFixed(2)} GB/s, ` +
          `median ${median(g).toFixed(2)}, ${g.filter((x) => x >= 1).length} at or above 1 GB/s; ` +
          `query-migrate p99 ${Math.min(...p99s).toFixed(1)}–${Math.max(...p99s).toFixed(1)} ms, ` +
          `${p99s.filter((x) => x < 10).length} under 10 ms`,
      );
    }
  }, 900_000);
}
