/**
 * Post-copy on the seed-specjbb scenario at a scale (1 = the full 256 GiB guest): prints the
 * `ferry migrate` outcome and post-copy statistics as JSON. Used for docs/postcopy.md.
 *
 *   pnpm exec tsx plugins/postcopy/bench/seed-postcopy.ts <scale> <passes> [xbzrle] [preempt]
 */
import { scaleSeedConfig, SEED_CONFIG_PATH } from "../../../bench/seed-scenario";
import { loadConfig, runMigration } from "../../../packages/cli/src/index";

const scale = Number(process.argv[2] ?? 128);
const passes = Number(process.argv[3] ?? 1);
const xbzrle = process.argv.slice(4).includes("xbzrle");
const preempt = process.argv.slice(4).includes("preempt");
const config = scaleSeedConfig(loadConfig(SEED_CONFIG_PATH), scale);
const t0 = performance.now();
const r = await runMigration(config, {
  capabilities: {
    "postcopy-ram": true,
    ...(xbzrle ? { xbzrle: true } : {}),
    ...(preempt ? { "postcopy-preempt": true } : {}),
  },
  parameters: { "x-postcopy-after-passes": passes },
});
const info = r.stats as Record<string, unknown> | null;
const ram = (info?.ram ?? {}) as Record<string, number>;
console.log(
  JSON.stringify({
    scale,
    passes,
    xbzrle,
    preempt,
    status: r.status,
    verified: r.verification.verified,
    totalMs: info?.["total-time"],
    downtimeMs: info?.downtime,
    transferred: ram.transferred,
    precopyBytes: ram["precopy-bytes"],
    postcopyBytes: ram["postcopy-bytes"],
    requests: ram["postcopy-requests"],
    blocktimeMs: info?.["postcopy-blocktime"],
    vcpuBlocktimeMs: info?.["postcopy-vcpu-blocktime"],
    latencyNs: info?.["postcopy-latency"],
    p99Ns: info?.["x-postcopy-latency-p99"],
    maxNs: info?.["x-postcopy-latency-max"],
    preemptPages: info?.["x-postcopy-preempt-pages"],
    workLost: r.workLost,
    wallMs: Math.round(performance.now() - t0),
  }),
);
