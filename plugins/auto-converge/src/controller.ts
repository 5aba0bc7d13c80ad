/**
 * The glue to the migration plugin API: the `auto-converge` {@link ConvergenceController} whose
 * per-migration instance feeds every dirty-log sync to the selected policy and applies the
 * policy's target to the machine's vCPUs until the migration ends.
 */
import {
  type ConvergenceController,
  type ConvergenceInstance,
  createDirtyRateEstimator,
  type DirtyRateEstimator,
  type MigrationContext,
  type StatsContribution,
  type SyncStats,
  type SeriesDef,
} from "@ferry/migration";
import { type ThrottleableVcpu, throttleControlFor } from "@ferry/core";
import { type AutoConvergeSettings, readSettings } from "./params";
import { createQemuPolicy } from "./qemu-policy";
import { createRfc2013Policy } from "./rfc2013-policy";
import type { Evaluation, ThrottlePolicy } from "./types";

/** The capability's name. */
export const AUTO_CONVERGE_CAPABILITY = "auto-converge";
/** The query-migrate section the controller contributes. */
export const AUTO_CONVERGE_STATS_SECTION = "auto-converge";

/**
 * The time series the controller declares: the throttle in force (QEMU's
 * `cpu-throttle-percentage`, 0 while off), drawn on the report's throttle chart and shown in the
 * progress line.
 */
export const AUTO_CONVERGE_SERIES: readonly SeriesDef[] = [
  { key: "cpu-throttle-percentage", label: "throttle", unit: "%", scale: "percent" },
];
/** The name of auto-converge's source in the machine's shared throttle (core's `throttleControlFor`). */
export const AUTO_CONVERGE_THROTTLE_SOURCE = "auto-converge";

/** Auto-converge settings that a live `migrate-set-parameters` may change (read at each step). */
export type MutableSettings = {
  -readonly [K in keyof AutoConvergeSettings]: AutoConvergeSettings[K];
};

/** Build the policy the settings select. */
export function createPolicy(s: AutoConvergeSettings): ThrottlePolicy {
  return s.policy === "rfc-2013" ? createRfc2013Policy(s) : createQemuPolicy(s);
}

/** Options of {@link createAutoConvergeInstance}. */
export interface AutoConvergeInstanceOptions {
  readonly policy: ThrottlePolicy;
  readonly vcpus: readonly ThrottleableVcpu[];
  /** The scheduler's clock. */
  readonly now: () => number;
  /** True when the vCPUs are stopped (sleeps in progress are then over). */
  readonly isPaused?: () => boolean;
  /** Called after each evaluation (tests, tracing). */
  readonly onEvaluation?: (e: Evaluation) => void;
  /**
   * The settings object the policy reads (pass the one given to {@link createPolicy}) and where
   * to read new values from: with both, a live parameter change updates it in place, so the
   * policy uses the new trigger threshold, initial, increment, tailslow and max from its next
   * evaluation (QEMU reads them at each `mig_throttle_guest_down`).
   */
  readonly live?: {
    readonly settings: MutableSettings;
    readonly parameters: () => Readonly<Record<string, unknown>>;
  };
  /**
   * The migration's shared dirty-rate estimator (`DirtyRateEstimatorToken`), already fed with
   * each sync when `onSync` runs: the policy evaluates its ≥ 1 s `period`. Without one (an
   * instance driven outside a migration) the instance feeds an estimator of its own.
   */
  readonly dirtyRate?: DirtyRateEstimator;
}

/** A per-migration auto-converge instance (a `ConvergenceInstance` with its policy exposed). */
export interface AutoConvergeInstance extends ConvergenceInstance {
  readonly policy: ThrottlePolicy;
  /** True while vCPUs are throttled. */
  readonly throttling: boolean;
  /** Total virtual ns all vCPUs slept for the throttle. */
  sleptNs(): number;
  stats(): StatsContribution;
}

/**
 * Make an instance: the policy decides, the machine's shared throttle applies it (core's
 * `throttleControlFor`, source `auto-converge`: an external `cpu-throttle` set by an operator
 * coexists, the stronger of the two is in force; QEMU semantics: a raise takes effect from each
 * vCPU's next tick).
 */
export function createAutoConvergeInstance(o: AutoConvergeInstanceOptions): AutoConvergeInstance {
  const throttle = throttleControlFor(o.vcpus, o.now).source(AUTO_CONVERGE_THROTTLE_SOURCE);
  const policy = o.policy;
  const own = o.dirtyRate === undefined ? createDirtyRateEstimator() : null;
  const estimator: DirtyRateEstimator = o.dirtyRate ?? own!;
  let ended = false;
  return {
    policy,
    get throttling() {
      return throttle.active;
    },
    onSync(stats: SyncStats) {
      if (ended) return;
      own?.onSync(stats);
      const p = estimator.period;
      if (p !== null) {
        const e = policy.onPeriod({
          nowNs: p.nowNs,
          durationNs: p.durationNs,
          dirtyBytes: p.dirtyBytes,
          xferBytes: p.sentBytes,
        });
        if (e.throttled) throttle.apply(policy.target());
        o.onEvaluation?.(e);
      }
      if (o.isPaused?.()) throttle.settle();
    },
    onEnd() {
      ended = true;
      throttle.stop();
    },
    onParameters(changed) {
      const live = o.live;
      if (ended || live === undefined) return;
      if (!Object.keys(changed).some((k) => LIVE_KEYS.has(k))) return;
      const next = readLiveSettings(live.parameters());
      live.settings.triggerThreshold = next.triggerThreshold;
      live.settings.initial = next.initial;
      live.settings.increment = next.increment;
      live.settings.tailslow = next.tailslow;
      live.settings.max = next.max;
    },
    sleptNs: () => throttle.sleptNs(),
    series: AUTO_CONVERGE_SERIES,
    seriesValues: () => ({ "cpu-throttle-percentage": throttle.active ? throttle.percentage : 0 }),
    stats() {
      const c = policy.counters();
      const pct = throttle.percentage;
      const slept = throttle.sleptNs();
      return {
        ...(throttle.active ? { "cpu-throttle-percentage": pct } : {}),
        [AUTO_CONVERGE_STATS_SECTION]: {
          "throttle-percentage": pct,
          "max-throttle-percentage": c.maxPct,
          "throttle-steps": c.steps,
          "throttle-actions": c.actions,
          "high-periods": c.highPeriods,
          evaluations: c.evaluations,
          "throttle-sleeps": throttle.sleeps,
          "throttled-ns": slept,
          "throttled-ms": Math.round(slept / 1e6),
        },
      };
    },
  };
}

/** The parameters auto-converge applies live (the `x-` policy knobs apply to the next migration). */
const LIVE_KEYS = new Set([
  "throttle-trigger-threshold",
  "cpu-throttle-initial",
  "cpu-throttle-increment",
  "cpu-throttle-tailslow",
  "max-cpu-throttle",
]);

/**
 * The settings after a live change. The registry checked each field; QEMU's cross-field rule
 * (`max-cpu-throttle` ≥ `cpu-throttle-initial`) cannot refuse a change that is already stored, so
 * a `max-cpu-throttle` below the initial value caps the initial step too.
 */
function readLiveSettings(parameters: Readonly<Record<string, unknown>>): AutoConvergeSettings {
  const max = parameters["max-cpu-throttle"];
  const initial = parameters["cpu-throttle-initial"];
  if (typeof max === "number" && typeof initial === "number" && max < initial) {
    const s = readSettings({ ...parameters, "cpu-throttle-initial": max });
    return { ...s, initial: max };
  }
  return readSettings(parameters);
}

/**
 * The `auto-converge` convergence controller part, reading the dirty rate from `dirtyRate` (the
 * migration's shared estimator, injected by `DirtyRateEstimatorToken`).
 */
export function createAutoConvergeController(
  dirtyRate?: DirtyRateEstimator,
): ConvergenceController {
  return {
    name: "auto-converge",
    capability: AUTO_CONVERGE_CAPABILITY,
    create(ctx: MigrationContext): ConvergenceInstance {
      const settings: MutableSettings = { ...readSettings(ctx.parameters) };
      const scheduler = ctx.scheduler;
      const machine = ctx.machine;
      return createAutoConvergeInstance({
        policy: createPolicy(settings),
        vcpus: machine.vcpus,
        now: () => scheduler.now(),
        isPaused: () => machine.state === "paused",
        dirtyRate,
        live: { settings, parameters: () => ctx.parameters },
      });
    },
  };
}

/** The controller part without an injected estimator (each instance measures on its own). */
export const autoConvergeController: ConvergenceController = createAutoConvergeController();
