/**
 * The dirty-rate estimator: one per migration, fed by the migration thread at every dirty-log
 * sync (before any controller), shared by every plugin that needs the guest's dirty rate
 * (`DirtyRateEstimatorToken`). It keeps QEMU's estimate (`dirty-pages-rate`: new dirty pages
 * over periods of at least one second) and a rate over the last sync period, in pages and bytes.
 */
import { PAGE_SIZE } from "@ferry/core";
import type { SyncStats } from "./plugin";

/** A read-only view of the guest's dirty rate during a migration. */
export interface DirtyRateEstimator {
  /** QEMU's `dirty-pages-rate` (pages/s over periods of ≥ 1 s); 0 until known. */
  readonly pagesPerSec: number;
  /** `pagesPerSec × PAGE_SIZE`. */
  readonly bytesPerSec: number;
  /** Rate of the last sync period alone (new dirty pages / period), pages/s; 0 before one. */
  readonly lastPeriodPagesPerSec: number;
  /** Syncs seen. */
  readonly syncs: number;
  /**
   * Dirty bytes/s the vCPUs would reach unthrottled, given they could run only `runShare`
   * (0 < share ≤ 1) of the time; the measured rate when `runShare` is not in (0, 1].
   */
  unthrottledBytesPerSec(runShare: number): number;
}

/** The estimator plus the feeding side (the migration thread's). */
export interface DirtyRateEstimatorFeed extends DirtyRateEstimator {
  /** Take one sync's statistics (the thread calls this). */
  onSync(st: SyncStats): void;
}

/** Make an estimator. */
export function createDirtyRateEstimator(): DirtyRateEstimatorFeed {
  let pagesPerSec = 0;
  let last = 0;
  let syncs = 0;
  return {
    get pagesPerSec() {
      return pagesPerSec;
    },
    get bytesPerSec() {
      return pagesPerSec * PAGE_SIZE;
    },
    get lastPeriodPagesPerSec() {
      return last;
    },
    get syncs() {
      return syncs;
    },
    unthrottledBytesPerSec(runShare) {
      const b = pagesPerSec * PAGE_SIZE;
      return runShare > 0 && runShare <= 1 ? b / runShare : b;
    },
    onSync(st) {
      syncs++;
      pagesPerSec = st.dirtyRate;
      last = st.periodNs > 0 ? (st.dirtyPagesPeriod * 1e9) / st.periodNs : 0;
    },
  };
}
