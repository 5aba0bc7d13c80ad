/**
 * The page sender: the migration dirty bitmaps, the scan cursor, the dirty-log sync into the
 * bitmaps (counting QEMU's `new_dirty`), and the sending of one page through the codec chain (raw
 * PAGE record as the fallback, the backend's compact form on a compact transport). Blocks whose
 * backend keeps pages as versions (`RamBackend.versioned`, the simulator's synthetic RAM) are
 * materialized only when needed. Hot path: one reused `PageRef`, no allocation per page.
 */
import {
  createDirtyBitmap,
  type DirtyBitmap,
  PAGE_SIZE,
  type RamRegion,
  type VersionedPages,
} from "@ferry/core";
import { MigrationError } from "./errors";
import type {
  MigrationContext,
  PageCodec,
  PageEncoder,
  PageRef,
  StatsContribution,
  SyncStats,
} from "./plugin";
import { RamFlag } from "./stream/constants";
import type { StreamWriter } from "./stream/writer";

const PS = PAGE_SIZE;
const PAGE_FLAG = RamFlag.PAGE;
const COMPACT = RamFlag.COMPACT;
/** Room reserved before a compact record so that no flush splits it (header + idstr + payload). */
const COMPACT_RESERVE = 8 + 256 + PAGE_SIZE + 64;
/** The shared all-zero page `PageRef.bytes` points at for zero synthetic versions (never written). */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/** Told of every page record the sender wrote (the rate limiter's output-buffer model). */
export interface PageRecordSink {
  /**
   * A page went out: `copied` stream bytes were copied into the output buffer (headers, zero
   * fills, deltas, and anything the writer got since the previous page), and `rawPage` is true
   * when the page's own bytes follow as a separate buffer (QEMU's `qemu_put_buffer_async`).
   */
  page(copied: number, rawPage: boolean): void;
}

/** Where pages go instead of the main stream (the multifd sender). */
export interface PageQueue {
  /**
   * Queue page `page` of block `blockIndex`; true when it was a zero page, null when the queue
   * counts it later itself (multifd worker threads sort the pages).
   */
  queue(blockIndex: number, page: number): boolean | null;
}

/** Result of a dirty-log sync. */
export interface SyncCounts {
  /** Pages newly set in the migration bitmaps (QEMU's `new_dirty = bits & ~migration_bitmap`). */
  readonly newlyDirty: number;
  /** Pages set in the dirty log, whether or not already pending. */
  readonly logged: number;
  /** Pages pending in the migration bitmaps after the sync. */
  readonly pending: number;
}

/** Sends dirty pages of a migration's RAM blocks. */
export class PageSender {
  readonly blocks: readonly RamRegion[];
  readonly bitmaps: readonly DirtyBitmap[];
  /** Total RAM bytes of the blocks. */
  readonly totalBytes: number;
  /** Pages sent by the ZERO path (QEMU's `duplicate`). */
  duplicate = 0;
  /** Pages sent raw (QEMU's `normal`). */
  normal = 0;
  /** `x-page-cost-ns` owed and not yet slept out (ns). */
  costDebtNs = 0;
  /**
   * When set (multifd), every page goes to this queue, which detects zero pages and pays the
   * per-page cost on its channels; the codec chain is not asked.
   */
  channels: PageQueue | null = null;

  /** The writer pages go to (the main channel's; swapped for a moment by `sendPendingVia`). */
  private writer: StreamWriter;
  private readonly sink: PageRecordSink;
  private readonly pageCostNs: number;
  private readonly compact: boolean;
  private readonly synthetic: (VersionedPages | null)[];
  private readonly blockPageBase: number[] = [];
  private readonly scratch = new Uint8Array(PAGE_SIZE);
  private readonly ref: PageRef;
  private encoders: PageEncoder[] = [];
  /** Every encoder made (statistics, sync notices and disposal outlive `zeroOrRawOnly`). */
  private allEncoders: PageEncoder[] = [];
  private encoderCounts: Array<PageCodec["counts"]> = [];
  /** Some active codec reads `PageRef.bytes`: synthetic pages are materialized before the chain. */
  private needBytes = false;
  /**
   * Raw pages may go by reference (read when the writer flushes, not copied now): no active codec
   * keeps a copy of what it saw (XBZRLE's cache would then differ from what the destination got).
   */
  private rawByRef = true;
  private cursorBlock = 0;
  private cursorPage = 0;
  private dirtyCount = 0;
  /** `writer.written` after the previous page (bytes since then were copied: headers, sections). */
  private lastWritten = 0;

  constructor(
    blocks: readonly RamRegion[],
    writer: StreamWriter,
    sink: PageRecordSink,
    options: { readonly compact: boolean; readonly pageCostNs: number },
  ) {
    this.blocks = blocks;
    this.writer = writer;
    this.sink = sink;
    this.compact = options.compact;
    this.pageCostNs = options.pageCostNs;
    this.bitmaps = blocks.map((b) => createDirtyBitmap(b.size / PAGE_SIZE));
    let pages = 0;
    let total = 0;
    for (const b of blocks) {
      this.blockPageBase.push(pages);
      pages += b.size / PAGE_SIZE;
      total += b.size;
    }
    this.totalBytes = total;
    this.synthetic = blocks.map((b) => {
      const v = b.backend.versioned ?? null;
      if (v !== null && !(v.compactBytes > 0 && v.compactBytes <= 64)) {
        throw new MigrationError(
          `RAM block "${b.name}": compact page form of ${v.compactBytes} bytes (1..64 allowed)`,
        );
      }
      return v;
    });
    this.ref = {
      block: blocks[0],
      blockIndex: 0,
      page: 0,
      offset: 0,
      key: 0,
      bytes: this.scratch,
      bytesOffset: 0,
      version: -1,
    };
  }

  /** Install the active codecs (ordered). */
  attach(codecs: readonly PageCodec[], ctx: MigrationContext): void {
    this.encoders = codecs.map((c) => c.createEncoder(ctx));
    this.allEncoders = this.encoders;
    this.encoderCounts = codecs.map((c) => c.counts);
    this.needBytes = codecs.some((c) => c.readsBytes !== false);
    this.rawByRef = this.encoderCounts.every((c) => c === "duplicate");
  }

  /**
   * Post-copy: from now every page goes as a zero page or raw (QEMU uses no XBZRLE in post-copy:
   * each page must land whole, once). Drops every codec but the zero-page ones.
   */
  zeroOrRawOnly(): void {
    const keep = this.encoderCounts.map((c) => c === "duplicate");
    this.encoders = this.encoders.filter((_, i) => keep[i]);
    this.encoderCounts = this.encoderCounts.filter((_, i) => keep[i]);
    this.rawByRef = true;
  }

  /** Start dirty logging and mark every page pending (QEMU's setup: bitmap all ones). */
  start(): void {
    let n = 0;
    for (let i = 0; i < this.blocks.length; i++) {
      this.blocks[i].dirty.start("migration");
      this.bitmaps[i].setAll();
      n += this.bitmaps[i].count();
    }
    this.dirtyCount = n;
  }

  /**
   * Let go of dirty logging (idempotent): it stays on while a dirty-rate measurement or the
   * dirty-limit throttle still holds it.
   */
  stop(): void {
    for (const b of this.blocks) b.dirty.stop("migration");
  }

  /** Fetch-and-clear every block's dirty log into the migration bitmaps. */
  sync(): SyncCounts {
    const before = this.dirtyCount;
    let logged = 0;
    let pending = 0;
    for (let i = 0; i < this.blocks.length; i++) {
      logged += this.blocks[i].dirty.sync(this.bitmaps[i]);
      pending += this.bitmaps[i].count();
    }
    this.dirtyCount = pending;
    return { newlyDirty: pending - before, logged, pending };
  }

  /** Count the pending pages again after the bitmaps were rewritten (post-copy recovery). */
  recount(): void {
    let n = 0;
    for (const bm of this.bitmaps) n += bm.count();
    this.dirtyCount = n;
  }

  /** Pending dirty pages. */
  get pending(): number {
    return this.dirtyCount;
  }

  /** Tell every codec about a sync. */
  notifySync(stats: SyncStats): void {
    for (const e of this.allEncoders) e.onSync?.(stats);
  }

  /** Tell every codec that parameters changed during the migration (migrate-set-parameters). */
  notifyParameters(changed: Readonly<Record<string, unknown>>): void {
    for (const e of this.encoders) e.onParameters?.(changed);
  }

  /** The codecs' statistics contributions. */
  codecStats(merge: (c: StatsContribution | undefined) => void): void {
    for (const e of this.allEncoders) merge(e.stats?.());
  }

  /** Dispose every encoder (exceptions ignored: cleanup never changes an outcome). */
  dispose(): void {
    for (const e of this.allEncoders) {
      try {
        e.dispose?.();
      } catch {
        // see above
      }
    }
  }

  /** Bytes written since the last page are copied bytes (section headers, EOS, …): note them. */
  resync(): void {
    this.lastWritten = this.writer.written;
  }

  /**
   * Send the next dirty page after the cursor (wrapping once), clearing its bit. Returns false
   * when no dirty page is left.
   */
  sendNext(): boolean {
    if (this.dirtyCount === 0) return false;
    const n = this.blocks.length;
    let b = this.cursorBlock;
    let from = this.cursorPage;
    for (let tries = 0; tries <= n; tries++) {
      const bm = this.bitmaps[b];
      const p = bm.nextSet(from);
      if (p >= 0) {
        this.cursorBlock = b;
        this.cursorPage = p + 1;
        const q = this.channels;
        if (q !== null) {
          // multifd: the page goes to a data channel (its bit cleared here, as take() does)
          this.bitmaps[b].words[p >>> 5] &= ~(1 << (p & 31));
          this.dirtyCount--;
          const zero = q.queue(b, p);
          if (zero === true) this.duplicate++;
          else if (zero === false) this.normal++;
          return true;
        }
        this.take(b, p);
        return true;
      }
      b = b + 1 === n ? 0 : b + 1;
      from = 0;
    }
    this.dirtyCount = 0;
    return false;
  }

  /**
   * Send page `page` of block `blockIndex` now if it is still pending (a post-copy page request:
   * QEMU's `ram_save_queue_pages`), clearing its bit; the scan cursor does not move. Returns
   * false when the page was already sent.
   */
  sendPending(blockIndex: number, page: number): boolean {
    const bm = this.bitmaps[blockIndex];
    if (bm === undefined || !(page >= 0 && page < bm.pageCount) || !bm.get(page)) return false;
    this.take(blockIndex, page);
    return true;
  }

  /**
   * {@link PageSender.sendPending} on another stream (post-copy preempt: a requested page goes on
   * the preempt channel's writer `w`). Returns false when the page was already sent.
   */
  sendPendingVia(w: StreamWriter, blockIndex: number, page: number): boolean {
    const bm = this.bitmaps[blockIndex];
    if (bm === undefined || !(page >= 0 && page < bm.pageCount) || !bm.get(page)) return false;
    bm.words[page >>> 5] &= ~(1 << (page & 31));
    this.dirtyCount--;
    const main = this.writer;
    this.writer = w;
    try {
      const before = w.written;
      const raw = this.sendPage(blockIndex, page);
      const copied = w.written - before;
      this.sink.page(raw ? copied - PS : copied, raw);
    } finally {
      this.writer = main;
    }
    return true;
  }

  /** Clear the page's bit and send it, telling the output-buffer model. */
  private take(b: number, p: number): void {
    this.bitmaps[b].words[p >>> 5] &= ~(1 << (p & 31));
    this.dirtyCount--;
    const w = this.writer;
    const before = w.written;
    const raw = this.sendPage(b, p);
    const after = w.written;
    const gap = before - this.lastWritten;
    this.lastWritten = after;
    if (raw) this.sink.page(gap + (after - before - PS), true);
    else this.sink.page(gap + (after - before), false);
  }

  /** Send one page; true when it went as a raw PAGE record (header + the page's own bytes). */
  private sendPage(blockIndex: number, page: number): boolean {
    const block = this.blocks[blockIndex];
    const ref = this.ref;
    const offset = page * PS;
    ref.block = block;
    ref.blockIndex = blockIndex;
    ref.page = page;
    ref.offset = offset;
    ref.key = this.blockPageBase[blockIndex] + page;
    this.costDebtNs += this.pageCostNs;
    const syn = this.synthetic[blockIndex];
    if (syn !== null) return this.sendSyntheticPage(syn, page);
    const bytes = block.backend.bytes;
    ref.version = -1;
    if (bytes !== null) {
      ref.bytes = bytes;
      ref.bytesOffset = offset;
    } else {
      block.backend.read(offset, this.scratch);
      ref.bytes = this.scratch;
      ref.bytesOffset = 0;
    }
    const w = this.writer;
    if (this.runCodecs(ref)) return false;
    if (bytes !== null && this.rawByRef) {
      // Guest RAM itself by reference: a store after this is in the dirty log, so the page is
      // sent again whatever bytes the flush reads (QEMU's `qemu_put_buffer_async`). Consecutive
      // pages join into one PAGE_RUN record.
      w.pageByRef(block, offset, bytes, offset);
    } else {
      w.ramRecord(block, offset, PAGE_FLAG);
      w.bytes(ref.bytes, ref.bytesOffset, PS);
    }
    this.normal++;
    return true;
  }

  /**
   * A page of a versioned block. Full byte path: materialize the version into the scratch page
   * (only when a codec reads bytes or the page goes raw; zero versions use the shared zero page).
   * Compact path: the codecs run as usual, then the record's payload is replaced by the backend's
   * compact form with the COMPACT flag, and the real payload length is accounted.
   */
  private sendSyntheticPage(syn: VersionedPages, page: number): boolean {
    const ref = this.ref;
    const w = this.writer;
    const version = syn.versions[page];
    ref.version = version;
    ref.bytesOffset = 0;
    let materialized = false;
    if (this.needBytes) {
      if (syn.isZeroVersion(page, version)) {
        ref.bytes = ZERO_PAGE;
      } else {
        syn.materializePage(page, version, this.scratch, 0);
        ref.bytes = this.scratch;
      }
      materialized = true;
    }
    if (this.compact) {
      w.ensure(COMPACT_RESERVE);
      const before = w.written;
      if (this.runCodecs(ref)) {
        // A codec may take a page and send nothing (XBZRLE: page unchanged since it was cached);
        // then there is no record of this page to make compact.
        if (w.written === before) return false;
        const payload = w.pos - w.payloadPos;
        w.buf[w.recordPos + 7] |= COMPACT;
        w.pos = w.payloadPos;
        this.writeCompact(syn, page, version);
        w.account(payload - syn.compactBytes);
        return false;
      }
      w.ramRecord(ref.block, ref.offset, PAGE_FLAG | COMPACT);
      this.writeCompact(syn, page, version);
      w.account(PS - syn.compactBytes);
      this.normal++;
      return true;
    }
    if (this.runCodecs(ref)) return false;
    if (!materialized) {
      syn.materializePage(page, version, this.scratch, 0);
      ref.bytes = this.scratch;
    }
    w.ramRecord(ref.block, ref.offset, PAGE_FLAG);
    w.bytes(ref.bytes, 0, PS);
    this.normal++;
    return true;
  }

  /** Append the compact form of (page, version) (room was reserved by COMPACT_RESERVE). */
  private writeCompact(syn: VersionedPages, page: number, version: number): void {
    const w = this.writer;
    w.ensure(syn.compactBytes);
    syn.writeCompact(page, version, w.buf, w.pos);
    w.pos += syn.compactBytes;
  }

  /** Ask the codec chain; true when one encoded the page (counted, later codecs told). */
  private runCodecs(ref: PageRef): boolean {
    const encoders = this.encoders;
    const w = this.writer;
    for (let i = 0; i < encoders.length; i++) {
      if (encoders[i].encode(ref, w)) {
        const kind = this.encoderCounts[i];
        if (kind === "duplicate") this.duplicate++;
        else if (kind === "normal") this.normal++;
        for (let j = i + 1; j < encoders.length; j++) encoders[j].skipped?.(ref);
        return true;
      }
    }
    return false;
  }
}
