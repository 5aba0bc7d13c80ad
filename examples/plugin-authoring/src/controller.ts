/**
 * The `rate-converge` convergence controller: each dirty-log sync feeds a measurement window;
 * once a window is long enough it estimates the guest's unthrottled dirty rate and the migration
 * bandwidth (bytes/s) and sets the throttle that makes `dirty × (1 − throttle) ≤ target ×
 * bandwidth` in one step, instead of stepping 20 → 30 → … like auto-converge.
 */
import { createCpuThrottle, type ThrottleableVcpu } from "@ferry/core";
import {
  type ConvergenceController,
  type ConvergenceInstance,
  createDirtyRateEstimator,
  type DirtyRateEstimator,
  type MigrationContext,
  type StatsContribution,
  type SyncStats,
  type SeriesDef,
  type SeriesValue,
} from "@ferry/migration";
import { readRateConvergeSettings, type RateConvergeSettings } from "./params";
import { bytesPerSec, requiredThrottlePct, unthrottledDirtyRate } from "./throttle-math";

/** The capability's name. */
export const RATE_CONVERGE_CAPABILITY = "rate-converge";
/** The query-migrate section the controller contributes. */
export const RATE_CONVERGE_STATS_SECTION = "rate-converge";
/** Capabilities that must be off while rate-converge is on (two controllers would fight). */
export const RATE_CONVERGE_CONFLICTS: readonly string[] = ["auto-converge"];

/**
 * The time series the controller declares (reports chart them, the progress line shows them):
 * the throttle in force, and the two rates of its last evaluation — the guest's unthrottled dirty
 * rate and the bandwidth — which have no value before the first evaluation.
 */
export const RATE_CONVERGE_SERIES: readonly SeriesDef[] = [
  { key: "rate-converge-throttle", label: "throttle", unit: "%", scale: "percent" },
  {
    key: "rate-converge-dirty-rate",
    label: "estimated unthrottled dirty rate",
    unit: "bytes/s",
    scale: "linear",
  },
  { key: "rate-converge-bandwidth", label: "measured bandwidth", unit: "bytes/s", scale: "linear" },
];

/** One evaluated measurement window. */
export interface RateEvaluation {
  /** Virtual time of the evaluation (ns). */
  readonly nowNs: number;
  /** Length of the window (ns). */
  readonly windowNs: number;
  /** Bytes dirtied in the window. */
  readonly dirtyBytes: number;
  /** Stream bytes sent in the window. */
  readonly sentBytes: number;
  /** Estimated dirty rate of the unthrottled guest (bytes/s). */
  readonly dirtyRate: number;
  /** Measured bandwidth (bytes/s). */
  readonly bandwidth: number;
  /** Throttle % before the evaluation. */
  readonly previousPct: number;
  /** Throttle % decided. */
  readonly pct: number;
}

/** Options of {@link createRateConvergeInstance}. */
export interface RateConvergeInstanceOptions {
  readonly settings: RateConvergeSettings;
  readonly vcpus: readonly ThrottleableVcpu[];
  /** The scheduler's clock (ns). */
  readonly now: () => number;
  /** True when the vCPUs are stopped (sleeps in progress are then over). */
  readonly isPaused?: () => boolean;
  /** Called after each evaluation (tests, tracing). */
  readonly onEvaluation?: (e: RateEvaluation) => void;
  /**
   * The migration's shared dirty-rate estimator (`DirtyRateEstimatorToken`): the instance opens
   * its measurement window on it. Without one (an instance driven outside a migration) the
   * instance feeds an estimator of its own.
   */
  readonly dirtyRate?: DirtyRateEstimator;
}

/** A per-migration rate-converge instance. */
export interface RateConvergeInstance extends ConvergenceInstance {
  /** The throttle % in force (0 = off). */
  readonly pct: number;
  /** Every evaluation so far. */
  readonly evaluations: readonly RateEvaluation[];
  /** Virtual ns all vCPUs slept for the throttle. */
  sleptNs(): number;
  stats(): StatsContribution;
}

/**
 * Make an instance: a measurement window, the arithmetic, and core's {@link createCpuThrottle}
 * in `restart` mode (a decided change applies at once: every vCPU is kicked, a sleep in progress
 * ends, and a sleep with the new value is due immediately).
 */
export function createRateConvergeInstance(o: RateConvergeInstanceOptions): RateConvergeInstance {
  const s = o.settings;
  const throttle = createCpuThrottle(o.vcpus, o.now, { onChange: "restart" });
  const evaluations: RateEvaluation[] = [];
  const own = o.dirtyRate === undefined ? createDirtyRateEstimator() : null;
  const window = (o.dirtyRate ?? own!).window({ minNs: s.windowNs, needsTransfer: true });
  let ended = false;
  let runNs = 0;
  let maxPct = 0;
  let changes = 0;
  let lastDirtyRate = 0;
  let lastBandwidth = 0;
  // Share of time the vCPUs may run under the current throttle, and when it was last accounted.
  let markNs = o.now();

  const accountRun = (t: number): void => {
    runNs += (t - markNs) * (1 - throttle.percentage / 100);
    markNs = t;
  };

  return {
    get pct() {
      return throttle.percentage;
    },
    evaluations,
    onSync(st: SyncStats) {
      if (ended) return;
      own?.onSync(st);
      accountRun(st.nowNs);
      const w = window.closed;
      if (w !== null) {
        const windowNs = w.durationNs;
        const dirtyBytes = w.dirtyBytes;
        const sentBytes = w.sentBytes;
        const dirtyRate = unthrottledDirtyRate(dirtyBytes, runNs);
        const bandwidth = bytesPerSec(sentBytes, windowNs);
        const previousPct = throttle.percentage;
        const pct = requiredThrottlePct({
          dirtyBytesPerSec: dirtyRate,
          bandwidthBytesPerSec: bandwidth,
          targetRatio: s.targetRatio,
          maxThrottlePct: s.maxThrottlePct,
        });
        if (pct !== previousPct) {
          throttle.set(pct);
          changes++;
        }
        if (pct > maxPct) maxPct = pct;
        lastDirtyRate = dirtyRate;
        lastBandwidth = bandwidth;
        const e: RateEvaluation = {
          nowNs: st.nowNs,
          windowNs,
          dirtyBytes,
          sentBytes,
          dirtyRate,
          bandwidth,
          previousPct,
          pct,
        };
        evaluations.push(e);
        o.onEvaluation?.(e);
        runNs = 0;
      }
      if (o.isPaused?.()) throttle.settle();
    },
    onEnd() {
      if (ended) return;
      ended = true;
      throttle.stop();
    },
    sleptNs: () => throttle.sleptNs(),
    series: RATE_CONVERGE_SERIES,
    seriesValues() {
      const values: Record<string, SeriesValue> = {
        "rate-converge-throttle": throttle.percentage,
      };
      if (evaluations.length > 0) {
        values["rate-converge-dirty-rate"] = lastDirtyRate;
        values["rate-converge-bandwidth"] = lastBandwidth;
      }
      return values;
    },
    stats() {
      const slept = throttle.sleptNs();
      return {
        ...(throttle.percentage > 0 ? { "cpu-throttle-percentage": throttle.percentage } : {}),
        [RATE_CONVERGE_STATS_SECTION]: {
          "throttle-percentage": throttle.percentage,
          "max-throttle-percentage": maxPct,
          "throttle-changes": changes,
          evaluations: evaluations.length,
          "dirty-rate": Math.round(lastDirtyRate),
          bandwidth: Math.round(lastBandwidth),
          "throttled-ms": Math.round(slept / 1e6),
        },
      };
    },
  };
}

/**
 * The `rate-converge` convergence controller part, measuring on `dirtyRate` (the migration's
 * shared estimator, injected by `DirtyRateEstimatorToken`).
 */
export function createRateConvergeController(
  dirtyRate?: DirtyRateEstimator,
): ConvergenceController {
  return {
    name: "rate-converge",
    capability: RATE_CONVERGE_CAPABILITY,
    create(ctx: MigrationContext): ConvergenceInstance {
      const settings = readRateConvergeSettings(ctx.parameters);
      const { scheduler, machine } = ctx;
      return createRateConvergeInstance({
        settings,
        vcpus: machine.vcpus,
        now: () => scheduler.now(),
        isPaused: () => machine.state === "paused",
        dirtyRate,
      });
    },
  };
}

/** The controller part without an injected estimator (each instance measures on its own). */
export const rateConvergeController: ConvergenceController = createRateConvergeController();
