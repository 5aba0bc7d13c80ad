/**
 * The source rate limiter, modelled on QEMU's: a 100 ms window (`BUFFER_DELAY`) whose allowance is
 * `max-bandwidth / 10` (`XFER_LIMIT_RATIO`), checked against the bytes the output buffer has
 * **flushed** — QEMU's `migration_rate_exceeded` reads `migration_transferred_bytes()`, which
 * `qemu_fflush` advances. The QEMUFile buffer flushes when its iovec is full (`MAX_IOV_SIZE` 64
 * entries: a raw page takes two, its header copied into the buffer and the page itself queued
 * with `qemu_put_buffer_async`, so every 32 raw pages) or when the 32 KiB copy buffer
 * (`IO_BUF_SIZE`) fills (zero pages, deltas and headers are copied), and at the end of each RAM
 * section part. So a window ends on the first batch past the cap and the effective rate is a
 * little above `max-bandwidth` (64 MiB guest at 32 MiB/s: 832 pages per window, not 818).
 */
import { PAGE_SIZE } from "@ferry/core";
import type { PageRecordSink } from "./page-sender";

/** QEMU's BUFFER_DELAY: bandwidth measurement and rate-limit window (ns). */
export const BUFFER_DELAY_NS = 100_000_000;
/** QEMU's XFER_LIMIT_RATIO: windows per second. */
export const XFER_LIMIT_RATIO = 10;
/** QEMU's flush granularity in raw pages (`MAX_IOV_SIZE` 64 / 2 iovec entries per page). */
export const DEFAULT_FLUSH_PAGES = 32;
/** QEMU's IO_BUF_SIZE: the copy buffer of a QEMUFile (bytes). */
export const IO_BUF_SIZE = 32768;

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** `max-bandwidth` in bytes/s (0 = unlimited). */
  readonly maxBandwidth: number;
  /**
   * Raw pages per output-buffer flush (`x-flush-pages`; QEMU's 32). 0 = no buffer: every byte
   * counts as soon as it is written (ferry before issue 9).
   */
  readonly flushPages?: number;
  /** The copy buffer size (default {@link IO_BUF_SIZE}). */
  readonly bufferBytes?: number;
}

/** The limiter: an output-buffer model plus the 100 ms window. */
export interface RateLimiter extends PageRecordSink {
  /** Stream bytes counted so far (flushed from the modelled output buffer). */
  readonly flushed: number;
  /** Start of the current window (ns) and the bytes counted at that time. */
  readonly windowStartNs: number;
  readonly windowStartBytes: number;
  /** Buffer flushes so far. */
  readonly flushes: number;
  /** Flush the modelled buffer: everything written so far (`written`) is counted. */
  flush(written: number): void;
  /**
   * Count `bytes` sent outside the main stream's buffer at once (multifd packets: QEMU adds them to
   * `multifd_bytes`, part of `migration_transferred_bytes`).
   */
  account(bytes: number): void;
  /** True when the current window's allowance is used up (QEMU: used > max / 10). */
  exceeded(): boolean;
  /** Start a new window at `nowNs`. */
  resetWindow(nowNs: number): void;
  /** `max-bandwidth` now in force (bytes/s, 0 = unlimited). */
  readonly maxBandwidth: number;
  /**
   * Change `max-bandwidth` at once (QEMU's `migration_rate_set` from `migrate_params_apply`): the
   * current window's allowance becomes `bytes / 10`; the window itself is not restarted.
   */
  setMaxBandwidth(bytesPerSec: number): void;
}

/** Make a rate limiter whose first window starts at `nowNs`. */
export function createRateLimiter(options: RateLimiterOptions, nowNs = 0): RateLimiter {
  let maxBandwidth = options.maxBandwidth;
  const flushPages = options.flushPages ?? DEFAULT_FLUSH_PAGES;
  const maxIov = 2 * flushPages;
  const bufferBytes = options.bufferBytes ?? IO_BUF_SIZE;
  let allowance = maxBandwidth / XFER_LIMIT_RATIO;
  let flushed = 0;
  let pending = 0;
  let iov = 0;
  let buf = 0;
  let lastIsBuf = false;
  let flushes = 0;
  let windowStartNs = nowNs;
  let windowStartBytes = 0;

  const flushAll = (): void => {
    flushed += pending;
    pending = 0;
    iov = 0;
    buf = 0;
    lastIsBuf = false;
    flushes++;
  };
  const copy = (n: number): void => {
    if (n <= 0) return;
    pending += n;
    buf += n;
    if (!lastIsBuf) {
      lastIsBuf = true;
      if (++iov >= maxIov) {
        flushAll();
        return;
      }
    }
    while (buf >= bufferBytes) {
      // The buffer flushes when it is exactly full; the rest of the copy starts the next one.
      const rest = buf - bufferBytes;
      pending -= rest;
      flushAll();
      pending = rest;
      buf = rest;
      if (rest > 0) {
        lastIsBuf = true;
        iov = 1;
      }
    }
  };

  return {
    get flushed() {
      return flushed;
    },
    get windowStartNs() {
      return windowStartNs;
    },
    get windowStartBytes() {
      return windowStartBytes;
    },
    get flushes() {
      return flushes;
    },
    page(copied, rawPage) {
      if (flushPages === 0) {
        flushed += copied + (rawPage ? PAGE_SIZE : 0);
        return;
      }
      copy(copied);
      if (rawPage) {
        pending += PAGE_SIZE;
        lastIsBuf = false;
        if (++iov >= maxIov) flushAll();
      }
    },
    flush(written) {
      flushAll();
      flushed = written;
    },
    account(bytes) {
      flushed += bytes;
    },
    exceeded() {
      return maxBandwidth !== 0 && flushed - windowStartBytes > allowance;
    },
    resetWindow(now) {
      windowStartNs = now;
      windowStartBytes = flushed;
    },
    get maxBandwidth() {
      return maxBandwidth;
    },
    setMaxBandwidth(bytesPerSec) {
      maxBandwidth = bytesPerSec;
      allowance = bytesPerSec / XFER_LIMIT_RATIO;
    },
  };
}
