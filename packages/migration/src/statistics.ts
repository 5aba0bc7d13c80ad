/**
 * A migration's statistics: timings, the per-sync figures QEMU's `migration_bitmap_sync` keeps
 * (dirty-pages-rate over periods of at least 1 s, from the pages newly set in the migration
 * bitmap), the per-window figures of `migration_update_counters` (bandwidth, threshold, mbps,
 * pages per second, expected downtime), the time series, and query-migrate's `MigrationInfo`.
 */
import { PAGE_SIZE } from "@ferry/core";
import type { SyncCounts } from "./page-sender";
import type { MigrationStatus, StatsContribution, SyncStats } from "./plugin";
import type { RateLimiter } from "./rate-limiter";
import { BUFFER_DELAY_NS } from "./rate-limiter";
import type { MigrationInfo, RamStats, TimeSample } from "./stats";

const NS_PER_MS = 1_000_000;
/** QEMU updates the dirty-pages rate when a sync closes a period of at least this long (ns). */
export const DIRTY_RATE_PERIOD_NS = 1000 * NS_PER_MS;

/** Precise timings in virtual ns (info() rounds them to ms like QEMU). */
export interface MigrationTimings {
  readonly startNs: number;
  readonly setupNs: number | null;
  readonly totalNs: number;
  /** Source stop to destination resume, once completed. */
  readonly downtimeNs: number | null;
}

/** What {@link MigrationStatistics.info} needs from the rest of the migration. */
export interface InfoInputs {
  readonly status: MigrationStatus;
  readonly nowNs: number;
  readonly written: number;
  readonly pendingPages: number;
  readonly duplicate: number;
  readonly normal: number;
  readonly error: Error | null;
  /** Plugin contributions, merged into the top level. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** Statistics of one migration. */
export class MigrationStatistics {
  readonly series: TimeSample[] = [];
  readonly startNs: number;
  setupEndNs: number | null = null;
  endNs: number | null = null;
  stopNs: number | null = null;
  downtimeNs: number | null = null;
  /** Stream bytes written when the source stopped. */
  stopBytes: number | null = null;
  syncCount = 0;
  dirtyRate = 0;

  private readonly totalBytes: number;
  private downtimeLimitMs: number;
  private availSwitchoverBw: number;
  private lastSyncNs: number;
  private lastSyncBytes = 0;
  private ratePeriodStartNs: number;
  private ratePeriodPages = 0;
  private dirtyBytesLastSync = 0;
  private windowStartPages = 0;
  private bandwidthBpms = 0;
  private threshold = 0;
  private mbps = 0;
  private pagesPerSecond = 0;
  private expectedDowntimeMs: number;

  constructor(
    startNs: number,
    totalBytes: number,
    parameters: { readonly downtimeLimitMs: number; readonly availSwitchoverBw: number },
  ) {
    this.startNs = startNs;
    this.totalBytes = totalBytes;
    this.downtimeLimitMs = parameters.downtimeLimitMs;
    this.availSwitchoverBw = parameters.availSwitchoverBw;
    this.expectedDowntimeMs = parameters.downtimeLimitMs;
    this.lastSyncNs = startNs;
    this.ratePeriodStartNs = startNs;
  }

  /**
   * Live `downtime-limit` / `avail-switchover-bandwidth` (migrate-set-parameters during a
   * migration): QEMU reads them when it next computes `threshold_size`, every 100 ms window.
   */
  setLimits(limits: {
    readonly downtimeLimitMs?: number;
    readonly availSwitchoverBw?: number;
  }): void {
    if (limits.downtimeLimitMs !== undefined) this.downtimeLimitMs = limits.downtimeLimitMs;
    if (limits.availSwitchoverBw !== undefined) this.availSwitchoverBw = limits.availSwitchoverBw;
  }

  /** Restart the sync and rate periods at `nowNs` (setup). */
  begin(nowNs: number): void {
    this.lastSyncNs = nowNs;
    this.ratePeriodStartNs = nowNs;
  }

  /** QEMU's `threshold_size` in bytes. */
  get thresholdBytes(): number {
    return this.threshold;
  }

  /** Account a dirty-log sync; returns the statistics handed to codecs, controllers and observers. */
  onSync(nowNs: number, counts: SyncCounts, written: number): SyncStats {
    const newly = counts.newlyDirty;
    this.syncCount++;
    this.ratePeriodPages += newly;
    if (nowNs - this.ratePeriodStartNs >= DIRTY_RATE_PERIOD_NS) {
      this.dirtyRate = Math.round((this.ratePeriodPages * 1e9) / (nowNs - this.ratePeriodStartNs));
      this.ratePeriodPages = 0;
      this.ratePeriodStartNs = nowNs;
    }
    const stats: SyncStats = {
      nowNs,
      syncCount: this.syncCount,
      dirtyPagesPeriod: newly,
      dirtyBytesPeriod: newly * PAGE_SIZE,
      loggedPagesPeriod: counts.logged,
      bytesSentPeriod: written - this.lastSyncBytes,
      periodNs: nowNs - this.lastSyncNs,
      dirtyRate: this.dirtyRate,
      remainingBytes: counts.pending * PAGE_SIZE,
    };
    this.lastSyncNs = nowNs;
    this.lastSyncBytes = written;
    this.dirtyBytesLastSync = counts.pending * PAGE_SIZE;
    this.sample("sync", nowNs, counts.pending);
    return stats;
  }

  /**
   * QEMU's `migration_update_counters`: once a window of {@link BUFFER_DELAY_NS} has passed,
   * measure bandwidth over it (bytes counted by the limiter), derive the threshold, mbps, pages
   * per second and expected downtime, and start the next window. Returns true when it did.
   */
  updateCounters(
    nowNs: number,
    limiter: RateLimiter,
    pages: number,
    pendingPages: number,
  ): boolean {
    const elapsed = nowNs - limiter.windowStartNs;
    if (elapsed < BUFFER_DELAY_NS) return false;
    const bytes = limiter.flushed - limiter.windowStartBytes;
    const ms = elapsed / NS_PER_MS;
    this.bandwidthBpms = bytes / ms;
    const expectedBpms =
      this.availSwitchoverBw > 0 ? this.availSwitchoverBw / 1000 : this.bandwidthBpms;
    this.threshold = expectedBpms * this.downtimeLimitMs;
    this.mbps = (bytes * 8) / (ms / 1000) / 1e6;
    this.pagesPerSecond = Math.round(((pages - this.windowStartPages) * 1000) / ms);
    if (this.dirtyRate !== 0 && bytes > 10000 && expectedBpms > 0) {
      this.expectedDowntimeMs = this.dirtyBytesLastSync / expectedBpms;
    }
    limiter.resetWindow(nowNs);
    this.windowStartPages = pages;
    this.sample("tick", nowNs, pendingPages);
    return true;
  }

  /** Append a time-series sample. */
  sample(kind: TimeSample["kind"], nowNs: number, pendingPages: number): void {
    this.series.push({
      kind,
      timeNs: nowNs - this.startNs,
      remainingBytes: pendingPages * PAGE_SIZE,
      dirtyRate: this.dirtyRate,
      transferRate: this.bandwidthBpms * 1000,
      iteration: this.syncCount,
    });
  }

  /** Precise timings at `nowNs`. */
  timings(nowNs: number): MigrationTimings {
    return {
      startNs: this.startNs,
      setupNs: this.setupEndNs === null ? null : this.setupEndNs - this.startNs,
      totalNs: (this.endNs ?? nowNs) - this.startNs,
      downtimeNs: this.downtimeNs,
    };
  }

  /** query-migrate. */
  info(i: InfoInputs): MigrationInfo {
    const status = i.status;
    if (status === "none" || status === "setup") return { status };
    const t = this.timings(i.nowNs);
    const totalMs = Math.floor(t.totalNs / NS_PER_MS);
    const setupMs = Math.floor((t.setupNs ?? t.totalNs) / NS_PER_MS);
    const completed = status === "completed";
    const written = i.written;
    const mbps = completed
      ? (written * 8) / Math.max(1e-9, (t.totalNs - (t.setupNs ?? 0)) / NS_PER_MS) / 1000
      : this.mbps;
    const ram: RamStats = {
      transferred: written,
      ...(completed ? {} : { remaining: i.pendingPages * PAGE_SIZE }),
      total: this.totalBytes,
      duplicate: i.duplicate,
      normal: i.normal,
      "normal-bytes": i.normal * PAGE_SIZE,
      ...(completed ? {} : { "dirty-pages-rate": this.dirtyRate }),
      mbps,
      "dirty-sync-count": this.syncCount,
      "page-size": PAGE_SIZE,
      "pages-per-second": this.pagesPerSecond,
      "precopy-bytes": this.stopBytes ?? written,
      "downtime-bytes": this.stopBytes === null ? 0 : written - this.stopBytes,
    };
    return {
      status,
      "total-time": totalMs,
      "setup-time": setupMs,
      ...(completed || t.downtimeNs !== null
        ? { downtime: Math.round((t.downtimeNs ?? 0) / NS_PER_MS) }
        : { "expected-downtime": Math.round(this.expectedDowntimeMs) }),
      ram,
      // QEMU shows the error of a paused post-copy migration too (why it paused).
      ...(i.error !== null && (status === "failed" || status === "postcopy-paused")
        ? { "error-desc": i.error.message }
        : {}),
      ...i.extra,
      // A plugin may add fields to the ram section (post-copy: `postcopy-requests`, …).
      ...(typeof i.extra.ram === "object" && i.extra.ram !== null
        ? { ram: { ...ram, ...(i.extra.ram as Record<string, number>) } }
        : {}),
    };
  }
}

/** Merge plugin contributions into one record. */
export function mergeContributions(
  parts: ReadonlyArray<StatsContribution | undefined>,
): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const c of parts) if (c) Object.assign(extra, c);
  return extra;
}
