/**
 * The seed-specjbb scenario (issue 5): a 256 GiB, 20-vCPU synthetic guest with a ~9 GiB
 * Java-heap-like footprint migrated over a 264 MB/s link, with auto-converge off, on with the
 * `rfc-2013` or `qemu` policy, and with xbzrle. `scale` divides sizes and rates (not times), so a
 * reduced run keeps the full run's timeline. Used by `bench/seed-repro.ts` (the benchmark that
 * prints the table) and by the determinism tests.
 */
import { PAGE_SIZE, VirtualScheduler } from "../packages/core/src/index";
import {
  createLink,
  createMigrationManager,
  createSyntheticMachine,
  type FerryPlugin,
  incoming,
  type MigrationInfo,
  type SyntheticMachine,
  type TimeSample,
} from "../packages/migration/src/index";
import { autoConverge } from "../plugins/auto-converge/src/index";
import { precopy } from "../plugins/precopy/src/index";

const GiB = 2 ** 30;

/** How the migration is run. */
export type SeedMode = "off" | "rfc-2013" | "qemu";

/** The calibrated scenario (full scale). See docs/results.md for where each number comes from. */
export const SEED_SPECJBB = {
  ramBytes: 256 * GiB,
  vcpus: 20,
  busyShare: 0.8,
  /** Page writes per second of the whole guest (busy share included). */
  writesPerSecond: 100_000,
  /** Java heap: pages [0, footprint) are non-zero from the start. */
  footprintBytes: 9 * GiB,
  /** Young generation: the first `hotBytes` of the heap take `hotShare` of the writes. */
  hotBytes: 4 * GiB,
  hotShare: 0.97,
  bytesPerWrite: 64,
  deltaWindow: 4,
  /** Effective migration throughput (bytes/s): the link. */
  linkBandwidth: 264e6,
  linkLatencyNs: 1_000_000,
  /** Socket send buffer (bytes). */
  linkBufferBytes: 4 * 2 ** 20,
  downtimeLimitMs: 4000,
  /** Source CPU cost per page sent (ns): the 2013 migration thread's scan + zero check. */
  pageCostNs: 1900,
  /** The published "off" run was stopped after this long (s). */
  timeLimitS: 1487,
} as const;

/** Options of {@link runSeedScenario}. */
export interface SeedRunOptions {
  readonly mode: SeedMode;
  /** Divide RAM, footprint, write rate and bandwidth by this (1 = full scale). */
  readonly scale?: number;
  /** Use the xbzrle capability (needs the xbzrle plugin factory). */
  readonly xbzrle?: FerryPlugin;
  /** Virtual time limit (s); default the scenario's 1487 s. */
  readonly timeLimitS?: number;
  /** Carry synthetic pages compactly (default true; false needs an array destination). */
  readonly compact?: boolean;
  /** Overrides of the calibrated values. */
  readonly overrides?: Partial<Record<keyof typeof SEED_SPECJBB, number>>;
}

/** What one run produced. */
export interface SeedRunResult {
  readonly info: MigrationInfo;
  readonly series: readonly TimeSample[];
  /** Virtual seconds from migration start to its end (or the time limit). */
  readonly virtualS: number;
  /** True when the destination's page versions equal the source's (completed runs). */
  readonly contentEqual: boolean | null;
  /** Guest writes retired during the run. */
  readonly guestWrites: number;
}

function machineFor(s: VirtualScheduler, c: typeof SEED_SPECJBB, scale: number): SyntheticMachine {
  const footprint = Math.round(c.footprintBytes / scale / PAGE_SIZE) * PAGE_SIZE;
  const m = createSyntheticMachine({
    scheduler: s,
    vcpus: c.vcpus,
    ram: {
      size: Math.round(c.ramBytes / scale / PAGE_SIZE) * PAGE_SIZE,
      seed: 1,
      bytesPerWrite: c.bytesPerWrite,
      deltaWindow: c.deltaWindow,
    },
    workload: {
      seed: 2,
      writesPerSecond: c.writesPerSecond / scale / (c.vcpus * c.busyShare),
      busyShare: c.busyShare,
      distribution: {
        kind: "hot-cold",
        hotBytes: Math.round(c.hotBytes / scale / PAGE_SIZE) * PAGE_SIZE,
        hotShare: c.hotShare,
        footprintBytes: footprint,
      },
    },
  });
  return m;
}

/** Run the scenario once (deterministic: same options ⇒ same info and series). */
export async function runSeedScenario(o: SeedRunOptions): Promise<SeedRunResult> {
  const scale = o.scale ?? 1;
  const c = { ...SEED_SPECJBB, ...o.overrides } as typeof SEED_SPECJBB;
  const s = new VirtualScheduler();
  const src = machineFor(s, c, scale);
  const dst = machineFor(s, c, scale);
  // The heap is populated: every footprint page holds a non-zero version.
  const footprintPages = Math.round(c.footprintBytes / scale / PAGE_SIZE);
  const versions = src.backend.versions;
  for (let p = 0; p < footprintPages; p++) versions[p] = 1;
  src.start();
  const plugins: FerryPlugin[] = [precopy(), autoConverge()];
  if (o.xbzrle) plugins.push(o.xbzrle);
  const mgr = createMigrationManager({ plugins });
  mgr.setCapabilities({ "auto-converge": o.mode !== "off", ...(o.xbzrle ? { xbzrle: true } : {}) });
  mgr.setParameters({
    "max-bandwidth": 0,
    "downtime-limit": c.downtimeLimitMs,
    "x-page-cost-ns": c.pageCostNs * scale,
    ...(o.mode === "rfc-2013" ? { "x-auto-converge-policy": "rfc-2013" } : {}),
  });
  const compact = o.compact ?? true;
  const link = createLink({
    scheduler: s,
    bandwidth: c.linkBandwidth / scale,
    latency: c.linkLatencyNs,
    bufferBytes: Math.max(PAGE_SIZE * 16, Math.round(c.linkBufferBytes / scale)),
    compact,
  });
  const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
  const m = mgr.migrate({ machine: src, transport: link.source });
  const limitNs = (o.timeLimitS ?? c.timeLimitS) * 1e9;
  const startNs = s.now();
  await s.run({
    untilNs: startNs + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed" || m.status === "cancelled",
  });
  const info = m.info();
  let contentEqual: boolean | null = null;
  if (m.status === "completed") {
    await inc.done;
    const a = src.backend.versions;
    const b = dst.backend.versions;
    contentEqual = a.length === b.length && a.every((v, i) => v === b[i]);
  } else {
    m.cancel();
  }
  return {
    info,
    series: m.series,
    virtualS: (s.now() - startNs) / 1e9,
    contentEqual,
    guestWrites: src.workDone(),
  };
}
