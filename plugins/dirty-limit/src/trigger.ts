/**
 * QEMU's `migration_trigger_throttle`, the part dirty-limit shares with auto-converge: inside
 * `migration_bitmap_sync`, at most once per second, a period is high when the bytes dirtied exceed
 * `throttle-trigger-threshold` % of the bytes sent; the 2nd high period since the last action
 * triggers (a low period does not reset the count). With dirty-limit on, the action is
 * `migration_dirty_limit_guest`.
 */

/** The sync statistics the trigger reads (a subset of `SyncStats`). */
export interface TriggerSample {
  readonly nowNs: number;
  readonly periodNs: number;
  readonly dirtyBytesPeriod: number;
  readonly bytesSentPeriod: number;
}

/** The trigger's evaluation interval (ns): QEMU's 1000 ms. */
export const TRIGGER_INTERVAL_NS = 1_000_000_000;
/** High periods (since the last action) that trigger. */
export const HIGH_PERIODS_TO_TRIGGER = 2;

/** The trigger state machine. */
export interface DirtyLimitTrigger {
  /** Feed one sync; true when this sync triggers an action. */
  onSync(s: TriggerSample): boolean;
  /** Evaluated periods so far. */
  readonly evaluations: number;
  /** High periods so far. */
  readonly highPeriods: number;
  /** Actions triggered so far. */
  readonly triggers: number;
}

/** Make a trigger with `thresholdPct` (QEMU's `throttle-trigger-threshold`). */
export function createTrigger(
  thresholdPct: number,
  intervalNs = TRIGGER_INTERVAL_NS,
): DirtyLimitTrigger {
  let startNs = Number.NaN;
  let dirty = 0;
  let xfer = 0;
  let high = 0;
  let evaluations = 0;
  let highPeriods = 0;
  let triggers = 0;
  return {
    onSync(s) {
      if (Number.isNaN(startNs)) startNs = s.nowNs - s.periodNs;
      dirty += s.dirtyBytesPeriod;
      xfer += s.bytesSentPeriod;
      if (s.nowNs - startNs < intervalNs) return false;
      evaluations++;
      const threshold = Math.floor((xfer * thresholdPct) / 100);
      const isHigh = dirty > threshold;
      startNs = s.nowNs;
      dirty = 0;
      xfer = 0;
      if (!isHigh) return false;
      highPeriods++;
      if (++high < HIGH_PERIODS_TO_TRIGGER) return false;
      high = 0;
      triggers++;
      return true;
    },
    get evaluations() {
      return evaluations;
    },
    get highPeriods() {
      return highPeriods;
    },
    get triggers() {
      return triggers;
    },
  };
}
