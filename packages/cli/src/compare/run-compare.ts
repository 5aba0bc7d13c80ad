/**
 * `ferry compare` as a function: run one config's migration scenario once per strategy set,
 * sequentially on fresh machines and clocks (deterministic), and tabulate the outcomes.
 */
import { createMigrationManager, type MigrationInfo } from "@ferry/migration";
import type { FerryConfig } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import { loadPluginSet, type PluginSetFactory, pluginSpecs } from "../migrate/config-plugins";
import {
  type MigrateProgress,
  type MigrateReport,
  type MigrateStatus,
  runMigration,
} from "../migrate/run-migration";
import { resolveParameters } from "../migrate/settings";
import type { StrategySet } from "./strategies";

/** One line of the comparison table. */
export interface CompareRow {
  /** The strategy set as written. */
  readonly strategy: string;
  /** Migration status, or `not-run` when an earlier run was interrupted. */
  readonly status: MigrateStatus | "not-run";
  /** The run's exit code (0 completed and verified). */
  readonly exitCode: ExitCodeValue | null;
  /** query-migrate `total-time` (ms), null without a migration. */
  readonly totalTimeMs: number | null;
  /** query-migrate `downtime` (ms), null unless completed. */
  readonly downtimeMs: number | null;
  /** Stream bytes sent (`ram.transferred`). */
  readonly transferredBytes: number | null;
  /** `dirty-sync-count`. */
  readonly iterations: number | null;
  /** Highest `cpu-throttle-percentage` seen (0 when nothing throttled). */
  readonly maxThrottlePercent: number | null;
  /** Guest work lost (see `GuestWorkLost`): reference − migrated work over the migration. */
  readonly workLost: number | null;
  /** workLost / the unmigrated twin's work over the same span. */
  readonly workLostShare: number | null;
  /**
   * Post-copy page-fault latency: mean (query-migrate `postcopy-latency`, ns) and p99
   * (`x-postcopy-latency-p99`, ns); null when the run's query-migrate has none.
   */
  readonly faultLatencyMeanNs: number | null;
  readonly faultLatencyP99Ns: number | null;
  /** Bytes sent over multifd channels (`ram.multifd-bytes`); null when not reported. */
  readonly multifdBytes: number | null;
  /** Why the run did not succeed. */
  readonly message?: string;
}

/** One strategy set's run. */
export interface CompareRun {
  readonly strategy: StrategySet;
  /** Capabilities and parameters requested for the run (before the registry's defaults). */
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly report: MigrateReport | null;
}

/** The `ferry compare --json` document. */
export interface CompareReport {
  readonly status: "ok" | "failed" | "interrupted";
  readonly exitCode: ExitCodeValue;
  readonly config: string;
  readonly rows: readonly CompareRow[];
  readonly runs: readonly CompareRun[];
  /**
   * Strategy sets that did not converge (still active at the time limit, or the guest ended
   * first). A result, not a failure: exit 0 unless `requireConverged`.
   */
  readonly notConverged: readonly string[];
  readonly wallMs: number;
}

/** Options of {@link runCompare}. */
export interface RunCompareOptions {
  /** `--param` flags applied to every run (a set's own parameters win). */
  readonly parameters?: Readonly<Record<string, string>>;
  readonly configFile?: string;
  /** `--plugin` names. */
  readonly pluginFlags?: readonly string[];
  /** Ctrl-C: cancel the current run cleanly and skip the rest. */
  readonly signal?: AbortSignal;
  /** A strategy set that does not converge makes the comparison fail (exit 1). */
  readonly requireConverged?: boolean;
  /** Progress of the current run. */
  readonly onProgress?: (strategy: string, p: MigrateProgress) => void;
  /** Called when a run starts. */
  readonly onRunStart?: (strategy: string, index: number, count: number) => void;
}

/** The run ended without converging (a result of the comparison, not an error). */
export function isNotConverged(r: MigrateReport): boolean {
  return r.message?.startsWith("not converged") === true;
}

function numberAt(record: unknown, key: string): number | null {
  if (record === null || typeof record !== "object") return null;
  const v = (record as Record<string, unknown>)[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * Post-copy page-fault latency from query-migrate: the top-level `postcopy-latency` (mean, ns;
 * QEMU's name) and `x-postcopy-latency-p99` (ns), each null when absent.
 */
export function faultLatencyOf(info: MigrationInfo | null): {
  readonly meanNs: number | null;
  readonly p99Ns: number | null;
} {
  return {
    meanNs: numberAt(info, "postcopy-latency"),
    p99Ns: numberAt(info, "x-postcopy-latency-p99"),
  };
}

/** Bytes sent over multifd channels (`ram.multifd-bytes`, QEMU's name), null when absent. */
export function multifdBytesOf(info: MigrationInfo | null): number | null {
  return numberAt(info?.ram, "multifd-bytes");
}

/** The table row of one strategy set's run (`null`: not run). */
export function compareRowOf(set: StrategySet, r: MigrateReport | null): CompareRow {
  if (r === null) {
    return {
      strategy: set.label,
      status: "not-run",
      exitCode: null,
      totalTimeMs: null,
      downtimeMs: null,
      transferredBytes: null,
      iterations: null,
      maxThrottlePercent: null,
      workLost: null,
      workLostShare: null,
      faultLatencyMeanNs: null,
      faultLatencyP99Ns: null,
      multifdBytes: null,
    };
  }
  const stats = r.stats;
  const finalThrottle = (stats as Record<string, unknown> | null)?.["cpu-throttle-percentage"];
  let maxThrottle = typeof finalThrottle === "number" ? finalThrottle : 0;
  for (const s of r.series) maxThrottle = Math.max(maxThrottle, s.throttlePercent);
  return {
    strategy: set.label,
    status: r.status,
    exitCode: r.exitCode,
    totalTimeMs: stats?.["total-time"] ?? null,
    downtimeMs: stats?.downtime ?? null,
    transferredBytes: stats?.ram?.transferred ?? null,
    iterations: stats?.ram?.["dirty-sync-count"] ?? null,
    maxThrottlePercent: stats === null ? null : maxThrottle,
    workLost: r.workLost?.lost ?? null,
    workLostShare: r.workLost?.lostShare ?? null,
    faultLatencyMeanNs: faultLatencyOf(stats).meanNs,
    faultLatencyP99Ns: faultLatencyOf(stats).p99Ns,
    multifdBytes: multifdBytesOf(stats),
    ...(r.message !== undefined ? { message: r.message } : {}),
  };
}

/**
 * Every capability off except the set's, and the parameters (config, then flags, then the
 * set's). Validated against the registry of a throwaway manager so a bad set fails before any
 * run starts.
 * @throws MigrationConfigError (unknown capability or parameter, bad value), UsageError (units).
 */
function settingsOf(
  config: FerryConfig,
  set: StrategySet,
  flags: Readonly<Record<string, string>>,
  plugins: PluginSetFactory,
): { capabilities: Record<string, boolean>; parameters: Record<string, string> } {
  const mgr = createMigrationManager({ plugins: plugins() });
  const capabilities: Record<string, boolean> = {};
  for (const name of Object.keys(mgr.capabilities())) capabilities[name] = false;
  for (const name of Object.keys(config.migration.capabilities)) capabilities[name] = false;
  for (const name of set.capabilities) capabilities[name] = true;
  const parameters = { ...flags, ...set.parameters };
  mgr.setCapabilities(capabilities);
  mgr.setParameters(resolveParameters(config.migration.parameters, parameters));
  return { capabilities, parameters };
}

/**
 * Run the scenario of `config` once per strategy set, in order. Every set is validated before
 * the first run. Exit code: 0 when every run completed and verified, 1 otherwise, 130 when
 * interrupted (the current run is cancelled cleanly, later ones are `not-run`).
 */
export async function runCompare(
  config: FerryConfig,
  sets: readonly StrategySet[],
  options: RunCompareOptions = {},
): Promise<CompareReport> {
  const wallStart = performance.now();
  const plugins = await loadPluginSet(
    pluginSpecs(config, options.pluginFlags, undefined, options.configFile),
  );
  const settings = sets.map((set) => settingsOf(config, set, options.parameters ?? {}, plugins));
  const runs: CompareRun[] = [];
  let interrupted = false;
  for (const [i, set] of sets.entries()) {
    const { capabilities, parameters } = settings[i];
    if (interrupted || options.signal?.aborted === true) {
      interrupted = true;
      runs.push({ strategy: set, capabilities, report: null });
      continue;
    }
    options.onRunStart?.(set.label, i, sets.length);
    const onProgress = options.onProgress;
    const report = await runMigration(config, {
      configFile: options.configFile,
      capabilities,
      parameters,
      plugins: plugins(),
      signal: options.signal,
      onProgress: onProgress ? (p) => onProgress(set.label, p) : undefined,
    });
    runs.push({ strategy: set, capabilities, report });
    if (report.exitCode === ExitCode.Interrupted) interrupted = true;
  }
  const rows = runs.map((r) => compareRowOf(r.strategy, r.report));
  const notConverged = runs
    .filter((r) => r.report !== null && isNotConverged(r.report))
    .map((r) => r.strategy.label);
  const allOk = runs.every(
    (r) =>
      r.report?.exitCode === ExitCode.Ok ||
      (r.report !== null && isNotConverged(r.report) && options.requireConverged !== true),
  );
  const exitCode: ExitCodeValue = interrupted
    ? ExitCode.Interrupted
    : allOk
      ? ExitCode.Ok
      : ExitCode.Failure;
  return {
    status: interrupted ? "interrupted" : allOk ? "ok" : "failed",
    exitCode,
    config: config.name,
    rows,
    runs,
    notConverged,
    wallMs: Math.round(performance.now() - wallStart),
  };
}
