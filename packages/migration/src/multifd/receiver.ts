/**
 * The multifd receive side (QEMU's multifd recv threads): parses each data channel's handshake and
 * packets, validates every field, and applies the pages into the destination's RAM blocks. The
 * sync points keep epochs apart: a channel that reads a SYNC packet goes no further until every
 * channel has read its SYNC packet of that epoch and the main stream has read the matching
 * `RAM_SAVE_FLAG_MULTIFD_FLUSH` (QEMU's `multifd_recv_sync_main`), so a page of an older pass is
 * never applied over a newer one.
 *
 * In real time, a compressed packet is decompressed and applied by its channel's worker thread
 * (`worker-pool.ts`; in place when RAM is a `SharedArrayBuffer`, else the worker hands the pages
 * back and this thread copies them in). A sync point opens only once every packet before it is
 * applied, and the channels complete only once every packet is. Uncompressed packets are applied
 * here: their only work is the copy into RAM, which a worker would not save.
 */
import { PAGE_SIZE, type RamBackend, type VersionedPages } from "@ferry/core";
import { MigrationError } from "../errors";
import type { RamBlockTarget } from "../stream/reader";
import type { IncomingTransport } from "../transport/types";
import type { MultifdCompression, MultifdDecompressor } from "./compression";
import { type ChannelWorker, startChannelWorker } from "./worker-pool";
import type { FromWorker, RecvJob } from "./worker-protocol";
import {
  decodeMultifdInit,
  decodeMultifdPacketHeader,
  MULTIFD_FLAG_COMPRESSION_MASK,
  MULTIFD_FLAG_SYNC,
  MULTIFD_FLAG_X_COMPACT,
  MULTIFD_INIT_SIZE,
  MULTIFD_PACKET_LEN,
  MULTIFD_PAGE_COUNT,
  type MultifdPacketHeader,
} from "./packet";

const PS = PAGE_SIZE;
const ZERO_PAGE = new Uint8Array(PS);
/** Packets queued on a channel's worker before its parsing waits for an answer. */
const WORKER_DEPTH = 4;
/** Largest compressed data accepted after a packet (twice the raw pages, plus slack). */
const MAX_COMPRESSED = 2 * MULTIFD_PAGE_COUNT * PS + 4096;

/** Options of {@link MultifdReceiver}. */
export interface MultifdReceiverOptions {
  /** Data channels expected (`multifd-channels`). */
  readonly channels: number;
  /** Destination RAM blocks. */
  readonly blocks: readonly RamBlockTarget[];
  /** The channels may carry compact synthetic packets (a compact link). */
  readonly compact: boolean;
  /** Compression methods this destination can decode. */
  readonly compressions: readonly MultifdCompression[];
  /** A channel failed or sent bad data: the incoming migration fails with this error. */
  readonly onError: (error: Error) => void;
  /** Every channel ended cleanly with all its packets applied. */
  readonly onComplete: () => void;
  /**
   * Decompress and apply compressed packets on worker threads (one per channel), for methods that
   * name their worker module (default false; `incoming` turns it on in real time with full pages).
   */
  readonly workers?: boolean;
  /** Longest wait for a worker's answer (ms; default 60 s). */
  readonly workerTimeoutMs?: number;
  /**
   * The `multifd-compression` the source is expected to use: with `workers`, each channel's worker
   * starts at its handshake instead of at its first packet (a packet of another method is refused).
   */
  readonly expectedCompression?: string;
}

interface Slot {
  readonly index: number;
  /** The block's RAM is a `SharedArrayBuffer` (workers write it in place). */
  readonly shared: boolean;
  readonly target: RamBlockTarget;
  readonly bytes: Uint8Array | null;
  readonly backend: RamBackend;
  readonly synthetic: VersionedPages | null;
}

interface RecvChannel {
  /** Arrival index (for messages until the handshake names the channel). */
  readonly index: number;
  id: number;
  buf: Uint8Array;
  len: number;
  header: MultifdPacketHeader | null;
  syncs: number;
  ended: boolean;
  decompressor: MultifdDecompressor | null;
  /** The flag of the decompressor's method. */
  decompressorFlag: number;
  /** Its worker thread (compressed packets in real time), or null. */
  worker: ChannelWorker | null;
}

/** The receive side of one incoming multifd migration. */
export class MultifdReceiver {
  /** Pages applied (normal and zero). */
  pages = 0;
  /** Bytes received on the data channels. */
  bytes = 0;
  private readonly o: MultifdReceiverOptions;
  private readonly slots = new Map<string, Slot>();
  private readonly chans: RecvChannel[] = [];
  private uuid: Uint8Array | null = null;
  private method = -1;
  private mainFlushes = 0;
  private released = 0;
  private failed = false;
  private completed = false;
  private pumping = false;
  /** Packets handed to workers and not yet applied. */
  private inflight = 0;
  private seq = 0;
  /** Buffers back from the workers, for reuse: packet data, and pages to copy into RAM. */
  private readonly dataPool: ArrayBuffer[] = [];
  private readonly outPool: ArrayBuffer[] = [];

  constructor(options: MultifdReceiverOptions) {
    this.o = options;
    for (const [index, t] of options.blocks.entries()) {
      const b = t.backend.bytes;
      this.slots.set(t.name, {
        index,
        shared: b !== null && b.buffer instanceof SharedArrayBuffer,
        target: t,
        bytes: t.backend.bytes,
        backend: t.backend,
        synthetic: versionedOf(t.backend),
      });
    }
  }

  /** True once every expected channel ended with all its packets applied. */
  get complete(): boolean {
    return this.completed;
  }

  /** Receive on one data channel (call once per channel, in any order). */
  attach(t: IncomingTransport): void {
    const ch: RecvChannel = {
      index: this.chans.length,
      id: -1,
      buf: new Uint8Array(MULTIFD_PACKET_LEN * 2),
      len: 0,
      header: null,
      syncs: 0,
      ended: false,
      decompressor: null,
      decompressorFlag: 0,
      worker: null,
    };
    if (this.chans.length >= this.o.channels) {
      this.fail(
        ch,
        `more data channels than the ${this.o.channels} expected (multifd-channels differs between source and destination?)`,
      );
      return;
    }
    this.chans.push(ch);
    t.receive({
      data: (chunk) => {
        if (this.failed) return;
        this.bytes += chunk.length;
        this.append(ch, chunk);
        this.pump();
      },
      end: () => {
        if (this.failed) return;
        ch.ended = true;
        this.pump();
      },
      error: (e) => this.fail(ch, e.message),
    });
  }

  /** The main stream read a sync point (`RAM_SAVE_FLAG_MULTIFD_FLUSH`). */
  mainFlush(): void {
    this.mainFlushes++;
    this.pump();
  }

  /** Resolves once the worker threads started so far are up. */
  async started(): Promise<void> {
    await Promise.all(this.chans.map((c) => c.worker?.ready));
  }

  /** Terminate the worker threads (every outcome; idempotent). */
  async close(): Promise<void> {
    const ws = this.chans.map((c) => c.worker).filter((w) => w !== null);
    for (const c of this.chans) c.worker = null;
    await Promise.all(ws.map((w) => w.close()));
  }

  private fail(ch: RecvChannel, why: string): void {
    if (this.failed) return;
    this.failed = true;
    const name = ch.id >= 0 ? `multifd channel ${ch.id}` : `multifd channel #${ch.index}`;
    void this.close();
    this.o.onError(new MigrationError(`${name}: ${why}`));
  }

  private append(ch: RecvChannel, chunk: Uint8Array): void {
    if (ch.len + chunk.length > ch.buf.length) {
      let size = ch.buf.length * 2;
      while (size < ch.len + chunk.length) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(ch.buf.subarray(0, ch.len));
      ch.buf = grown;
    }
    ch.buf.set(chunk, ch.len);
    ch.len += chunk.length;
  }

  /** Parse every channel as far as the barrier allows; repeat while a barrier opens. */
  private pump(): void {
    if (this.pumping || this.failed) return;
    this.pumping = true;
    try {
      for (;;) {
        for (const ch of this.chans) {
          this.parse(ch);
          if (this.failed) return;
        }
        if (!this.release()) break;
      }
      for (const c of this.chans) {
        const waiting = c.worker !== null && c.worker.inFlight > 0;
        if (c.ended && c.len > 0 && c.syncs <= this.released && !waiting) {
          this.fail(c, `the channel ended in the middle of a packet (${c.len} bytes left over)`);
          return;
        }
      }
      if (
        !this.completed &&
        this.chans.length === this.o.channels &&
        this.inflight === 0 &&
        this.chans.every((c) => c.ended && c.len === 0 && c.syncs === this.released)
      ) {
        if (this.released !== this.mainFlushes) {
          this.fail(this.chans[0], "the channels ended before the main stream's last sync point");
          return;
        }
        this.completed = true;
        void this.close();
        this.o.onComplete();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Open the next barrier when every channel and the main stream reached it. */
  private release(): boolean {
    const next = this.released + 1;
    if (this.chans.length < this.o.channels || this.mainFlushes < next) return false;
    // every packet before the sync point applied (workers included) before any after it
    if (this.inflight > 0) return false;
    for (const c of this.chans) if (c.syncs < next) return false;
    this.released = next;
    return true;
  }

  private parse(ch: RecvChannel): void {
    let pos = 0;
    try {
      for (;;) {
        if (ch.syncs > this.released) break; // waiting at a sync point
        const avail = ch.len - pos;
        if (ch.id < 0) {
          if (avail < MULTIFD_INIT_SIZE) break;
          this.handshake(ch, pos);
          pos += MULTIFD_INIT_SIZE;
          continue;
        }
        if (ch.header === null) {
          if (avail < MULTIFD_PACKET_LEN) break;
          ch.header = this.checkHeader(ch, decodeMultifdPacketHeader(ch.buf, pos));
          pos += MULTIFD_PACKET_LEN;
          continue;
        }
        const h = ch.header;
        if (avail < h.nextPacketSize) break;
        // a channel's worker holds at most WORKER_DEPTH packets; the rest waits in the buffer
        if (ch.worker !== null && ch.worker.inFlight >= WORKER_DEPTH && h.normalPages > 0) break;
        if (ch.worker !== null && h.normalPages > 0) {
          this.dispatch(ch, h, ch.buf.subarray(pos, pos + h.nextPacketSize));
        } else this.apply(ch, h, ch.buf.subarray(pos, pos + h.nextPacketSize));
        pos += h.nextPacketSize;
        ch.header = null;
        if ((h.flags & MULTIFD_FLAG_SYNC) !== 0) ch.syncs++;
      }
    } catch (e) {
      this.fail(ch, (e as Error).message);
      return;
    }
    if (pos > 0) {
      ch.buf.copyWithin(0, pos, ch.len);
      ch.len -= pos;
    }
  }

  private handshake(ch: RecvChannel, pos: number): void {
    const init = decodeMultifdInit(ch.buf, pos);
    if (init.id >= this.o.channels) {
      throw new Error(`handshake names channel ${init.id}, expected ids 0..${this.o.channels - 1}`);
    }
    if (this.chans.some((c) => c.id === init.id)) {
      throw new Error(`a second handshake for channel ${init.id}`);
    }
    if (this.uuid === null) this.uuid = init.uuid;
    else if (!this.uuid.every((b, i) => init.uuid[i] === b)) {
      throw new Error("handshake uuid differs from the other channels' (another migration?)");
    }
    ch.id = init.id;
    const expected = this.o.expectedCompression;
    if (this.o.workers === true && expected !== undefined && expected !== "none") {
      const c = this.o.compressions.find((m) => m.name === expected);
      if (c !== undefined) {
        ch.decompressor = c.createDecompressor();
        ch.decompressorFlag = c.flag;
        this.startWorker(ch, c);
      }
    }
  }

  private checkHeader(ch: RecvChannel, h: MultifdPacketHeader): MultifdPacketHeader {
    const method = h.flags & MULTIFD_FLAG_COMPRESSION_MASK;
    if (this.method < 0) this.method = method;
    else if (method !== this.method) {
      throw new Error(
        `packet ${h.packetNum} compression flags 0x${method.toString(16)} differ from the migration's 0x${this.method.toString(16)}`,
      );
    }
    if (method !== 0 && ch.decompressor === null) {
      const c = this.o.compressions.find((m) => m.flag === method);
      if (c === undefined) {
        throw new Error(
          `packet ${h.packetNum} uses compression flags 0x${method.toString(16)}, which this destination cannot decode (load the multifd plugin)`,
        );
      }
      ch.decompressor = c.createDecompressor();
      ch.decompressorFlag = c.flag;
      if (this.o.workers === true && ch.worker === null) this.startWorker(ch, c);
    }
    if (ch.decompressor !== null && ch.decompressorFlag !== method) {
      throw new Error(
        `packet ${h.packetNum} compression flags 0x${method.toString(16)}, but multifd-compression is "${this.o.expectedCompression}" here`,
      );
    }
    const compact = (h.flags & MULTIFD_FLAG_X_COMPACT) !== 0;
    if (compact && !this.o.compact)
      throw new Error("compact synthetic packet outside a compact link");
    const n = h.normalPages + h.zeroPages;
    const expected = compact ? 4 * n : method === 0 ? h.normalPages * PS : -1;
    if (expected >= 0 && h.nextPacketSize !== expected) {
      throw new Error(
        `packet ${h.packetNum}: next_packet_size ${h.nextPacketSize}, expected ${expected} for ${h.normalPages} normal pages`,
      );
    }
    if (
      expected < 0 &&
      (h.nextPacketSize > MAX_COMPRESSED || h.normalPages > 0 !== h.nextPacketSize > 0)
    ) {
      throw new Error(`packet ${h.packetNum}: bad compressed size ${h.nextPacketSize}`);
    }
    if (n > 0) {
      const slot = this.slots.get(h.ramblock);
      if (slot === undefined)
        throw new Error(`packet ${h.packetNum}: unknown RAM block "${h.ramblock}"`);
      for (const off of h.offsets) {
        if (off + PS > slot.target.size) {
          throw new Error(
            `packet ${h.packetNum}: page offset ${off} outside RAM block "${h.ramblock}" of ${slot.target.size} bytes`,
          );
        }
      }
      if (compact && slot.synthetic === null) {
        throw new Error(
          `compact packet for RAM block "${h.ramblock}", which is not synthetic here`,
        );
      }
    }
    return h;
  }

  /** Start channel `ch`'s worker thread for method `c` (when it names its worker module). */
  private startWorker(ch: RecvChannel, c: MultifdCompression): void {
    const module = c.worker;
    if (module === undefined) return;
    ch.worker = startChannelWorker({
      init: {
        role: "recv",
        channel: ch.id,
        blocks: this.o.blocks.map((t) => {
          const b = t.backend.bytes;
          const shared = b !== null && b.buffer instanceof SharedArrayBuffer;
          return {
            name: new Uint8Array(0),
            shared: shared ? (b.buffer as SharedArrayBuffer) : null,
            byteOffset: shared ? b.byteOffset : 0,
            size: t.size,
          };
        }),
        compression: { ...module, level: 0 },
      },
      ...(this.o.workerTimeoutMs !== undefined ? { timeoutMs: this.o.workerTimeoutMs } : {}),
      onError: (e) => this.fail(ch, e.message.replace(/^multifd channel \d+: /, "")),
    });
  }

  /** Hand a compressed packet to the channel's worker (the data is copied into a pooled buffer). */
  private dispatch(ch: RecvChannel, h: MultifdPacketHeader, data: Uint8Array): void {
    const slot = this.slots.get(h.ramblock)!;
    const buf = this.dataPool.pop() ?? new ArrayBuffer(MAX_COMPRESSED);
    new Uint8Array(buf).set(data);
    const out = slot.shared
      ? null
      : (this.outPool.pop() ?? new ArrayBuffer(MULTIFD_PAGE_COUNT * PS));
    const offsets = Float64Array.from(h.offsets);
    const job: RecvJob = {
      kind: "recv",
      seq: this.seq++,
      block: slot.index,
      normal: h.normalPages,
      zero: h.zeroPages,
      offsets,
      data: buf,
      dataBytes: data.length,
      out,
    };
    this.inflight++;
    const transfer = out === null ? [buf] : [buf, out];
    ch.worker!.submit(job, transfer, (r) => this.applied(slot, job, r));
  }

  /** A worker applied a packet (or handed its pages back to be copied into RAM). */
  private applied(slot: Slot, job: RecvJob, r: FromWorker): void {
    if (r.kind !== "applied") return;
    this.inflight--;
    this.dataPool.push(r.data);
    if (r.out !== null) {
      const pages = new Uint8Array(r.out);
      const bytes = slot.bytes;
      const n = job.normal + job.zero;
      for (let i = 0; i < n; i++) {
        const off = job.offsets[i];
        const src = i < job.normal ? pages.subarray(i * PS, (i + 1) * PS) : ZERO_PAGE;
        if (bytes !== null) bytes.set(src, off);
        else slot.backend.write(off, src);
      }
      this.outPool.push(r.out);
    }
    this.pages += job.normal + job.zero;
    this.pump();
  }

  private apply(ch: RecvChannel, h: MultifdPacketHeader, data: Uint8Array): void {
    const n = h.normalPages + h.zeroPages;
    if (n === 0) return;
    const slot = this.slots.get(h.ramblock)!;
    const offsets = h.offsets;
    if ((h.flags & MULTIFD_FLAG_X_COMPACT) !== 0) {
      const syn = slot.synthetic!;
      for (let i = 0; i < n; i++) {
        syn.readCompact(offsets[i] / PS, data, 4 * i);
      }
      this.pages += n;
      return;
    }
    let pages = data;
    if (ch.decompressor !== null && h.normalPages > 0) {
      pages = ch.decompressor.decompress(data, h.normalPages * PS);
      if (pages.length !== h.normalPages * PS) {
        throw new Error(
          `packet ${h.packetNum}: data decompressed to ${pages.length} bytes, expected ${h.normalPages * PS}`,
        );
      }
    }
    const bytes = slot.bytes;
    for (let i = 0; i < n; i++) {
      const off = offsets[i];
      const src = i < h.normalPages ? pages.subarray(i * PS, (i + 1) * PS) : ZERO_PAGE;
      if (bytes !== null) bytes.set(src, off);
      else slot.backend.write(off, src);
    }
    this.pages += n;
  }
}

/**
 * The backend's versioned pages when their compact form is a be32 version (what a compact
 * multifd packet carries per page), else null.
 */
function versionedOf(backend: RamBackend): VersionedPages | null {
  const v = backend.versioned;
  return v !== undefined && v.compactBytes === 4 ? v : null;
}
