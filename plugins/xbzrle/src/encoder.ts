/**
 * The source half: the per-migration XBZRLE page encoder, with QEMU's `save_xbzrle_page` logic
 * (migration/ram.c) on top of the page cache, the codec and the statistics.
 */
import { PAGE_SIZE, type RamBackend } from "@ferry/core";
import {
  createSyntheticDiff,
  isSyntheticRamBackend,
  type SyntheticDiff,
  type SyntheticRamBackend,
} from "@ferry/sim";
import {
  type MigratableMachine,
  type PageEncoder,
  type PageRef,
  RamFlag,
  type StatsContribution,
  type StreamWriter,
  type SyncStats,
} from "@ferry/migration";
import {
  createXbzrleWasmKernel,
  XBZRLE_ENCODER,
  type XbzrleEncodeFn,
  type XbzrleWasmKernel,
  xbzrleEncodeJs,
} from "./encode";
import { xbzrleEncodeRuns } from "./encode-runs";
import { createPageCache, type PageCache } from "./page-cache";
import { ENCODING_FLAG_XBZRLE } from "./record";
import { createXbzrleStats, type XbzrleStats, xbzrleStatsToQmp } from "./stats";

const PS = PAGE_SIZE;
const FLAG = RamFlag.XBZRLE;
const ENC = ENCODING_FLAG_XBZRLE;
/** QEMU updates the XBZRLE rates at a sync at least this long after the previous update (ns). */
const RATE_PERIOD_NS = 1_000_000_000;

/** Options of {@link createXbzrleEncoder}. */
export interface XbzrleEncoderOptions {
  /** The migrated machine: a `paused` machine at a sync marks QEMU's last stage. */
  readonly machine: Pick<MigratableMachine, "state">;
  /** `xbzrle-cache-size` in bytes (validated), reported as `cache-size`. */
  readonly cacheSize: number;
  /** Pages of RAM migrated (global page numbers are below this); bounds the memory used. */
  readonly totalPages: number;
  /**
   * The migrated RAM blocks, indexed like `PageRef.blockIndex`. Pages of synthetic blocks take the
   * version path (the cache holds versions, deltas come from the content function); without
   * `blocks` every page takes the byte path.
   */
  readonly blocks?: readonly { readonly backend: RamBackend }[];
}

/** The version path's per-block state: the backend and its diff evaluator. */
interface SyntheticBlock {
  readonly backend: SyntheticRamBackend;
  readonly diff: SyntheticDiff;
}

/**
 * Bytes of cache actually allocated: the configured size, but no more slots than the smallest
 * power of two covering every page. With at least one slot per page no two pages share a slot, so
 * hits, misses and refusals are the same as with the full size.
 */
export function effectiveCacheBytes(cacheSize: number, totalPages: number): number {
  let slots = 1;
  while (slots < totalPages) slots *= 2;
  return Math.min(cacheSize, slots * PS);
}

/**
 * The XBZRLE encoder of one migration (a monomorphic hot-path object).
 *
 * - Before the page scan first wraps (the bulk pass; QEMU's `xbzrle_started`) it declines every
 *   page and caches nothing.
 * - Miss: `cache-miss++`; outside the last stage the page is cached; decline (sent raw).
 * - Hit: encode against the cached copy into a scratch page. 0 → the page is skipped (returns
 *   true having written nothing). −1 → `overflow++`, decline (sent raw). Otherwise an XBZRLE
 *   record. Unless the result is 0, the cache then holds the page as sent (outside the last
 *   stage); in the last stage the entry is dropped instead, so the cache can never be used
 *   against content the destination no longer holds.
 * - A page an earlier codec sent (a zero page) is cached as its current content (QEMU's
 *   `xbzrle_cache_zero_page`).
 *
 * The cache generation is the dirty-sync count.
 *
 * Pages of synthetic blocks (`PageRef.version ≥ 0`) take the **version path**: the cache holds the
 * version sent, and the delta is computed from the content function (`SyntheticDiff`: only the
 * bytes the two versions' overlays touched are compared; no page is materialized), then encoded
 * by `xbzrleEncodeRuns` — the same record, length and result as encoding materialized pages.
 * When one side is a zero page (a dense diff) both versions are materialized and encoded as bytes.
 */
export class XbzrleEncoder implements PageEncoder {
  private cache: PageCache;
  private readonly xstats: XbzrleStats;
  private readonly scratch = new Uint8Array(PS);
  /** Materialized old and new pages for the version path's dense fallback. */
  private readonly oldPage = new Uint8Array(PS);
  private readonly newPage = new Uint8Array(PS);
  /** Per block index: the version path's state, or null for byte-backed blocks. */
  private readonly synthetic: (SyntheticBlock | null)[];
  private readonly machine: Pick<MigratableMachine, "state">;
  /**
   * The page encoder: this migration's own WebAssembly kernel, whose memory also holds the page
   * cache's store (cached copies are compared in place, only the new page is copied in, as
   * QEMU snapshots it), or the JavaScript encoder.
   */
  private readonly encodePage: XbzrleEncodeFn;
  /** The WebAssembly kernel, or null (JavaScript encoder). */
  private readonly kernel: XbzrleWasmKernel | null;
  private generation = 0;
  private started = false;
  private lastStage = false;
  private lastKey = -1;
  /** Pages put on the wire (raw, zero or XBZRLE) since the last rate update. */
  private periodPages = 0;
  private periodStartNs = -1;

  private readonly totalPages: number;

  constructor(opts: XbzrleEncoderOptions) {
    this.machine = opts.machine;
    this.totalPages = opts.totalPages;
    const kernel = XBZRLE_ENCODER === "wasm" ? createXbzrleWasmKernel() : null;
    this.kernel = kernel;
    this.encodePage = kernel === null ? xbzrleEncodeJs : kernel.encode;
    const bytes = effectiveCacheBytes(opts.cacheSize, opts.totalPages);
    this.cache =
      kernel === null ? createPageCache(bytes, PS) : createPageCache(bytes, PS, kernel.allocate);
    this.xstats = createXbzrleStats(opts.cacheSize, PS);
    this.synthetic = (opts.blocks ?? []).map((b) =>
      isSyntheticRamBackend(b.backend)
        ? { backend: b.backend, diff: createSyntheticDiff(b.backend) }
        : null,
    );
  }

  /** The version path's state for `page`'s block, or null (byte path). */
  private syntheticOf(page: PageRef): SyntheticBlock | null {
    const i = page.blockIndex;
    return i < this.synthetic.length ? this.synthetic[i] : null;
  }

  /** True once the page scan has wrapped (QEMU's `xbzrle_started`); tracks the scan before that. */
  private scanStarted(key: number): boolean {
    if (this.started) return true;
    if (key > this.lastKey) {
      this.lastKey = key;
      return false;
    }
    this.started = true;
    return true;
  }

  encode(page: PageRef, out: StreamWriter): boolean {
    const key = page.key;
    if (!this.scanStarted(key)) {
      this.periodPages++;
      return false;
    }
    const syn = this.syntheticOf(page);
    if (syn !== null) return this.encodeVersion(page, syn, out);
    const cache = this.cache;
    const bytes = page.bytes;
    const bytesOffset = page.bytesOffset;
    const generation = this.generation;
    const off = cache.lookupOffset(key, generation);
    if (off < 0) {
      this.xstats.recordCacheMiss();
      if (!this.lastStage) cache.insert(key, bytes, generation, bytesOffset);
      this.periodPages++;
      return false;
    }
    const scratch = this.outputBuffer();
    const len = this.encodePage(cache.store, off, bytes, bytesOffset, PS, scratch, 0, PS);
    if (len === 0) {
      this.xstats.recordUnchanged();
      return true;
    }
    if (this.lastStage) cache.invalidate(key);
    else cache.insert(key, bytes, generation, bytesOffset);
    this.periodPages++;
    if (len < 0) {
      this.xstats.recordOverflow();
      return false;
    }
    this.writeRecord(page, out, len);
    return true;
  }

  /** The version path: the cache holds versions; the delta comes from the content function. */
  private encodeVersion(page: PageRef, syn: SyntheticBlock, out: StreamWriter): boolean {
    const key = page.key;
    const cache = this.cache;
    const generation = this.generation;
    const version = page.version >= 0 ? page.version : syn.backend.versions[page.page];
    const off = cache.lookupOffset(key, generation);
    if (off < 0) {
      this.xstats.recordCacheMiss();
      if (!this.lastStage) cache.insertVersion(key, version, generation);
      this.periodPages++;
      return false;
    }
    const cached = cache.versionAt(off);
    const diff = syn.diff;
    const runs = cached < 0 ? -1 : diff.diff(page.page, cached, version);
    const scratch = this.outputBuffer();
    let len: number;
    if (runs >= 0) {
      len = xbzrleEncodeRuns(diff.starts, diff.ends, runs, diff.newBytes, PS, scratch, 0, PS);
    } else {
      // Dense diff (a zero page on one side): compare materialized pages.
      syn.backend.materializePage(page.page, version, this.newPage, 0);
      let old = cache.store;
      let oldOff = off;
      if (cached >= 0) {
        syn.backend.materializePage(page.page, cached, this.oldPage, 0);
        old = this.oldPage;
        oldOff = 0;
      }
      len = this.encodePage(old, oldOff, this.newPage, 0, PS, scratch, 0, PS);
    }
    if (len === 0) {
      this.xstats.recordUnchanged();
      return true;
    }
    if (this.lastStage) cache.invalidate(key);
    else cache.insertVersion(key, version, generation);
    this.periodPages++;
    if (len < 0) {
      this.xstats.recordOverflow();
      return false;
    }
    this.writeRecord(page, out, len);
    return true;
  }

  /**
   * Where pages are encoded to: the kernel's output area (written in place, no copy out of
   * WebAssembly memory) or the scratch page. Fetched per use: the kernel's view is replaced
   * when its memory grows (the page cache's store is allocated there on first use).
   */
  private outputBuffer(): Uint8Array {
    const k = this.kernel;
    return k === null ? this.scratch : k.output();
  }

  /** Write an XBZRLE record of the `len` encoded bytes in the output buffer. */
  private writeRecord(page: PageRef, out: StreamWriter, len: number): void {
    const scratch = this.outputBuffer();
    const before = out.written;
    out.ramRecord(page.block, page.offset, FLAG);
    const header = out.written - before;
    out.ensure(3);
    const b = out.buf;
    const p = out.pos;
    b[p] = ENC;
    b[p + 1] = len >>> 8;
    b[p + 2] = len & 0xff;
    out.pos = p + 3;
    out.bytes(scratch, 0, len);
    this.xstats.recordEncoded(len, header);
  }

  skipped(page: PageRef): void {
    this.periodPages++;
    if (this.scanStarted(page.key)) {
      const syn = this.syntheticOf(page);
      if (syn !== null) {
        const version = page.version >= 0 ? page.version : syn.backend.versions[page.page];
        this.cache.insertVersion(page.key, version, this.generation);
      } else {
        this.cache.insert(page.key, page.bytes, this.generation, page.bytesOffset);
      }
    }
  }

  onSync(stats: SyncStats): void {
    this.generation = stats.syncCount;
    this.lastStage = this.machine.state === "paused";
    if (this.periodStartNs < 0) {
      this.periodStartNs = stats.nowNs;
    } else if (stats.nowNs - this.periodStartNs >= RATE_PERIOD_NS) {
      this.xstats.endPeriod(this.periodPages);
      this.periodPages = 0;
      this.periodStartNs = stats.nowNs;
    }
  }

  /**
   * A live `xbzrle-cache-size` (QEMU's `xbzrle_cache_resize` during a migration): the cache is
   * replaced by a new, empty one of the new size; pages miss until they are cached again.
   */
  onParameters(changed: Readonly<Record<string, unknown>>): void {
    const size = changed["xbzrle-cache-size"];
    if (typeof size !== "number") return;
    const bytes = effectiveCacheBytes(size, this.totalPages);
    const kernel = this.kernel;
    this.cache =
      kernel === null ? createPageCache(bytes, PS) : createPageCache(bytes, PS, kernel.allocate);
    this.xstats.setCacheSize(size);
  }

  stats(): StatsContribution {
    return { "xbzrle-cache": { ...xbzrleStatsToQmp(this.xstats.snapshot()) } };
  }

  /** Whether XBZRLE is in use yet (the scan wrapped after the bulk pass). */
  get active(): boolean {
    return this.started;
  }

  /** The page cache (for tests and diagnostics). */
  get pageCache(): PageCache {
    return this.cache;
  }

  dispose(): void {
    // Release the cache memory; the statistics stay readable.
    this.cache = createPageCache(PS, PS);
  }
}

/** Make the XBZRLE encoder of one migration. */
export function createXbzrleEncoder(opts: XbzrleEncoderOptions): XbzrleEncoder {
  return new XbzrleEncoder(opts);
}
