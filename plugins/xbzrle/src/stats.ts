/**
 * XBZRLE statistics with QEMU's semantics (`xbzrle_counters` in migration/ram.c and the rates
 * computed in `migration_update_rates`).
 */

/** Size of the RAM page header that QEMU leaves out of `bytes` (offset|flags, be64). */
export const XBZRLE_UNCOUNTED_HEADER_BYTES = 8;

/** Bytes of an XBZRLE record after the page header: `u8 ENCODING_FLAG_XBZRLE`, `be16 len`. */
export const XBZRLE_RECORD_PREFIX_BYTES = 3;

/** A snapshot of the XBZRLE statistics (QMP `xbzrle-cache`, camel-cased). */
export interface XbzrleStatsSnapshot {
  /** `cache-size`: configured cache size in bytes. */
  readonly cacheSize: number;
  /** `bytes`: bytes sent for pages that hit the cache (records minus 8, overflows as a page). */
  readonly bytes: number;
  /** `pages`: pages that hit the cache, whatever the encoding result. */
  readonly pages: number;
  /** `cache-miss`: pages looked up and not found. */
  readonly cacheMiss: number;
  /** `cache-miss-rate`: Δcache-miss / Δpages transferred, over the last sync period. */
  readonly cacheMissRate: number;
  /** `encoding-rate`: Δpages × page size / Δbytes over the last period; 0 when undefined. */
  readonly encodingRate: number;
  /** `overflow`: hits whose encoding did not fit in a page. */
  readonly overflow: number;
}

/** The same snapshot with QMP's key names, as `query-migrate` reports `xbzrle-cache`. */
export interface XbzrleCacheQmp {
  /** See {@link XbzrleStatsSnapshot.cacheSize}. */
  readonly "cache-size": number;
  /** See {@link XbzrleStatsSnapshot.bytes}. */
  readonly bytes: number;
  /** See {@link XbzrleStatsSnapshot.pages}. */
  readonly pages: number;
  /** See {@link XbzrleStatsSnapshot.cacheMiss}. */
  readonly "cache-miss": number;
  /** See {@link XbzrleStatsSnapshot.cacheMissRate}. */
  readonly "cache-miss-rate": number;
  /** See {@link XbzrleStatsSnapshot.encodingRate}. */
  readonly "encoding-rate": number;
  /** See {@link XbzrleStatsSnapshot.overflow}. */
  readonly overflow: number;
}

/** Accumulates XBZRLE counters as the sender handles pages. */
export interface XbzrleStats {
  /** A cache lookup missed (`cache_miss++`). */
  recordCacheMiss(): void;
  /** A hit whose page was unchanged and skipped (`pages++`, nothing sent). */
  recordUnchanged(): void;
  /** A hit that overflowed and went out as a normal page (`pages++`, `overflow++`, `bytes += pageSize`). */
  recordOverflow(): void;
  /**
   * A hit sent as an XBZRLE record: `pages++` and
   * `bytes += headerBytes + 3 + encodedLen - 8` (QEMU leaves the 8-byte header out).
   *
   * @param encodedLen XBZRLE payload length
   * @param headerBytes page header bytes written before the record (8 with CONTINUE)
   */
  recordEncoded(encodedLen: number, headerBytes?: number): void;
  /**
   * Ends a sync period: computes `cache-miss-rate` and `encoding-rate` from the change since
   * the previous period. Like QEMU, does nothing when no page was transferred in the period.
   *
   * @param pagesTransferred pages sent in the period by every codec (normal + zero + xbzrle)
   */
  endPeriod(pagesTransferred: number): void;
  /** Sets `cache-size` (after a resize). */
  setCacheSize(bytes: number): void;
  /** Current values. */
  snapshot(): XbzrleStatsSnapshot;
}

/**
 * Creates a zeroed statistics accumulator.
 *
 * @param cacheSize the cache size in bytes, reported as `cache-size`
 * @param pageSize the target page size, used for overflow bytes and the encoding rate
 */
export function createXbzrleStats(cacheSize: number, pageSize: number): XbzrleStats {
  let bytes = 0;
  let pages = 0;
  let cacheMiss = 0;
  let overflow = 0;
  let cacheMissRate = 0;
  let encodingRate = 0;
  let prevMiss = 0;
  let prevPages = 0;
  let prevBytes = 0;
  return {
    recordCacheMiss() {
      cacheMiss++;
    },
    recordUnchanged() {
      pages++;
    },
    recordOverflow() {
      pages++;
      overflow++;
      bytes += pageSize;
    },
    recordEncoded(encodedLen: number, headerBytes = XBZRLE_UNCOUNTED_HEADER_BYTES) {
      pages++;
      bytes +=
        headerBytes + XBZRLE_RECORD_PREFIX_BYTES + encodedLen - XBZRLE_UNCOUNTED_HEADER_BYTES;
    },
    endPeriod(pagesTransferred: number) {
      if (pagesTransferred <= 0) {
        return;
      }
      cacheMissRate = (cacheMiss - prevMiss) / pagesTransferred;
      prevMiss = cacheMiss;
      const unencoded = (pages - prevPages) * pageSize;
      const encoded = bytes - prevBytes;
      encodingRate = pages === prevPages || encoded === 0 ? 0 : unencoded / encoded;
      prevPages = pages;
      prevBytes = bytes;
    },
    setCacheSize(b: number) {
      cacheSize = b;
    },
    snapshot() {
      return { cacheSize, bytes, pages, cacheMiss, cacheMissRate, encodingRate, overflow };
    },
  };
}

/** Converts a snapshot to QMP's `xbzrle-cache` key names. */
export function xbzrleStatsToQmp(s: XbzrleStatsSnapshot): XbzrleCacheQmp {
  return {
    "cache-size": s.cacheSize,
    bytes: s.bytes,
    pages: s.pages,
    "cache-miss": s.cacheMiss,
    "cache-miss-rate": s.cacheMissRate,
    "encoding-rate": s.encodingRate,
    overflow: s.overflow,
  };
}
