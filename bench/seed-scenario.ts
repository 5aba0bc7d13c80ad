/**
 * The seed-specjbb scenario (issue 5), read from `examples/configs/seed-specjbb.yaml` — the file
 * `ferry migrate` / `ferry compare` run: a 256 GiB, 20-vCPU synthetic guest with a populated
 * ~9 GiB Java-heap-like footprint migrated over a 264 MB/s compact link, with auto-converge off,
 * on with the `rfc-2013` or `qemu` policy, and with xbzrle. Machines come from the CLI's config
 * mapping (`buildWorkloadMachine` → core's `createWorkloadMachine`). `scale` divides sizes and
 * rates (not times), so a reduced run keeps the full run's timeline. Used by `bench/seed-repro.ts`
 * (the benchmark that prints the table) and by packages/cli/test/seed.test.ts.
 */
import { fileURLToPath } from "node:url";
import {
  createAddressSpace,
  createRamBackend,
  PAGE_SIZE,
  type RamBackend,
  VirtualScheduler,
} from "../packages/core/src/index";
import { isSyntheticRamBackend, type WorkloadDistribution } from "../packages/sim/src/index";
import {
  buildWorkloadMachine,
  type FerryConfig,
  loadConfig,
  resolveParameters,
} from "../packages/cli/src/index";
import {
  createLink,
  createMigrationManager,
  type FerryPlugin,
  incoming,
  type MigratableMachine,
  type MigrationInfo,
  type TimeSample,
} from "../packages/migration/src/index";
import { autoConverge } from "../plugins/auto-converge/src/index";
import { precopy } from "../plugins/precopy/src/index";

/** The scenario's config file. */
export const SEED_CONFIG_PATH = fileURLToPath(
  new URL("../examples/configs/seed-specjbb.yaml", import.meta.url),
);

/** How the migration is run. */
export type SeedMode = "off" | "rfc-2013" | "qemu";

/** Options of {@link runSeedScenario}. */
export interface SeedRunOptions {
  readonly mode: SeedMode;
  /** Divide RAM, footprint, prefill, write rate, bandwidth and buffer by this (1 = full scale). */
  readonly scale?: number;
  /** Use the xbzrle capability (needs the xbzrle plugin factory). */
  readonly xbzrle?: FerryPlugin;
  /** Virtual time limit (s); default the config's `run.time-limit` (1487 s). */
  readonly timeLimitS?: number;
  /**
   * Migrate over the full byte path instead of the compact link: pages travel as their bytes
   * into a destination whose RAM is a plain `array` block (so `contentEqual` compares bytes).
   * Default false (compact).
   */
  readonly bytePath?: boolean;
}

/** What one run produced. */
export interface SeedRunResult {
  readonly info: MigrationInfo;
  readonly series: readonly TimeSample[];
  /** Virtual seconds from migration start to its end (or the time limit). */
  readonly virtualS: number;
  /** True when the destination's page versions equal the source's (completed runs). */
  readonly contentEqual: boolean | null;
  /** Guest operations retired during the run. */
  readonly guestWrites: number;
}

const pages = (bytes: number, scale: number): number =>
  Math.round(bytes / scale / PAGE_SIZE) * PAGE_SIZE;

/**
 * The seed config at 1/`scale`: RAM, footprint, hot set, prefill, write rate, link bandwidth and
 * buffer divided by `scale` (sizes rounded to pages, the buffer at least 16 pages),
 * `x-page-cost-ns` multiplied by it; times unchanged.
 */
export function scaleSeedConfig(config: FerryConfig, scale: number): FerryConfig {
  if (scale === 1) return config;
  const w = config.workload!;
  const d = w.distribution;
  const opt = (bytes: number | undefined): number | undefined =>
    bytes === undefined ? undefined : pages(bytes, scale);
  let distribution: WorkloadDistribution;
  if (d.kind === "hot-cold") {
    distribution = {
      ...d,
      hotBytes: pages(d.hotBytes, scale),
      footprintBytes: opt(d.footprintBytes),
    };
  } else if (d.kind === "uniform") {
    distribution = { ...d, footprintBytes: opt(d.footprintBytes) };
  } else {
    distribution = { ...d, footprintBytes: pages(d.footprintBytes, scale) };
  }
  const cost = config.migration.parameters["x-page-cost-ns"];
  return {
    ...config,
    machine: { ...config.machine, memoryBytes: pages(config.machine.memoryBytes, scale) },
    workload: {
      ...w,
      writesPerSecond: w.writesPerSecond / scale,
      prefillBytes: pages(w.prefillBytes, scale),
      distribution,
    },
    migration: {
      ...config.migration,
      link: {
        ...config.migration.link,
        bandwidthBytesPerSec: config.migration.link.bandwidthBytesPerSec / scale,
        bufferBytes: Math.max(
          PAGE_SIZE * 16,
          Math.round(config.migration.link.bufferBytes / scale),
        ),
      },
      parameters: {
        ...config.migration.parameters,
        ...(typeof cost === "number" ? { "x-page-cost-ns": cost * scale } : {}),
      },
    },
  };
}

/**
 * The seed config for `mode` at 1/`scale`: `auto-converge` on for `rfc-2013`/`qemu`, with
 * `x-auto-converge-policy` set for `rfc-2013` — what `ferry compare --strategies precopy
 * "precopy+auto-converge:x-auto-converge-policy=rfc-2013" precopy+auto-converge` runs.
 */
export function seedConfig(mode: SeedMode, scale = 1): FerryConfig {
  const base = scaleSeedConfig(loadConfig(SEED_CONFIG_PATH), scale);
  return {
    ...base,
    migration: {
      ...base.migration,
      capabilities: { ...base.migration.capabilities, "auto-converge": mode !== "off" },
      parameters: {
        ...base.migration.parameters,
        ...(mode === "rfc-2013" ? { "x-auto-converge-policy": "rfc-2013" } : {}),
      },
    },
  };
}

/**
 * A paused destination for the byte path: one `array` RAM block `ram` at `base` (untouched pages
 * of the big buffer are never committed by the OS) and no devices; device state is recorded.
 */
function arrayDestination(base: number, size: number): MigratableMachine {
  const memory = createAddressSpace();
  memory.addRam({ name: "ram", base, size, backend: createRamBackend("array", size) });
  return {
    memory,
    vcpus: [],
    state: "created",
    pause() {},
    resume() {},
    saveState: () => ({}),
    loadState() {},
  };
}

/** True when the first `size` bytes of two RAM backends are equal (compared 1 MiB at a time). */
function sameBytes(a: RamBackend, b: RamBackend, size: number): boolean {
  const chunk = 1 << 20;
  const x = new Uint8Array(chunk);
  const y = new Uint8Array(chunk);
  for (let off = 0; off < size; off += chunk) {
    a.read(off, x);
    b.read(off, y);
    if (Buffer.compare(x, y) !== 0) return false;
  }
  return true;
}

/** Run the scenario once (deterministic: same options ⇒ same info and series). */
export async function runSeedScenario(o: SeedRunOptions): Promise<SeedRunResult> {
  const config = seedConfig(o.mode, o.scale ?? 1);
  const s = new VirtualScheduler();
  const src = buildWorkloadMachine(config, s);
  const bytePath = o.bytePath === true;
  const dst: MigratableMachine = bytePath
    ? arrayDestination(src.ram.base, src.ram.size)
    : buildWorkloadMachine(config, s);
  src.start();
  const plugins: FerryPlugin[] = [precopy(), autoConverge()];
  if (o.xbzrle) plugins.push(o.xbzrle);
  const mgr = createMigrationManager({ plugins });
  mgr.setCapabilities({
    ...config.migration.capabilities,
    ...(o.xbzrle ? { xbzrle: true } : {}),
  });
  mgr.setParameters(resolveParameters(config.migration.parameters, {}));
  const link = createLink({
    scheduler: s,
    bandwidth: config.migration.link.bandwidthBytesPerSec,
    latency: config.migration.link.latencyNs,
    bufferBytes: config.migration.link.bufferBytes,
    compact: !bytePath,
  });
  const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
  const m = mgr.migrate({ machine: src, transport: link.source });
  const limitNs = o.timeLimitS === undefined ? config.run.timeLimitNs : o.timeLimitS * 1e9;
  const startNs = s.now();
  await s.run({
    untilNs: startNs + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed" || m.status === "cancelled",
  });
  const info = m.info();
  let contentEqual: boolean | null = null;
  if (m.status === "completed") {
    await inc.done;
    const a = src.ram.backend;
    const b = dst.memory.ramRegions[0].backend;
    if (bytePath) {
      contentEqual = sameBytes(a, b, src.ram.size);
    } else if (isSyntheticRamBackend(a) && isSyntheticRamBackend(b)) {
      contentEqual =
        a.versions.length === b.versions.length && a.versions.every((v, i) => v === b.versions[i]);
    }
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
