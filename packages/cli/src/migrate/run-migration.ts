/**
 * `ferry migrate` as a function: run the config's guest (or workload), migrate it at
 * `migration.start-after` over an in-process link to a destination built from the same config,
 * keep the destination running to the end, and verify the result against the switchover
 * snapshot and (for guests) an unmigrated run of the same config.
 */
import { throttleControlFor, VirtualScheduler } from "@ferry/core";
import {
  type AppliedAction,
  runOperatorActions,
  createLineLogger,
  createLink,
  createMigrationManager,
  type FerryPlugin,
  type Logger,
  incoming,
  type Migration,
  type MigrationInfo,
  type SeriesDef,
  type SeriesValue,
} from "@ferry/migration";
import type { FerryConfig, ParameterValue } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import { buildReportSeries, type ReportSample, type WorkSample } from "../report/series";
import { type GuestRunReport, readGuestElf, runGuest } from "../run/run-guest";
import { operatorActionsOf } from "./actions";
import { loadPluginSet, pluginSpecs } from "./config-plugins";
import { resolveParameters } from "./settings";
import { buildSide, ramHash, type SideEnd } from "./sides";
import { postcopyRamCheck } from "./postcopy-verify";

/** Virtual time run between two yields to the event loop (lets Ctrl-C through). */
const CHUNK_NS = 10_000_000;

/**
 * How a `ferry migrate` run ended: the migration's status (`completed`, `active` = not
 * converged by the time limit, `failed`, `cancelled`) or `not-started` (the guest ended before
 * `migration.start-after`).
 */
export type MigrateStatus = MigrationInfo["status"] | "not-started";

/** The value of a series a plugin declares, as the progress line shows it. */
export interface DeclaredReading {
  readonly def: SeriesDef;
  /** A gauge's value now, a counter's total so far. */
  readonly value: SeriesValue;
}

/** Live progress, reported at every dirty-log sync. */
export interface MigrateProgress {
  readonly status: string;
  /** dirty-sync-count. */
  readonly iteration: number;
  readonly remainingBytes: number;
  /** Throughput of the last bandwidth window (Mbit/s). */
  readonly mbps: number;
  /** `cpu-throttle-percentage`, when a controller reports one. */
  readonly throttlePercent: number | undefined;
  /**
   * The series the active controllers (and sections) declare, with their values now; shown in
   * place of {@link throttlePercent} when present.
   */
  readonly declared?: readonly DeclaredReading[];
  readonly virtualNs: number;
  /** The run's virtual-time limit (`run.time-limit`), for a progress bar. */
  readonly timeLimitNs: number;
  /** Switchover threshold: measured bandwidth × `downtime-limit` (bytes). */
  readonly thresholdBytes?: number;
  /** Dirty rate (bytes/s, QEMU's `dirty-pages-rate` × page size); 0 until first measured. */
  readonly dirtyBytesPerSec?: number;
  /** Measured bandwidth (bytes/s). */
  readonly bandwidthBytesPerSec?: number;
  /** `expected-downtime` (ms), when known. */
  readonly expectedDowntimeMs?: number;
  /** `downtime-limit` (ms). */
  readonly downtimeLimitMs?: number;
  /** Stream bytes sent so far. */
  readonly transferredBytes?: number;
  /** `destination`: the migration completed and the destination is running the guest on. */
  readonly phase?: "migration" | "destination";
  /** Destination phase: the work the destination did since it resumed the guest. */
  readonly destinationWork?: {
    readonly done: number;
    readonly unit: "instructions" | "operations";
  };
}

/** The verification block of a report. */
export interface MigrateVerification {
  /** All checks true (false when the migration did not complete). */
  readonly verified: boolean;
  /** sha256 of the source RAM when it paused at switchover (dense: bytes; synthetic: versions). */
  readonly sourceRamHash: string | null;
  /** sha256 of the destination RAM after the load, before it resumed. */
  readonly destinationRamHash: string | null;
  readonly ramEqual: boolean | null;
  /** vCPU and device state of the destination after load equals the source's at switchover. */
  readonly stateEqual: boolean | null;
  /**
   * Guests: the destination's continuation equals the **shadow source's** — the source resumed
   * after the migration completed, from the very switchover state, in the same virtual time — in
   * output and in how it ended. This (with RAM and state equality) is what `verified` requires.
   */
  readonly continuationEqual: boolean | null;
  /** Guests: how the shadow source ended (null when it did not run). */
  readonly shadow: { readonly status: string; readonly guestCode: number | null } | null;
  /**
   * Guests, informational: source output up to switchover + destination output after = the
   * unmigrated run's (false for guests whose output depends on time; not part of `verified`).
   */
  readonly outputEqual: boolean | null;
  /** Guests, informational: the destination ended like the unmigrated run (status and code). */
  readonly exitEqual: boolean | null;
  /** Work (instructions / operations) of the source before the migration started. */
  readonly workBeforeMigration: number;
  /** Work of the source while the migration ran (start → switchover or the end). */
  readonly workDuringMigration: number;
  /** Work of the destination after it resumed. */
  readonly workAfterMigration: number;
  /** How the unmigrated run ended (guests). */
  readonly reference: { readonly status: string; readonly guestCode: number | null } | null;
  /** How the migrated guest ended (on the destination; on the source without switchover). */
  readonly migrated: { readonly status: string; readonly guestCode: number | null } | null;
}

/**
 * Guest work lost to the migration. The span runs from the migration's start to its end: the
 * moment it reached completed (the destination resumes), failed or cancelled, or the end of the
 * run when it was still active. `reference` is the work an unmigrated twin of the guest (same
 * config, same virtual clock, started at the same time) did over the span, `migrated` the work
 * the migrated source did over it (throttled, and paused during the downtime); `lost` =
 * reference − migrated, `lostShare` = lost / reference (0 when reference is 0). Work is counted
 * per scheduler slice (instructions for guests, operations for workloads).
 */
export interface GuestWorkLost {
  /** `instructions` (RISC-V guests) or `operations` (workloads). */
  readonly unit: "instructions" | "operations";
  /** Span start and end (virtual ns since boot). */
  readonly spanStartNs: number;
  readonly spanEndNs: number;
  readonly reference: number;
  readonly migrated: number;
  readonly lost: number;
  readonly lostShare: number;
}

/** The `ferry migrate --json` document. */
export interface MigrateReport {
  readonly status: MigrateStatus;
  readonly exitCode: ExitCodeValue;
  /** Why the run did not succeed (not converged, failed, cancelled, verification). */
  readonly message?: string;
  /** Capabilities and parameters in effect (after units and flags). */
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** query-migrate (`info()`), null when the migration never started. */
  readonly stats: MigrationInfo | null;
  readonly verification: MigrateVerification;
  /**
   * One sample per sync and per bandwidth window: the framework's fields plus
   * `throttlePercent`, `dirtyBytesPerSec`, `transferredBytes`, the cumulative work counters and
   * the work rates over each row's window (see `buildReportSeries`).
   */
  readonly series: readonly ReportSample[];
  /**
   * The time series the run's plugins declare (controllers' throttles, limits, measured rates);
   * their values are in each row's `declared` (and `declaredRates` for counters). Empty when none.
   */
  readonly declaredSeries: readonly SeriesDef[];
  /** vCPUs of the migrated machine (charts show work per vCPU). */
  readonly vcpus: number;
  /** Guest work lost to the migration (null when it never started). */
  readonly workLost: GuestWorkLost | null;
  readonly guestOutput: {
    /** Source output up to switchover (or the end, without switchover). */
    readonly source: string;
    /** Destination output after switchover. */
    readonly destination: string;
    /** source + destination. */
    readonly combined: string;
    /** The unmigrated run's output (guests), else null. */
    readonly reference: string | null;
  };
  /**
   * The operator actions of `migration.actions` that fired, in order, with their time after the
   * migration started, the pass, the status then and the outcome (empty without a timeline).
   */
  readonly actions: readonly AppliedAction[];
  /** Virtual time when the migration started and ended (ns), and at the end of the run. */
  readonly migrationStartNs: number | null;
  readonly virtualTimeNs: number;
  /** Wall-clock duration (ms; not deterministic). */
  readonly wallMs: number;
}

/** Options of {@link runMigration}. */
export interface RunMigrationOptions {
  /** `--capability` flags (win over the config). */
  readonly capabilities?: Readonly<Record<string, boolean>>;
  /** `--param` flags, as written (win over the config). */
  readonly parameters?: Readonly<Record<string, ParameterValue>>;
  /** Config file name for messages. */
  readonly configFile?: string;
  /**
   * Plugins (default: the built-ins, then the config's `plugins:` and {@link pluginFlags}).
   */
  readonly plugins?: readonly FerryPlugin[];
  /** `--plugin` names, imported from the working directory after the config's plugins. */
  readonly pluginFlags?: readonly string[];
  /** Called at every sync. */
  readonly onProgress?: (p: MigrateProgress) => void;
  /** Cancel the migration cleanly (Ctrl-C): the source keeps running, the report is partial. */
  readonly signal?: AbortSignal;
  /**
   * The migration's structured logger (`LoggerToken`). Default: JSON lines on stderr when the
   * environment has `FERRY_DEBUG=1`, else silent.
   */
  readonly logger?: Logger;
}

const terminal = (s: string): boolean => s === "completed" || s === "failed" || s === "cancelled";

/** Wall-clock spacing of progress reports between dirty syncs (ms). */
const PROGRESS_INTERVAL_MS = 100;

async function runChunked(
  s: VirtualScheduler,
  endNs: number,
  stop: () => boolean,
  afterChunk?: () => void,
): Promise<void> {
  while (s.now() < endNs && !stop()) {
    await s.run({ untilNs: Math.min(endNs, s.now() + CHUNK_NS), stopWhen: stop });
    afterChunk?.();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function throttleOf(info: MigrationInfo): number | undefined {
  const v = (info as unknown as Record<string, unknown>)["cpu-throttle-percentage"];
  return typeof v === "number" ? v : undefined;
}

function outcomeOf(end: SideEnd | null): { status: string; guestCode: number | null } {
  if (end === null) return { status: "time-limit", guestCode: null };
  return { status: end.status, guestCode: end.code };
}

/**
 * Run a migration as `ferry migrate` does. Bad capabilities or parameters throw (registry's
 * `MigrationConfigError`, `UsageError` for units) before anything runs.
 */
export async function runMigration(
  config: FerryConfig,
  options: RunMigrationOptions = {},
): Promise<MigrateReport> {
  const wallStart = performance.now();
  const plugins =
    options.plugins ??
    (
      await loadPluginSet(pluginSpecs(config, options.pluginFlags, undefined, options.configFile))
    )();
  const logger =
    options.logger ??
    (process.env.FERRY_DEBUG === "1"
      ? createLineLogger((line) => process.stderr.write(`${line}\n`))
      : undefined);
  const mgr = createMigrationManager({ plugins, logger });
  mgr.setCapabilities({ ...config.migration.capabilities, ...(options.capabilities ?? {}) });
  const after = config.migration.startPostcopyAfter;
  const postcopyAfter: Record<string, number> =
    after === undefined
      ? {}
      : "passes" in after
        ? { "x-postcopy-after-passes": after.passes }
        : { "x-postcopy-after-ms": after.ns / 1e6 };
  mgr.setParameters(
    resolveParameters(
      { ...config.migration.parameters, ...postcopyAfter },
      options.parameters ?? {},
    ),
  );
  const capabilities = mgr.capabilities();
  const parameters = mgr.queryParameters();
  const timeline = operatorActionsOf(config.migration.actions, mgr);
  let applied: readonly AppliedAction[] = [];
  const multifdChannels =
    capabilities.multifd === true ? (parameters["multifd-channels"] as number) : 0;

  const elf = config.guest !== undefined ? readGuestElf(config, options.configFile) : null;
  let reference: GuestRunReport | null = null;
  if (elf !== null) reference = await runGuest(config, { elf, configFile: options.configFile });

  const s = new VirtualScheduler();
  const src = buildSide(config, s, elf);
  const dst = buildSide(config, s, elf);
  // the unmigrated twin: the same guest on the same clock, for the work-lost figures
  const twin = buildSide(config, s, elf);
  const limitNs = config.run.timeLimitNs;
  const aborted = (): boolean => options.signal?.aborted === true;

  src.start();
  twin.start();
  await runChunked(s, Math.min(config.migration.startAfterNs, limitNs), () => {
    return src.ended() !== null || aborted();
  });

  let migration: Migration | null = null;
  let startNs: number | null = null;
  let workBefore = src.workDone();
  let srcHash: string | null = null;
  let srcState: string | null = null;
  let srcOutput: string | null = null;
  let workAtSwitch: number | null = null;
  let dstHash: string | null = null;
  let dstState: string | null = null;
  let message: string | undefined;
  const work: WorkSample[] = [];
  let spanEnd: { ns: number; work: number; reference: number } | null = null;
  let workAtStart = 0;
  let twinAtStart = 0;
  let shadowStarted = false;
  /** Post-copy: the destination ran before it had every page (RAM is checked at the end). */
  let postcopyRan = false;
  let postcopyRamEqual: boolean | null = null;

  if (src.ended() === null && !aborted() && s.now() < limitNs) {
    const preempt = mgr.capabilities()["postcopy-preempt"] === true;
    const link = createLink({
      scheduler: s,
      bandwidth: config.migration.link.bandwidthBytesPerSec,
      latency: config.migration.link.latencyNs,
      bufferBytes: config.migration.link.bufferBytes,
      // synthetic RAM travels as page versions; statistics still count the real bytes
      compact: config.machine.ramBackend === "synthetic",
      // multifd: one data channel per multifd-channels, sharing the link; postcopy-preempt:
      // requested pages on a data channel of their own (the two are not combined)
      channels: multifdChannels > 0 ? multifdChannels : preempt ? 1 : 0,
    });
    incoming({
      machine: dst.machine,
      transport: link.destination,
      plugins: mgr.plugins,
      multifdChannels,
      ...(preempt && multifdChannels === 0
        ? { channels: link.channels.map((c) => c.destination) }
        : {}),
    });
    const m = mgr.migrate({
      machine: src.machine,
      transport: link.source,
      ...(preempt && multifdChannels === 0 ? { channels: link.channels.map((c) => c.source) } : {}),
    });
    migration = m;
    if (timeline.length > 0) {
      // the operator's external throttle is the machine's shared one (source "external")
      const external = throttleControlFor(src.machine.vcpus, s).source("external");
      applied = runOperatorActions({
        migration: m,
        scheduler: s,
        actions: timeline,
        setThrottle: (pct) => external.set(pct),
      }).applied;
    }
    startNs = s.now();
    workBefore = src.workDone();
    workAtStart = workBefore;
    twinAtStart = twin.workDone();
    const t0 = startNs;
    let throttle = 0;
    const declares = m.declaredSeries.length > 0;
    const sampleWork = (): void => {
      if (spanEnd !== null) return;
      const sample: WorkSample = {
        timeNs: s.now() - t0,
        work: src.workDone(),
        referenceWork: twin.workDone(),
        throttlePercent: throttle,
        transferredBytes: m.info().ram?.transferred ?? 0,
        ...(declares ? { declared: m.sampleSeries() } : {}),
      };
      if (work.length > 0 && work[work.length - 1].timeNs === sample.timeNs) {
        work[work.length - 1] = sample;
      } else work.push(sample);
    };
    sampleWork();
    m.events.on("sync", () => {
      throttle = throttleOf(m.info()) ?? 0;
      sampleWork();
    });
    m.events.on("state", (st) => {
      if (!terminal(st) || spanEnd !== null) return;
      sampleWork();
      spanEnd = { ns: s.now(), work: src.workDone(), reference: twin.workDone() };
      twin.stop();
    });
    const atSwitchover = (): void => {
      srcHash = ramHash(src.ram);
      srcState = JSON.stringify(src.machine.saveState());
      srcOutput = src.output();
      workAtSwitch = src.workDone();
    };
    src.onState((st) => {
      if (st === "paused" && m.status === "device") atSwitchover();
    });
    // pause-before-switchover: the source stopped in pre-switchover and stays stopped into device
    m.events.on("state", (st) => {
      if (st === "device" && srcHash === null && src.machine.state === "paused") atSwitchover();
    });
    dst.onState((st) => {
      if (st === "running" && dstHash === null) {
        if (dst.ram.missing?.armed === true) {
          // Post-copy: pages are still missing; record what the destination writes from now.
          postcopyRan = true;
          dstHash = "postcopy";
          dst.ram.dirty.start();
        } else dstHash = ramHash(dst.ram);
        dstState = JSON.stringify(dst.machine.saveState());
      }
    });
    m.events.on("state", (st) => {
      if (st !== "completed" || !postcopyRan) return;
      // The last page landed and the source is still stopped at the switch.
      postcopyRamEqual = postcopyRamCheck(src.ram, dst.ram).firstDifferent < 0;
      dst.ram.dirty.stop();
    });
    // Progress: at every dirty sync, and between syncs (which can be minutes of virtual time
    // apart on a large guest) at most every 100 ms of wall time.
    const onProgress = options.onProgress;
    let lastReportMs = Number.NEGATIVE_INFINITY;
    const report = (force: boolean): void => {
      if (onProgress === undefined) return;
      const nowMs = performance.now();
      if (!force && nowMs - lastReportMs < PROGRESS_INTERVAL_MS) return;
      lastReportMs = nowMs;
      const info = m.info();
      const bandwidth = ((info.ram?.mbps ?? 0) * 1e6) / 8;
      const limitMs =
        typeof parameters["downtime-limit"] === "number" ? parameters["downtime-limit"] : 0;
      const values = declares ? m.sampleSeries() : {};
      const declared = m.declaredSeries.flatMap((def) =>
        values[def.key] === undefined ? [] : [{ def, value: values[def.key] }],
      );
      onProgress({
        status: m.status,
        iteration: info.ram?.["dirty-sync-count"] ?? 0,
        remainingBytes: info.ram?.remaining ?? 0,
        mbps: info.ram?.mbps ?? 0,
        throttlePercent: throttleOf(info),
        ...(declares ? { declared } : {}),
        virtualNs: s.now(),
        timeLimitNs: limitNs,
        thresholdBytes: (bandwidth * limitMs) / 1000,
        dirtyBytesPerSec: (info.ram?.["dirty-pages-rate"] ?? 0) * 4096,
        bandwidthBytesPerSec: bandwidth,
        ...(info["expected-downtime"] !== undefined
          ? { expectedDowntimeMs: info["expected-downtime"] }
          : {}),
        downtimeLimitMs: limitMs,
        transferredBytes: info.ram?.transferred ?? 0,
      });
    };
    m.events.on("sync", () => report(true));
    await runChunked(
      s,
      limitNs,
      () => terminal(m.status) || aborted() || src.ended() !== null || dst.ended() !== null,
      () => {
        sampleWork();
        report(false);
      },
    );
    if (spanEnd === null) {
      sampleWork();
      spanEnd = { ns: s.now(), work: src.workDone(), reference: twin.workDone() };
      twin.stop();
    }
    if (!terminal(m.status) && (aborted() || src.ended() !== null)) {
      message = aborted()
        ? "interrupted: the migration was cancelled, the source keeps running"
        : `not converged: the guest shut down on the source at ${(src.ended()!.atNs / 1e6).toFixed(3)} ms ` +
          `while the migration was still ${m.status} (${m.info().ram?.["dirty-sync-count"] ?? 0} dirty syncs); ` +
          "the migration was then cancelled";
      m.cancel();
      await runChunked(s, s.now() + 10_000 * 1e6, () => terminal(m.status));
    } else if (m.status === "completed") {
      if (elf !== null && src.machine.state === "paused" && src.ended() === null) {
        // Verification harness, not a migration outcome: the paused source (exactly the
        // switchover state) resumes as a shadow and runs beside the destination in the same
        // virtual time, so their continuations can be compared.
        shadowStarted = true;
        src.machine.resume();
      }
      // the destination (and the shadow) run the guest to its end (or the time limit), the
      // destination's progress shown
      const done = m.info();
      let lastMs = Number.NEGATIVE_INFINITY;
      await runChunked(
        s,
        limitNs,
        () => (dst.ended() !== null && (!shadowStarted || src.ended() !== null)) || aborted(),
        () => {
          const onProgress = options.onProgress;
          if (onProgress === undefined || performance.now() - lastMs < PROGRESS_INTERVAL_MS) return;
          lastMs = performance.now();
          onProgress({
            status: "completed",
            phase: "destination",
            iteration: done.ram?.["dirty-sync-count"] ?? 0,
            remainingBytes: 0,
            mbps: done.ram?.mbps ?? 0,
            throttlePercent: undefined,
            virtualNs: s.now(),
            timeLimitNs: limitNs,
            destinationWork: {
              done: dst.workDone(),
              unit: elf !== null ? "instructions" : "operations",
            },
          });
        },
      );
      if (shadowStarted && src.machine.state === "running") src.stop();
      if (aborted()) message = "interrupted after the migration completed";
    } else if (m.status === "pre-switchover") {
      message =
        `paused before switchover at the time limit (${(limitNs / 1e9).toFixed(3)} s virtual): ` +
        "capability pause-before-switchover waits for migrate-continue (add a `do: continue` action)";
    } else if (!terminal(m.status)) {
      message =
        `not converged: the migration is still ${m.status} at the time limit ` +
        `(${(limitNs / 1e9).toFixed(3)} s virtual)`;
    } else {
      message = `the migration ${m.status}${m.error ? `: ${m.error.message}` : ""}`;
    }
  } else if (aborted()) {
    message = "interrupted before the migration started";
  } else {
    message =
      src.ended() !== null
        ? `the guest ended at ${(src.ended()!.atNs / 1e6).toFixed(3)} ms, before migration.start-after`
        : "run.time-limit is not after migration.start-after: the migration never started";
  }

  const completed = migration?.status === "completed";
  const isGuest = elf !== null;
  const shadowOut = shadowStarted ? src.output().slice((srcOutput ?? "").length) : null;
  const shadowEnd = shadowStarted ? outcomeOf(src.ended()) : null;
  const sourceOut = completed ? (srcOutput ?? src.output()) : src.output();
  const destOut = completed ? dst.output() : "";
  const combined = sourceOut + destOut;
  const migratedEnd = completed ? dst.ended() : src.ended();
  const ramEqual = completed
    ? postcopyRan
      ? postcopyRamEqual === true
      : srcHash !== null && srcHash === dstHash
    : null;
  const stateEqual = completed ? srcState !== null && srcState === dstState : null;
  const outputEqual = completed && isGuest ? combined === reference!.guestOutput : null;
  const migrated = outcomeOf(migratedEnd);
  const exitEqual =
    completed && isGuest
      ? migrated.status === reference!.status && migrated.guestCode === reference!.guestCode
      : null;
  const continuationEqual =
    completed && isGuest
      ? shadowEnd !== null &&
        shadowOut === destOut &&
        shadowEnd.status === migrated.status &&
        shadowEnd.guestCode === migrated.guestCode
      : null;
  const verified =
    completed && ramEqual === true && stateEqual === true && continuationEqual !== false;
  const workDuring = (workAtSwitch ?? src.workDone()) - workBefore;
  const verification: MigrateVerification = {
    verified,
    sourceRamHash: srcHash,
    destinationRamHash: dstHash,
    ramEqual,
    stateEqual,
    continuationEqual,
    shadow: shadowEnd,
    outputEqual,
    exitEqual,
    workBeforeMigration: workBefore,
    workDuringMigration: migration === null ? 0 : workDuring,
    workAfterMigration: completed ? dst.workDone() : 0,
    reference:
      reference === null ? null : { status: reference.status, guestCode: reference.guestCode },
    migrated: isGuest ? migrated : null,
  };

  let status: MigrateStatus = migration === null ? "not-started" : migration.status;
  let exitCode: ExitCodeValue = verified ? ExitCode.Ok : ExitCode.Failure;
  if (aborted()) exitCode = ExitCode.Interrupted;
  if (completed && !verified && message === undefined) {
    message = "verification failed";
  }
  if (migration !== null && status === "cancelled" && !aborted() && message === undefined) {
    message = "the migration was cancelled";
  }
  status = migration === null ? "not-started" : migration.status;

  return {
    status,
    exitCode,
    ...(message !== undefined ? { message } : {}),
    capabilities,
    parameters,
    stats: migration === null ? null : migration.info(),
    verification,
    series:
      migration === null ? [] : buildReportSeries(migration.series, work, migration.declaredSeries),
    declaredSeries: migration === null ? [] : migration.declaredSeries,
    vcpus: config.machine.vcpus,
    workLost: workLostOf(spanEnd, startNs, workAtStart, twinAtStart, isGuest),
    guestOutput: {
      source: sourceOut,
      destination: destOut,
      combined,
      reference: reference === null ? null : reference.guestOutput,
    },
    actions: [...applied],
    migrationStartNs: startNs === null ? null : Math.round(startNs),
    virtualTimeNs: Math.round(s.now()),
    wallMs: Math.round(performance.now() - wallStart),
  };
}

function workLostOf(
  end: { ns: number; work: number; reference: number } | null,
  startNs: number | null,
  workAtStart: number,
  twinAtStart: number,
  isGuest: boolean,
): GuestWorkLost | null {
  if (end === null || startNs === null) return null;
  const reference = end.reference - twinAtStart;
  const migrated = end.work - workAtStart;
  // The twin and the source are sampled at slice boundaries, so an unthrottled source can come
  // out a slice ahead of its twin: that is measurement precision, not negative work lost.
  const lost = Math.max(0, reference - migrated);
  return {
    unit: isGuest ? "instructions" : "operations",
    // Whole nanoseconds (virtual time can carry fractions from bandwidth arithmetic).
    spanStartNs: Math.round(startNs),
    spanEndNs: Math.round(end.ns),
    reference,
    migrated,
    lost,
    lostShare: reference > 0 ? lost / reference : 0,
  };
}
