/**
 * The dirty-rate estimator: one per migration, fed by the migration thread at every dirty-log
 * sync (before any controller), shared by every plugin that needs the guest's dirty rate
 * (`DirtyRateEstimatorToken`). It keeps QEMU's estimate (`dirty-pages-rate`: new dirty pages
 * over periods of at least one second), a rate over the last sync period, in pages and bytes, and
 * measurement windows: QEMU's ≥ 1 s period of `migration_bitmap_sync` (what auto-converge's
 * trigger evaluates, {@link DirtyRateEstimator.period}) and windows of a plugin's own length
 * ({@link DirtyRateEstimator.window}, rate-converge's).
 */
import { PAGE_SIZE } from "@ferry/core";
import type { SyncStats } from "./plugin";

/** QEMU's evaluation period of `migration_bitmap_sync` (ns): the trigger runs at most this often. */
export const DIRTY_PERIOD_NS = 1_000_000_000;

/** One closed measurement period (a run of consecutive sync periods). */
export interface DirtyPeriod {
  /** Virtual time of the sync that closed it (ns). */
  readonly nowNs: number;
  /** Its length (ns): from the start of its first sync period to `nowNs`. */
  readonly durationNs: number;
  /** Pages newly dirtied in it (QEMU's `num_dirty_pages_period`). */
  readonly dirtyPages: number;
  /** Bytes newly dirtied in it (the sum of `SyncStats.dirtyBytesPeriod`: `dirtyPages × PAGE_SIZE`). */
  readonly dirtyBytes: number;
  /** Stream bytes written in it (QEMU's `bytes_xfer_now − bytes_xfer_prev`). */
  readonly sentBytes: number;
}

/** When a {@link DirtyWindow} closes. */
export interface DirtyWindowOptions {
  /** The shortest window (ns): it closes at the first sync at least this long after it opened. */
  readonly minNs: number;
  /** Close only once some stream bytes were sent in it (default false). */
  readonly needsTransfer?: boolean;
}

/** A measurement window the estimator keeps for one consumer. */
export interface DirtyWindow {
  /** The window closed by the latest sync, or null when that sync closed none. */
  readonly closed: DirtyPeriod | null;
}

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
  /**
   * QEMU's ≥ 1 s period ({@link DIRTY_PERIOD_NS}) closed by the latest sync, or null when that
   * sync closed none: the numbers auto-converge's trigger evaluates.
   */
  readonly period: DirtyPeriod | null;
  /** Open a window of the caller's own length, fed at every sync from now on. */
  window(options: DirtyWindowOptions): DirtyWindow;
}

/** The estimator plus the feeding side (the migration thread's). */
export interface DirtyRateEstimatorFeed extends DirtyRateEstimator {
  /** Take one sync's statistics (the thread calls this). */
  onSync(st: SyncStats): void;
}

interface WindowState extends DirtyWindow {
  closed: DirtyPeriod | null;
  readonly minNs: number;
  readonly needsTransfer: boolean;
  startNs: number;
  pages: number;
  bytes: number;
  sent: number;
}

/** Feed one sync into `w` (no allocation unless it closes). */
function feedWindow(w: WindowState, st: SyncStats): void {
  if (Number.isNaN(w.startNs)) w.startNs = st.nowNs - st.periodNs;
  w.pages += st.dirtyPagesPeriod;
  w.bytes += st.dirtyBytesPeriod;
  w.sent += st.bytesSentPeriod;
  const durationNs = st.nowNs - w.startNs;
  if (durationNs < w.minNs || (w.needsTransfer && w.sent <= 0)) {
    w.closed = null;
    return;
  }
  w.closed = {
    nowNs: st.nowNs,
    durationNs,
    dirtyPages: w.pages,
    dirtyBytes: w.bytes,
    sentBytes: w.sent,
  };
  w.startNs = st.nowNs;
  w.pages = 0;
  w.bytes = 0;
  w.sent = 0;
}

function openWindow(options: DirtyWindowOptions): WindowState {
  return {
    closed: null,
    minNs: options.minNs,
    needsTransfer: options.needsTransfer === true,
    startNs: Number.NaN,
    pages: 0,
    bytes: 0,
    sent: 0,
  };
}

/** Make an estimator. */
export function createDirtyRateEstimator(): DirtyRateEstimatorFeed {
  let pagesPerSec = 0;
  let last = 0;
  let syncs = 0;
  const qemuPeriod = openWindow({ minNs: DIRTY_PERIOD_NS });
  const windows: WindowState[] = [qemuPeriod];
  return {
    get period() {
      return qemuPeriod.closed;
    },
    window(options) {
      const w = openWindow(options);
      windows.push(w);
      return w;
    },
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
      for (const w of windows) feedWindow(w, st);
    },
  };
}
