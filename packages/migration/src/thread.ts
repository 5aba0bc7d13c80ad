/**
 * The migration thread: the mechanisms a strategy drives (dirty-log sync, the codec chain, rate
 * limiting and bandwidth measurement, sections, switchover) and the statistics they produce.
 * Runs on the machine's Scheduler: it waits only with `scheduler.sleep` and transport drains.
 */
import {
  createDirtyBitmap,
  type DirtyBitmap,
  PAGE_SIZE,
  type RamRegion,
  type Scheduler,
} from "@ferry/core";
import { isSyntheticRamBackend, type SyntheticRamBackend } from "@ferry/sim";
import { EventEmitter } from "eventemitter3";
import { MigrationCancelledError, MigrationError } from "./errors";
import type {
  ConvergenceInstance,
  MigratableMachine,
  MigrationSession,
  MigrationStatus,
  PageCodec,
  PageEncoder,
  PageRef,
  StatsContribution,
  SyncStats,
} from "./plugin";
import type { MigrationInfo, RamStats, TimeSample } from "./stats";
import { RamFlag, SectionType } from "./stream/constants";
import { StreamWriter } from "./stream/writer";
import type { OutgoingTransport } from "./transport/types";

/** QEMU's BUFFER_DELAY: bandwidth measurement and rate-limit window (ns). */
export const BUFFER_DELAY_NS = 100_000_000;
/** QEMU's XFER_LIMIT_RATIO: windows per second. */
export const XFER_LIMIT_RATIO = 10;
/** The `x-page-cost-ns` debt is slept out in quanta of at least this much (ns). */
export const PAGE_COST_QUANTUM_NS = 1_000_000;
const NS_PER_MS = 1_000_000;
// Hot-path constants as module locals.
const PS = PAGE_SIZE;
const PAGE_FLAG = RamFlag.PAGE;
const COMPACT = RamFlag.COMPACT;
/** Room reserved before a compact record so that no flush splits it (header + idstr + payload). */
const COMPACT_RESERVE = 8 + 256 + PAGE_SIZE + 64;
/** The shared all-zero page `PageRef.bytes` points at for zero synthetic versions (never written). */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/** Typed events of a migration. */
export interface MigrationEvents {
  /** The state changed. */
  state: (status: MigrationStatus, previous: MigrationStatus) => void;
  /** A dirty-log sync happened. */
  sync: (stats: SyncStats) => void;
  /** The migration completed (the destination has everything). */
  complete: (info: MigrationInfo) => void;
  /** The migration failed or was cancelled (the source keeps running). */
  failed: (error: Error) => void;
}

/** Precise timings in virtual ns (info() rounds them to ms like QEMU). */
export interface MigrationTimings {
  readonly startNs: number;
  readonly setupNs: number | null;
  readonly totalNs: number;
  /** Source stop to destination resume, once completed. */
  readonly downtimeNs: number | null;
}

/** A running (or finished) outgoing migration. */
export interface Migration {
  /** Typed events. */
  readonly events: EventEmitter<MigrationEvents>;
  /** Current state. */
  readonly status: MigrationStatus;
  /** Why it failed, or null. */
  readonly error: Error | null;
  /** Resolves with the final info when it ends (any outcome; never rejects). */
  readonly done: Promise<MigrationInfo>;
  /** Cancel at any point; the source keeps running. No effect once ended. */
  cancel(): void;
  /** query-migrate. */
  info(): MigrationInfo;
  /** Time series for plots. */
  readonly series: readonly TimeSample[];
  /** Precise timings. */
  timings(): MigrationTimings;
}

/** Everything the thread needs, prepared by the manager. */
export interface ThreadSetup {
  readonly machine: MigratableMachine;
  readonly scheduler: Scheduler;
  readonly transport: OutgoingTransport;
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly writeBufferBytes: number;
}

const isTerminal = (s: MigrationStatus): boolean =>
  s === "completed" || s === "failed" || s === "cancelled";

/** The migration thread and session (one per migration). */
export class MigrationThread implements MigrationSession, Migration {
  readonly events = new EventEmitter<MigrationEvents>();
  readonly machine: MigratableMachine;
  readonly scheduler: Scheduler;
  readonly blocks: readonly RamRegion[];
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly writer: StreamWriter;
  readonly bitmaps: readonly DirtyBitmap[];
  readonly series: TimeSample[] = [];
  done: Promise<MigrationInfo> = Promise.resolve({ status: "none" });
  status: MigrationStatus = "none";
  error: Error | null = null;

  private readonly transport: OutgoingTransport;
  private encoders: PageEncoder[] = [];
  private encoderCounts: Array<PageCodec["counts"]> = [];
  /** Some active codec reads `PageRef.bytes`: synthetic pages are materialized before the chain. */
  private needBytes = false;
  /** Per block: its synthetic backend, or null for byte-backed blocks. */
  private readonly synthetic: (SyntheticRamBackend | null)[];
  /** The transport carries compact synthetic records. */
  private readonly compact: boolean;
  /** `x-page-cost-ns`, and the cost not yet paid (ns). */
  private readonly pageCostNs: number;
  private costDebtNs = 0;
  private controllers: ConvergenceInstance[] = [];
  private readonly maxBandwidth: number;
  private readonly downtimeLimitMs: number;
  private readonly availSwitchoverBw: number;
  private readonly totalBytes: number;
  private readonly blockPageBase: number[] = [];
  private readonly scratch = new Uint8Array(PAGE_SIZE);
  private readonly ref: PageRef;
  private cancelRequested = false;
  private pausedByUs = false;
  private ramSectionId = -1;
  private cursorBlock = 0;
  private cursorPage = 0;
  private dirtyCount = 0;
  // statistics
  private readonly startNs: number;
  private setupEndNs: number | null = null;
  private endNs: number | null = null;
  private stopNs: number | null = null;
  private downtimeNs: number | null = null;
  private stopBytes: number | null = null;
  private duplicate = 0;
  private normal = 0;
  private syncCount = 0;
  private lastSyncNs = 0;
  private lastSyncBytes = 0;
  private ratePeriodStartNs = 0;
  private ratePeriodPages = 0;
  private dirtyRate = 0;
  private dirtyBytesLastSync = 0;
  private windowStartNs = 0;
  private windowStartBytes = 0;
  private windowStartPages = 0;
  private bandwidthBpms = 0;
  private threshold = 0;
  private mbps = 0;
  private pagesPerSecond = 0;
  private expectedDowntimeMs: number;

  constructor(setup: ThreadSetup) {
    this.machine = setup.machine;
    this.scheduler = setup.scheduler;
    this.transport = setup.transport;
    this.capabilities = setup.capabilities;
    this.parameters = setup.parameters;
    this.blocks = setup.machine.memory.ramRegions.filter((r) => !r.readonly);
    const transport = setup.transport;
    this.writer = new StreamWriter(
      (chunk, accounted) => transport.write(chunk, accounted),
      setup.writeBufferBytes,
    );
    this.bitmaps = this.blocks.map((b) => createDirtyBitmap(b.size / PAGE_SIZE));
    let pages = 0;
    let total = 0;
    for (const b of this.blocks) {
      this.blockPageBase.push(pages);
      pages += b.size / PAGE_SIZE;
      total += b.size;
    }
    this.totalBytes = total;
    this.maxBandwidth = setup.parameters["max-bandwidth"] as number;
    this.downtimeLimitMs = setup.parameters["downtime-limit"] as number;
    this.availSwitchoverBw = setup.parameters["avail-switchover-bandwidth"] as number;
    this.pageCostNs = (setup.parameters["x-page-cost-ns"] as number | undefined) ?? 0;
    this.synthetic = this.blocks.map((b) => (isSyntheticRamBackend(b.backend) ? b.backend : null));
    this.compact = setup.transport.compact === true;
    this.expectedDowntimeMs = this.downtimeLimitMs;
    this.startNs = setup.scheduler.now();
    this.ref = {
      block: this.blocks[0],
      blockIndex: 0,
      page: 0,
      offset: 0,
      key: 0,
      bytes: this.scratch,
      bytesOffset: 0,
      version: -1,
    };
  }

  /** Install the active codecs (ordered) and controllers. */
  attach(codecs: readonly PageCodec[], controllers: readonly ConvergenceInstance[]): void {
    this.encoders = codecs.map((c) => c.createEncoder(this));
    this.encoderCounts = codecs.map((c) => c.counts);
    this.needBytes = codecs.some((c) => c.readsBytes !== false);
    this.controllers = [...controllers];
  }

  now(): number {
    return this.scheduler.now();
  }

  setStatus(next: MigrationStatus): void {
    const prev = this.status;
    if (prev === next) return;
    this.status = next;
    this.events.emit("state", next, prev);
  }

  cancel(): void {
    if (isTerminal(this.status) || this.cancelRequested) return;
    this.cancelRequested = true;
    if (this.status !== "none") this.setStatus("cancelling");
    this.transport.abort(new MigrationCancelledError());
  }

  checkpoint(): void {
    if (this.cancelRequested) throw new MigrationCancelledError();
    const err = this.transport.error;
    if (err !== null) throw err;
  }

  // ---- setup and sync ----

  setup(): void {
    for (let i = 0; i < this.blocks.length; i++) {
      this.blocks[i].dirty.start();
      this.bitmaps[i].setAll();
    }
    this.lastSyncNs = this.now();
    this.ratePeriodStartNs = this.now();
    this.windowStartNs = this.now();
    this.syncDirtyLog();
    this.ramSectionId = this.writer.ramSetupSection(this.blocks);
    this.writer.flush();
    this.setupEndNs = this.now();
    this.setStatus("active");
  }

  syncDirtyLog(): number {
    const now = this.now();
    let newly = 0;
    let pending = 0;
    for (let i = 0; i < this.blocks.length; i++) {
      newly += this.blocks[i].dirty.sync(this.bitmaps[i]);
      pending += this.bitmaps[i].count();
    }
    this.dirtyCount = pending;
    this.syncCount++;
    this.ratePeriodPages += newly;
    if (now - this.ratePeriodStartNs >= 1000 * NS_PER_MS) {
      this.dirtyRate = Math.round((this.ratePeriodPages * 1e9) / (now - this.ratePeriodStartNs));
      this.ratePeriodPages = 0;
      this.ratePeriodStartNs = now;
    }
    const written = this.writer.written;
    const stats: SyncStats = {
      nowNs: now,
      syncCount: this.syncCount,
      dirtyPagesPeriod: newly,
      dirtyBytesPeriod: newly * PAGE_SIZE,
      bytesSentPeriod: written - this.lastSyncBytes,
      periodNs: now - this.lastSyncNs,
      dirtyRate: this.dirtyRate,
      remainingBytes: pending * PAGE_SIZE,
    };
    this.lastSyncNs = now;
    this.lastSyncBytes = written;
    this.dirtyBytesLastSync = pending * PAGE_SIZE;
    this.sample("sync");
    for (const e of this.encoders) e.onSync?.(stats);
    for (const c of this.controllers) c.onSync(stats);
    this.events.emit("sync", stats);
    return pending;
  }

  dirtyPages(): number {
    return this.dirtyCount;
  }

  thresholdBytes(): number {
    return this.threshold;
  }

  // ---- sending ----

  beginRamPart(): void {
    this.writer.sectionContinue(SectionType.PART, this.ramSectionId);
  }

  endRamPart(): void {
    this.writer.ramEos();
    this.writer.footer(this.ramSectionId);
    this.writer.flush();
  }

  sendNextDirtyPage(): boolean {
    if (this.dirtyCount === 0) return false;
    const n = this.blocks.length;
    let b = this.cursorBlock;
    let from = this.cursorPage;
    for (let tries = 0; tries <= n; tries++) {
      const bm = this.bitmaps[b];
      const p = bm.nextSet(from);
      if (p >= 0) {
        bm.words[p >>> 5] &= ~(1 << (p & 31));
        this.dirtyCount--;
        this.cursorBlock = b;
        this.cursorPage = p + 1;
        this.sendPage(b, p);
        return true;
      }
      b = b + 1 === n ? 0 : b + 1;
      from = 0;
    }
    this.dirtyCount = 0;
    return false;
  }

  private sendPage(blockIndex: number, page: number): void {
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
    if (syn !== null) {
      this.sendSyntheticPage(syn, page);
      return;
    }
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
    if (this.runCodecs(ref, w)) return;
    w.ramRecord(block, offset, PAGE_FLAG);
    w.bytes(ref.bytes, ref.bytesOffset, PS);
    this.normal++;
  }

  /**
   * A page of synthetic RAM. Full byte path: materialize the version into the scratch page (only
   * when a codec reads bytes or the page goes raw; zero versions use the shared zero page).
   * Compact path: the codecs run as usual, then the record's payload is replaced by `be32
   * version` with the COMPACT flag, and the real payload length is accounted.
   */
  private sendSyntheticPage(syn: SyntheticRamBackend, page: number): void {
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
      if (this.runCodecs(ref, w)) {
        // A codec may take a page and send nothing (XBZRLE: page unchanged since it was cached);
        // then there is no record of this page to make compact.
        if (w.written === before) return;
        const payload = w.pos - w.payloadPos;
        w.buf[w.recordPos + 7] |= COMPACT;
        w.pos = w.payloadPos;
        w.be32(version);
        w.account(payload - 4);
        return;
      }
      w.ramRecord(ref.block, ref.offset, PAGE_FLAG | COMPACT);
      w.be32(version);
      w.account(PS - 4);
      this.normal++;
      return;
    }
    if (this.runCodecs(ref, w)) return;
    if (!materialized) {
      syn.materializePage(page, version, this.scratch, 0);
      ref.bytes = this.scratch;
    }
    w.ramRecord(ref.block, ref.offset, PAGE_FLAG);
    w.bytes(ref.bytes, 0, PS);
    this.normal++;
  }

  /** Ask the codec chain; true when one encoded the page (counted, later codecs told). */
  private runCodecs(ref: PageRef, w: StreamWriter): boolean {
    const encoders = this.encoders;
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

  // ---- rate limiting and bandwidth ----

  rateExceeded(): boolean {
    if (this.maxBandwidth === 0 || this.status === "device") return false;
    return this.writer.written - this.windowStartBytes >= this.maxBandwidth / XFER_LIMIT_RATIO;
  }

  async rateLimit(): Promise<void> {
    this.checkpoint();
    if (this.rateExceeded()) {
      const wait = this.windowStartNs + BUFFER_DELAY_NS - this.now();
      if (wait > 0) await this.scheduler.sleep(wait);
      this.checkpoint();
    }
    this.updateCounters();
  }

  private updateCounters(): void {
    const now = this.now();
    const elapsed = now - this.windowStartNs;
    if (elapsed < BUFFER_DELAY_NS) return;
    const written = this.writer.written;
    const bytes = written - this.windowStartBytes;
    const ms = elapsed / NS_PER_MS;
    this.bandwidthBpms = bytes / ms;
    const expectedBpms =
      this.availSwitchoverBw > 0 ? this.availSwitchoverBw / 1000 : this.bandwidthBpms;
    this.threshold = expectedBpms * this.downtimeLimitMs;
    this.mbps = (bytes * 8) / (ms / 1000) / 1e6;
    const pages = this.duplicate + this.normal;
    this.pagesPerSecond = Math.round(((pages - this.windowStartPages) * 1000) / ms);
    if (this.dirtyRate !== 0 && bytes > 10000 && expectedBpms > 0) {
      this.expectedDowntimeMs = this.dirtyBytesLastSync / expectedBpms;
    }
    this.windowStartNs = now;
    this.windowStartBytes = written;
    this.windowStartPages = pages;
    this.sample("tick");
  }

  async flow(): Promise<void> {
    this.checkpoint();
    // Hand everything written so far to the transport, so its occupancy at every wait does not
    // depend on how records are laid out in the buffer (compact and full paths time alike).
    this.writer.flush();
    await this.payCost();
    if (this.transport.backedUp) await this.transport.drain();
    this.checkpoint();
  }

  /**
   * Sleep out the `x-page-cost-ns` cost of the pages sent since the last payment, once it reaches
   * {@link PAGE_COST_QUANTUM_NS} (or always, with `all`): fewer, longer sleeps keep a 256 GiB
   * bulk pass cheap in wall time, at the price of running up to one quantum ahead.
   */
  private async payCost(all = false): Promise<void> {
    if (!all && this.costDebtNs < PAGE_COST_QUANTUM_NS) return;
    const debt = Math.floor(this.costDebtNs);
    if (debt <= 0) return;
    this.costDebtNs -= debt;
    await this.scheduler.sleep(debt);
    this.checkpoint();
  }

  // ---- switchover ----

  async complete(): Promise<void> {
    this.checkpoint();
    this.setStatus("device");
    this.stopNs = this.now();
    this.stopBytes = this.writer.written;
    this.pausedByUs = true;
    await this.machine.pause();
    this.checkpoint();
    this.syncDirtyLog();
    const w = this.writer;
    w.sectionContinue(SectionType.END, this.ramSectionId);
    let n = 0;
    while (this.sendNextDirtyPage()) {
      if ((++n & 63) === 0) await this.flow();
    }
    w.flush();
    await this.payCost(true);
    w.ramEos();
    w.footer(this.ramSectionId);
    const state = this.machine.saveState() as Record<string, unknown>;
    for (const [key, value] of Object.entries(state)) w.deviceSection(key, 0, { [key]: value });
    w.eof();
    w.flush();
    await this.transport.end();
    this.checkpoint();
    this.downtimeNs = this.now() - this.stopNs;
    this.sample("sync");
  }

  // ---- lifecycle ----

  /** Run `body` (the strategy) as the migration thread; cleans up on every outcome. */
  async runThread(body: () => Promise<void>): Promise<MigrationInfo> {
    // Start from a scheduler event, so the caller can subscribe to events first and every
    // continuation of this async thread runs inside the scheduler's deterministic order.
    await this.scheduler.sleep(0);
    try {
      this.checkpoint();
      this.setStatus("setup");
      this.writer.header();
      await body();
      if (this.downtimeNs === null) {
        throw new MigrationError("the migration strategy returned without completing");
      }
      this.endNs = this.now();
      this.stopLogging();
      this.setStatus("completed");
      this.finish();
      const info = this.info();
      this.events.emit("complete", info);
      return info;
    } catch (e) {
      const err = e instanceof Error ? e : new MigrationError(String(e));
      const cancelled = this.cancelRequested;
      this.error = cancelled ? new MigrationCancelledError() : err;
      if (this.transport.error === null) this.transport.abort(this.error);
      this.stopLogging();
      if (this.pausedByUs) {
        this.pausedByUs = false;
        if (this.machine.state === undefined || this.machine.state === "paused") {
          this.machine.resume();
        }
      }
      this.endNs = this.now();
      this.setStatus(cancelled ? "cancelled" : "failed");
      this.finish();
      this.events.emit("failed", this.error);
      return this.info();
    }
  }

  private stopLogging(): void {
    for (const b of this.blocks) if (b.dirty.logging) b.dirty.stop();
  }

  private finish(): void {
    for (const c of this.controllers) {
      try {
        c.onEnd(this.status);
      } catch {
        // a controller failing to clean up must not hide the outcome
      }
    }
    for (const e of this.encoders) e.dispose?.();
  }

  private sample(kind: TimeSample["kind"]): void {
    this.series.push({
      kind,
      timeNs: this.now() - this.startNs,
      remainingBytes: this.dirtyCount * PAGE_SIZE,
      dirtyRate: this.dirtyRate,
      transferRate: this.bandwidthBpms * 1000,
      iteration: this.syncCount,
    });
  }

  timings(): MigrationTimings {
    return {
      startNs: this.startNs,
      setupNs: this.setupEndNs === null ? null : this.setupEndNs - this.startNs,
      totalNs: (this.endNs ?? this.now()) - this.startNs,
      downtimeNs: this.downtimeNs,
    };
  }

  info(): MigrationInfo {
    const status = this.status;
    if (status === "none" || status === "setup") return { status };
    const t = this.timings();
    const totalMs = Math.floor(t.totalNs / NS_PER_MS);
    const setupMs = Math.floor((t.setupNs ?? t.totalNs) / NS_PER_MS);
    const completed = status === "completed";
    const written = this.writer.written;
    const mbps = completed
      ? (written * 8) / Math.max(1e-9, (t.totalNs - (t.setupNs ?? 0)) / NS_PER_MS) / 1000
      : this.mbps;
    const ram: RamStats = {
      transferred: written,
      ...(completed ? {} : { remaining: this.dirtyCount * PAGE_SIZE }),
      total: this.totalBytes,
      duplicate: this.duplicate,
      normal: this.normal,
      "normal-bytes": this.normal * PAGE_SIZE,
      ...(completed ? {} : { "dirty-pages-rate": this.dirtyRate }),
      mbps,
      "dirty-sync-count": this.syncCount,
      "page-size": PAGE_SIZE,
      "pages-per-second": this.pagesPerSecond,
      "precopy-bytes": this.stopBytes ?? written,
      "downtime-bytes": this.stopBytes === null ? 0 : written - this.stopBytes,
    };
    const extra: Record<string, unknown> = {};
    const merge = (c: StatsContribution | undefined): void => {
      if (c) Object.assign(extra, c);
    };
    for (const e of this.encoders) merge(e.stats?.());
    for (const c of this.controllers) merge(c.stats?.());
    return {
      status,
      "total-time": totalMs,
      "setup-time": setupMs,
      ...(completed || t.downtimeNs !== null
        ? { downtime: Math.round(t.downtimeNs! / NS_PER_MS) }
        : { "expected-downtime": Math.round(this.expectedDowntimeMs) }),
      ram,
      ...(this.error !== null && status === "failed" ? { "error-desc": this.error.message } : {}),
      ...extra,
    };
  }
}
