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
} from "@ferry/migration";
import { createCpuThrottle, type ThrottleableVcpu } from "@ferry/core";
import { readSettings, type AutoConvergeSettings } from "./params";
import { createQemuPolicy } from "./qemu-policy";
import { createRfc2013Policy } from "./rfc2013-policy";
import type { Evaluation, ThrottlePolicy } from "./types";

/** The capability's name. */
export const AUTO_CONVERGE_CAPABILITY = "auto-converge";
/** The query-migrate section the controller contributes. */
export const AUTO_CONVERGE_STATS_SECTION = "auto-converge";

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
 * Make an instance: the policy decides, core's {@link createCpuThrottle} applies (QEMU semantics:
 * a raise takes effect from each vCPU's next tick).
 */
export function createAutoConvergeInstance(o: AutoConvergeInstanceOptions): AutoConvergeInstance {
  const throttle = createCpuThrottle(o.vcpus, o.now);
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
    sleptNs: () => throttle.sleptNs(),
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
      const settings = readSettings(ctx.parameters);
      const scheduler = ctx.scheduler;
      const machine = ctx.machine;
      return createAutoConvergeInstance({
        policy: createPolicy(settings),
        vcpus: machine.vcpus,
        now: () => scheduler.now(),
        isPaused: () => machine.state === "paused",
        dirtyRate,
      });
    },
  };
}

/** The controller part without an injected estimator (each instance measures on its own). */
export const autoConvergeController: ConvergenceController = createAutoConvergeController();
