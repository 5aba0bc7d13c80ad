/**
 * The multi-channel page sender (QEMU's multifd send side). The migration thread queues dirty
 * pages here instead of writing them on the main stream; pages of one RAM block fill a packet of
 * up to 128 pages, and a full packet goes to the next free channel. Each channel is a sender
 * "thread" with its own CPU timeline: a packet costs `x-page-cost-ns` per page (plus the
 * compression method's modelled cost per normal page) before it is written on that channel's
 * transport, so one channel is CPU-bound when the per-page cost exceeds the link's time per page
 * and several channels are not. The main thread waits only when every channel is busy (QEMU's
 * `channels_ready`). At each epoch boundary (the first page queued after a dirty-log sync) and at
 * the end, every channel gets a SYNC packet and the main stream a `RAM_SAVE_FLAG_MULTIFD_FLUSH`
 * record: the destination applies nothing of the next epoch before all of the previous one.
 *
 * Zero pages are detected here (QEMU's `zero-page-detection=multifd`) and travel as offsets only.
 * On a compact link a synthetic page travels as its version, every statistic counting the real
 * bytes (with compression, the materialized pages are really compressed to count them).
 *
 * In real time (a realtime scheduler, full pages) the page work runs on worker threads, one per
 * channel (`worker-pool.ts`): the migration thread only records each packet's page offsets (and
 * copies the pages into a pooled buffer when RAM is not a `SharedArrayBuffer`); the channel's
 * worker reads the pages (in place from shared RAM), sorts out the zero pages, compresses and
 * builds the packet, which the migration thread writes on the channel's socket.
 */
import { PAGE_SIZE, type RamRegion, type Scheduler, type VersionedPages } from "@ferry/core";
import { MigrationError } from "../errors";
import { RamFlag } from "../stream/constants";
import type { StreamWriter } from "../stream/writer";
import type { OutgoingTransport } from "../transport/types";
import type { MultifdCompression, MultifdCompressor } from "./compression";
import { type ChannelWorker, startChannelWorker } from "./worker-pool";
import type { FromWorker, SendJob, WorkerBlock } from "./worker-protocol";
import {
  encodeMultifdInit,
  MULTIFD_FLAG_SYNC,
  MULTIFD_FLAG_X_COMPACT,
  MULTIFD_PACKET_LEN,
  MULTIFD_PAGE_COUNT,
  writeMultifdPacketHeader,
} from "./packet";

const PS = PAGE_SIZE;
const N = MULTIFD_PAGE_COUNT;
/** Worker mode: packets queued on a channel's worker before the migration thread waits. */
const WORKER_DEPTH = 2;

/** Options of {@link MultifdSender}. */
export interface MultifdSenderOptions {
  /** The data channels (their count is `multifd-channels`). */
  readonly channels: readonly OutgoingTransport[];
  readonly scheduler: Scheduler;
  /** The migrated RAM blocks, in the order the page sender numbers them. */
  readonly blocks: readonly RamRegion[];
  /** Send synthetic pages as versions (the channels are compact link channels). */
  readonly compact: boolean;
  /** `x-page-cost-ns`: modelled sender CPU per page, paid on the channel. */
  readonly pageCostNs: number;
  /** The `multifd-compression` method, or null for none. */
  readonly compression: MultifdCompression | null;
  /** Its level (`multifd-zlib-level` / `multifd-zstd-level`). */
  readonly level: number;
  /** The migration's 16-byte id sent in every channel's handshake. */
  readonly uuid: Uint8Array;
  /** The main stream (sync points are written there). */
  readonly writer: StreamWriter;
  /** Told of every packet's bytes as it is handed to a channel (the rate limiter counts them). */
  readonly onBytes: (bytes: number) => void;
  /** A channel failed (the caller aborts the migration). */
  readonly onError: (error: Error) => void;
  /**
   * Run the page work on worker threads (one per channel). Default: in real time with full pages
   * and a compression method that names its worker module (or none). Then {@link MultifdSender.queue}
   * returns null and the pages are counted through `onPages` once their channel's worker sorted them.
   */
  readonly workers?: boolean;
  /** Pages sorted by a worker: `zero` zero pages and `normal` normal ones (worker mode). */
  readonly onPages?: (zero: number, normal: number) => void;
  /** Longest wait for a worker's answer (ms; default 60 s). */
  readonly workerTimeoutMs?: number;
}

/** Traffic of one channel. */
export interface MultifdChannelStats {
  /** Bytes sent (handshake, packets, page data; real bytes on a compact link). */
  readonly bytes: number;
  readonly packets: number;
  readonly normalPages: number;
  readonly zeroPages: number;
  /** Virtual time the channel's sender thread was busy (ns). */
  readonly busyNs: number;
}

interface Channel {
  readonly index: number;
  readonly transport: OutgoingTransport;
  readonly compressor: MultifdCompressor | null;
  freeAt: number;
  bytes: number;
  packets: number;
  normalPages: number;
  zeroPages: number;
  busyNs: number;
  /** Resolves once every write handed to this channel so far was made. */
  written: Promise<void>;
  /** Writes scheduled and not yet made (a later one never overtakes them). */
  pending: number;
}

const enc = new TextEncoder();

/** The multifd send side of one migration. */
export class MultifdSender {
  /** `multifd-bytes`: every byte sent on the data channels. */
  bytes = 0;
  /** Page bytes before compression (normal pages × 4 KiB) and after (the data actually sent). */
  rawDataBytes = 0;
  compressedDataBytes = 0;
  /** Sync points sent (MULTIFD_FLUSH records on the main stream). */
  syncs = 0;
  private readonly o: MultifdSenderOptions;
  private readonly chans: Channel[];
  private readonly synthetic: (VersionedPages | null)[];
  private readonly names: Uint8Array[];
  private readonly words: (Int32Array | null)[];
  private readonly scratch = new Uint8Array(PS);
  private readonly scratchWords = new Int32Array(this.scratch.buffer);
  // the packet being filled
  private block = -1;
  private normal = 0;
  private zero = 0;
  private readonly normalOffsets = new Float64Array(N);
  private readonly zeroOffsets = new Float64Array(N);
  private readonly normalVersions = new Uint32Array(N);
  private readonly zeroVersions = new Uint32Array(N);
  private readonly data: Uint8Array;
  private readonly offsets = new Float64Array(N);
  private nextChannel = 0;
  private packetNum = 0;
  private pagesSinceSync = 0;
  private syncDue = false;
  private error: Error | null = null;
  private readonly modelCost: boolean;
  /** Worker mode: one worker per channel, else null. */
  private readonly workers: ChannelWorker[] | null = null;
  /** Worker mode: per block, whether its RAM is shared with the workers. */
  private readonly shared: boolean[] = [];
  /** Worker mode: the pages of the packet being filled, copied (RAM not shared), or null. */
  private pages: Uint8Array | null = null;
  /** Worker mode: page buffers back from the workers, for reuse. */
  private readonly pool: ArrayBuffer[] = [];
  private seq = 0;
  private closed = false;
  private finished = false;
  private waiters: Array<() => void> = [];

  constructor(options: MultifdSenderOptions) {
    this.o = options;
    if (options.channels.length < 1 || options.channels.length > 255) {
      throw new MigrationError(
        `multifd needs 1..255 data channels, the transport gave ${options.channels.length}`,
      );
    }
    const c = options.compression;
    this.chans = options.channels.map((transport, index) => ({
      index,
      transport,
      compressor: c === null ? null : c.createCompressor(options.level),
      freeAt: 0,
      bytes: 0,
      packets: 0,
      normalPages: 0,
      zeroPages: 0,
      busyNs: 0,
      written: Promise.resolve(),
      pending: 0,
    }));
    // In real time the work costs what it really costs: the model applies to virtual time only.
    this.modelCost = options.scheduler.kind !== "realtime";
    this.synthetic = options.blocks.map((b) => b.backend.versioned ?? null);
    this.names = options.blocks.map((b) => enc.encode(b.name));
    this.words = options.blocks.map((b) => {
      const bytes = b.backend.bytes;
      return bytes !== null && bytes.byteOffset % 4 === 0
        ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2)
        : null;
    });
    // Full-path data, or the materialized pages compressed to count a compact packet's real size.
    this.data = options.compact && c === null ? new Uint8Array(0) : new Uint8Array(N * PS);
    for (let i = 0; i < this.chans.length; i++) {
      this.write(this.chans[i], encodeMultifdInit({ uuid: options.uuid, id: i }), -1);
    }
    const canWork = !options.compact && (c === null || c.worker !== undefined);
    const useWorkers = options.workers ?? (options.scheduler.kind === "realtime" && canWork);
    if (useWorkers) {
      if (!canWork) {
        throw new MigrationError(
          options.compact
            ? "multifd worker threads need full pages (not a compact link)"
            : `multifd-compression "${c?.name}" names no worker module`,
        );
      }
      const blocks: WorkerBlock[] = options.blocks.map((b, i) => {
        const bytes = b.backend.bytes;
        const sab =
          bytes !== null && bytes.buffer instanceof SharedArrayBuffer && bytes.byteOffset % 4 === 0
            ? bytes.buffer
            : null;
        this.shared[i] = sab !== null;
        return {
          name: this.names[i],
          shared: sab,
          byteOffset: bytes?.byteOffset ?? 0,
          size: b.size,
        };
      });
      const compression =
        c === null ? null : { ...(c.worker as NonNullable<typeof c.worker>), level: options.level };
      this.workers = this.chans.map((ch) =>
        startChannelWorker({
          init: { role: "send", channel: ch.index, blocks, compression },
          ...(options.workerTimeoutMs !== undefined ? { timeoutMs: options.workerTimeoutMs } : {}),
          onError: (e) => this.failWith(e),
        }),
      );
    }
  }

  /**
   * Resolves once every channel's worker thread is up (at once without workers); rejects with
   * the error of one that did not start (each has its timeout).
   */
  async started(): Promise<void> {
    if (this.workers !== null) await Promise.all(this.workers.map((w) => w.ready));
  }

  /** True when the page work runs on worker threads. */
  get threaded(): boolean {
    return this.workers !== null;
  }

  /** Terminate the worker threads (every outcome; idempotent). */
  async close(): Promise<void> {
    const w = this.workers;
    if (w === null || this.closed) return;
    this.closed = true;
    if (!this.finished) {
      // failed or cancelled: the data channels go down with the workers
      const why = this.error ?? new MigrationError("multifd: the migration ended");
      for (const c of this.chans) c.transport.abort(why);
    }
    await Promise.all(w.map((x) => x.close()));
    this.wake();
  }

  private failWith(e: Error): void {
    if (this.error === null) {
      this.error = e;
      this.o.onError(e);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Per-channel traffic. */
  channelStats(): MultifdChannelStats[] {
    return this.chans.map((c) => ({
      bytes: c.bytes,
      packets: c.packets,
      normalPages: c.normalPages,
      zeroPages: c.zeroPages,
      busyNs: c.busyNs,
    }));
  }

  /** A dirty-log sync happened: the next page queued starts a new epoch (sync point first). */
  markSync(): void {
    if (this.pagesSinceSync > 0) this.syncDue = true;
  }

  /**
   * Queue page `page` of block `blockIndex` (its bit already cleared). Returns true when it was a
   * zero page (QEMU counts it as `duplicate`), false for a normal page.
   */
  queue(blockIndex: number, page: number): boolean | null {
    if (this.syncDue) this.sync();
    if (blockIndex !== this.block && this.normal + this.zero > 0) this.sendPacket(0);
    this.block = blockIndex;
    const offset = page * PS;
    if (this.workers !== null) {
      // worker mode: record the page (copy it when RAM is not shared); the worker sorts it
      if (!this.shared[blockIndex]) {
        if (this.pages === null) {
          const b = this.pool.pop();
          this.pages = b !== undefined ? new Uint8Array(b) : new Uint8Array(N * PS);
        }
        const backend = this.o.blocks[blockIndex].backend;
        const at = this.normal * PS;
        if (backend.bytes !== null) this.pages.set(backend.bytes.subarray(offset, offset + PS), at);
        else backend.read(offset, this.pages.subarray(at, at + PS));
      }
      this.normalOffsets[this.normal++] = offset;
      this.pagesSinceSync++;
      if (this.normal === N) this.sendPacket(0);
      return null;
    }
    const syn = this.synthetic[blockIndex];
    let zero: boolean;
    if (syn !== null) {
      const version = syn.versions[page];
      zero = syn.isZeroVersion(page, version);
      if (zero) {
        this.zeroVersions[this.zero] = version;
        this.zeroOffsets[this.zero++] = offset;
      } else {
        if (this.data.length > 0) syn.materializePage(page, version, this.data, this.normal * PS);
        this.normalVersions[this.normal] = version;
        this.normalOffsets[this.normal++] = offset;
      }
    } else {
      const block = this.o.blocks[blockIndex];
      let bytes = block.backend.bytes;
      let words = this.words[blockIndex];
      let at = offset;
      if (bytes === null || words === null) {
        block.backend.read(offset, this.scratch);
        bytes = this.scratch;
        words = this.scratchWords;
        at = 0;
      }
      zero = isZeroPage(words, at >>> 2);
      if (zero) {
        this.zeroOffsets[this.zero++] = offset;
      } else {
        this.data.set(bytes.subarray(at, at + PS), this.normal * PS);
        this.normalOffsets[this.normal++] = offset;
      }
    }
    this.pagesSinceSync++;
    if (this.normal + this.zero === N) this.sendPacket(0);
    return zero;
  }

  /**
   * How long the main thread must wait before queueing more (ns): 0 while some channel is free,
   * else until the first one is.
   */
  waitNs(): number {
    const now = this.o.scheduler.now();
    let min = Number.POSITIVE_INFINITY;
    for (const c of this.chans) {
      if (c.freeAt <= now) return 0;
      if (c.freeAt < min) min = c.freeAt;
    }
    return min - now;
  }

  /**
   * Wait until the main thread may queue more: some channel's sender is free (virtual time) and
   * no channel's transport is backed up (real sockets buffer without bound otherwise).
   */
  async ready(): Promise<void> {
    const workers = this.workers;
    if (workers !== null) {
      // every channel's worker has WORKER_DEPTH packets queued: wait for one to answer
      while (this.error === null && workers.every((w) => w.inFlight >= WORKER_DEPTH)) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    }
    const wait = this.waitNs();
    if (wait > 0) await this.o.scheduler.sleep(wait);
    for (const c of this.chans) {
      if (c.transport.backedUp) await c.transport.drain();
    }
    this.check();
  }

  /** Throw the error a channel failed with, if any. */
  check(): void {
    if (this.error !== null) throw this.error;
  }

  /**
   * The end (switchover, vCPUs stopped, every page queued): a last sync point, then wait until
   * every channel has sent its packets and close them (resolves once each far end has them all).
   */
  async finish(): Promise<void> {
    this.sync();
    if (this.workers !== null) {
      // every worker answers every packet (each has its timeout), then the channels close
      await Promise.all(this.workers.map((w) => w.idle()));
      this.check();
      await Promise.all(this.chans.map((c) => c.transport.end()));
      this.check();
      this.finished = true;
      await this.close();
      return;
    }
    const s = this.o.scheduler;
    let last = s.now();
    for (const c of this.chans) if (c.freeAt > last) last = c.freeAt;
    if (last > s.now()) await s.sleep(last - s.now());
    await Promise.all(this.chans.map((c) => c.written));
    this.check();
    await Promise.all(this.chans.map((c) => c.transport.end()));
    this.check();
  }

  /** Flush the partial packet, a SYNC packet on every channel, a FLUSH record on the main stream. */
  private sync(): void {
    this.syncDue = false;
    this.pagesSinceSync = 0;
    if (this.normal + this.zero > 0) this.sendPacket(0);
    for (const c of this.chans) this.emit(c, MULTIFD_FLAG_SYNC, 0);
    const w = this.o.writer;
    w.be32(0);
    w.be32(RamFlag.MULTIFD_FLUSH);
    this.syncs++;
  }

  /** Send the packet being filled on the next free channel. */
  private sendPacket(flags: number): void {
    // QEMU's multifd_send: the next channel without a pending job, searching from the last one.
    const chans = this.chans;
    const now = this.o.scheduler.now();
    let pick = -1;
    let best = Number.POSITIVE_INFINITY;
    const workers = this.workers;
    if (workers !== null) {
      // the next channel whose worker has the fewest packets queued
      for (let k = 0; k < chans.length; k++) {
        const i = (this.nextChannel + k) % chans.length;
        if (workers[i].inFlight < best) {
          best = workers[i].inFlight;
          pick = i;
          if (best === 0) break;
        }
      }
      this.nextChannel = (pick + 1) % chans.length;
      this.emit(chans[pick], flags, 1);
      return;
    }
    for (let k = 0; k < chans.length; k++) {
      const i = (this.nextChannel + k) % chans.length;
      if (chans[i].freeAt <= now) {
        pick = i;
        break;
      }
      if (chans[i].freeAt < best) {
        best = chans[i].freeAt;
        pick = i;
      }
    }
    this.nextChannel = (pick + 1) % chans.length;
    this.emit(chans[pick], flags, 1);
  }

  /** Build the packet (the current pages when `withPages`) and hand it to channel `c`. */
  private emit(c: Channel, flags: number, withPages: 0 | 1): void {
    if (this.workers !== null) {
      this.emitThreaded(c, flags, withPages);
      return;
    }
    const o = this.o;
    const normal = withPages ? this.normal : 0;
    const zero = withPages ? this.zero : 0;
    const method = o.compression;
    let f = flags | (method?.flag ?? 0);
    let payload: Uint8Array;
    let accountedData: number;
    if (o.compact) {
      f |= MULTIFD_FLAG_X_COMPACT;
      payload = new Uint8Array(4 * (normal + zero));
      const dv = new DataView(payload.buffer);
      for (let i = 0; i < normal; i++) dv.setUint32(4 * i, this.normalVersions[i]);
      for (let i = 0; i < zero; i++) dv.setUint32(4 * (normal + i), this.zeroVersions[i]);
      accountedData =
        normal === 0
          ? 0
          : c.compressor !== null
            ? c.compressor.compress(this.data.subarray(0, normal * PS)).length
            : normal * PS;
    } else {
      const raw = this.data.subarray(0, normal * PS);
      payload = c.compressor !== null && normal > 0 ? c.compressor.compress(raw) : raw;
      accountedData = payload.length;
    }
    const packet = new Uint8Array(MULTIFD_PACKET_LEN + payload.length);
    const offsets = this.offsets;
    for (let i = 0; i < normal; i++) offsets[i] = this.normalOffsets[i];
    for (let i = 0; i < zero; i++) offsets[normal + i] = this.zeroOffsets[i];
    writeMultifdPacketHeader(
      packet,
      0,
      {
        flags: f,
        pagesAlloc: N,
        normalPages: normal,
        zeroPages: zero,
        nextPacketSize: payload.length,
        packetNum: this.packetNum++,
      },
      normal + zero > 0 ? this.names[this.block] : new Uint8Array(0),
      offsets,
    );
    packet.set(payload, MULTIFD_PACKET_LEN);
    const work = this.modelCost
      ? (normal + zero) * o.pageCostNs + normal * (method?.pageCostNs ?? 0)
      : 0;
    if (withPages) {
      this.rawDataBytes += normal * PS;
      this.compressedDataBytes += accountedData;
      c.normalPages += normal;
      c.zeroPages += zero;
      this.normal = 0;
      this.zero = 0;
    }
    c.packets++;
    const now = o.scheduler.now();
    const start = Math.max(c.freeAt, now);
    c.freeAt = start + work;
    c.busyNs += work;
    this.write(c, packet, MULTIFD_PACKET_LEN + accountedData, c.freeAt);
  }

  /** Worker mode: hand the packet (its page offsets, its copied pages) to the channel's worker. */
  private emitThreaded(c: Channel, flags: number, withPages: 0 | 1): void {
    const count = withPages ? this.normal : 0;
    const offsets = this.normalOffsets.slice(0, count);
    const pages = withPages ? this.pages : null;
    const job: SendJob = {
      kind: "send",
      seq: this.seq++,
      flags: flags | (this.o.compression?.flag ?? 0),
      packetNum: this.packetNum++,
      block: count > 0 ? this.block : 0,
      count,
      offsets,
      pages: pages === null ? null : (pages.buffer as ArrayBuffer),
    };
    if (withPages) {
      this.pages = null;
      this.normal = 0;
      this.zero = 0;
    }
    c.packets++;
    const transfer =
      pages === null ? [offsets.buffer] : [offsets.buffer, pages.buffer as ArrayBuffer];
    try {
      this.workers![c.index].submit(job, transfer, (r) => this.sent(c, r));
    } catch (e) {
      this.failWith(e instanceof Error ? e : new MigrationError(String(e)));
    }
  }

  /** Worker mode: a packet is built; count it and write it on its channel. */
  private sent(c: Channel, r: FromWorker): void {
    if (r.kind !== "sent") return;
    if (r.pages !== null) this.pool.push(r.pages);
    const n = r.packet.byteLength;
    this.rawDataBytes += r.normal * PS;
    this.compressedDataBytes += r.dataBytes;
    c.normalPages += r.normal;
    c.zeroPages += r.zero;
    this.o.onPages?.(r.zero, r.normal);
    this.write(c, new Uint8Array(r.packet), n);
    this.wake();
  }

  /** Write `chunk` (standing for `accounted` bytes, -1 = its length) on `c` at `atNs`. */
  private write(c: Channel, chunk: Uint8Array, accounted: number, atNs = 0): void {
    const n = accounted < 0 ? chunk.length : accounted;
    c.bytes += n;
    this.bytes += n;
    this.o.onBytes(n);
    const go = (): void => {
      if (this.error !== null) return;
      try {
        c.transport.write(chunk, n);
      } catch (e) {
        this.failWith(e instanceof Error ? e : new MigrationError(String(e)));
      }
    };
    const s = this.o.scheduler;
    if (atNs <= s.now() && c.pending === 0) go();
    else {
      c.pending++;
      c.written = new Promise((resolve) =>
        s.at(Math.max(atNs, s.now()), () => {
          c.pending--;
          go();
          resolve();
        }),
      );
    }
  }
}

/** True when the 1024 words from `w[at]` are all zero. */
function isZeroPage(w: Int32Array, at: number): boolean {
  const end = at + PS / 4;
  for (let i = at; i < end; i++) if (w[i] !== 0) return false;
  return true;
}
