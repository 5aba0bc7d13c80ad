/**
 * The stream writer: appends records into one large reusable buffer and hands full buffers to a
 * sink. No allocation per page.
 */
import { PAGE_SIZE } from "@ferry/core";
import { MigrationError } from "../errors";
import {
  DEVICE_SECTION_VERSION,
  RAM_SECTION,
  RamFlag,
  STREAM_MAGIC,
  STREAM_VERSION,
  SectionType,
  TWO_POW_32,
} from "./constants";

/**
 * Receives written bytes. The chunk is valid only during the call (the writer reuses its buffer):
 * copy it if it must be kept — or keep the writer's whole buffer (`chunk.buffer`) and, during the
 * call, give the writer another with {@link StreamWriter.replaceBuffer} (no copy). `accounted` is
 * the number of stream bytes the chunk stands for: `chunk.length` except on the compact synthetic
 * path (see docs/synthetic-migration.md), where records carry page versions but count as the real
 * records' length.
 */
export type ChunkSink = (chunk: Uint8Array, accounted: number) => void;

const EMPTY = new Uint8Array(0);

/**
 * Spans of bytes the writer did not copy (guest pages), to be spliced into its own bytes: span `i`
 * (`len[i]` bytes of `src[i]` from `off[i]`) goes right before `own[at[i]]`, spans in order. Valid
 * only during the {@link GatherSink} call: the writer reuses the lists, and the bytes are read as
 * they are at that moment.
 */
export class GatherSpans {
  /** Spans in the lists. */
  count = 0;
  /** Position in the writer's own bytes before which each span goes. */
  readonly at: Int32Array;
  /** Each span's source array. */
  readonly src: Uint8Array[];
  /** Each span's offset in its source. */
  readonly off: Float64Array;
  /** Each span's length. */
  readonly len: Int32Array;

  /** Lists with room for `capacity` spans. */
  constructor(capacity: number) {
    this.at = new Int32Array(capacity);
    this.src = new Array<Uint8Array>(capacity).fill(EMPTY);
    this.off = new Float64Array(capacity);
    this.len = new Int32Array(capacity);
  }

  /** Room for no more spans. */
  get full(): boolean {
    return this.count === this.at.length;
  }
}

/**
 * Receives the writer's own bytes with the referenced spans spliced in (see
 * {@link StreamWriter.gatherTo}); `accounted` as for {@link ChunkSink}. Both are valid only
 * during the call.
 */
export type GatherSink = (own: Uint8Array, spans: GatherSpans, accounted: number) => void;

/** Call `piece` for each non-empty piece of `own` with `spans` spliced in, in stream order. */
export function forEachGathered(
  own: Uint8Array,
  spans: GatherSpans,
  piece: (src: Uint8Array, off: number, len: number) => void,
): void {
  let from = 0;
  for (let i = 0; i < spans.count; i++) {
    const at = spans.at[i];
    if (at > from) piece(own, from, at - from);
    if (spans.len[i] > 0) piece(spans.src[i], spans.off[i], spans.len[i]);
    from = at;
  }
  if (own.length > from) piece(own, from, own.length - from);
}

/** A RAM block as the writer names it. */
export interface RamBlockInfo {
  /** Block idstr (1..255 ASCII bytes). */
  readonly name: string;
  /** Length in bytes. */
  readonly size: number;
}

const textEncoder = new TextEncoder();
const CONTINUE = RamFlag.CONTINUE;
const PAGE = RamFlag.PAGE;
const PAGE_RUN = RamFlag.PAGE_RUN;
const PS = PAGE_SIZE;
/** A PAGE_RUN record's bytes besides its pages and block name: header and count. */
const RUN_HEAD = 12;
const P32 = TWO_POW_32;

/** Store `v` as a big-endian u32 at `b[p, p + 4)`. */
function putBe32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

/** Encode an idstr as ASCII bytes, 1..255 long. */
function idBytes(idstr: string): Uint8Array {
  const b = textEncoder.encode(idstr);
  if (b.length === 0 || b.length > 255) {
    throw new MigrationError(`idstr must be 1..255 bytes, got ${b.length} ("${idstr}")`);
  }
  return b;
}

/**
 * Big-endian stream writer (monomorphic hot-path class). `buf`/`pos` are public so codecs can
 * write payloads in place after `ensure(n)`.
 */
export class StreamWriter {
  /** The current buffer. */
  buf: Uint8Array;
  /** Write position in `buf`. */
  pos = 0;
  /** Position in `buf` of the last RAM record header written by {@link StreamWriter.ramRecord}. */
  recordPos = 0;
  /** Position in `buf` where that record's payload starts (after the header and idstr). */
  payloadPos = 0;
  private flushed = 0;
  /** Accounted-minus-wire bytes of the buffered data (compact records). */
  private extra = 0;
  private readonly sink: ChunkSink;
  private lastBlock: RamBlockInfo | null = null;
  private lastBlockId: Uint8Array = new Uint8Array(0);
  private nextSectionId = 1;
  private gather: GatherSink | null = null;
  private spans: GatherSpans = new GatherSpans(0);
  /** Bytes of the spans not yet handed to the gather sink. */
  private spanBytes = 0;
  // The open run of raw pages by reference (pageByRef): it goes on while the next page follows it
  // in the same block and source, nothing was written since, and the flush has not come.
  /** `pos` right after the run's last bytes of ours (header, count); -1 when no run is open. */
  private runEnd = -1;
  /** The run's span (index in `spans`). */
  private runSpan = -1;
  /** Pages in the run: 1 while it is still a PAGE record. */
  private runCount = 0;
  /** Position of the run's `be32 count` once it is a PAGE_RUN record. */
  private runCountPos = 0;
  /** Block offset and source offset the next page must have to join the run. */
  private runNext = 0;
  private runSrc: Uint8Array = EMPTY;
  private runSrcNext = 0;

  /** `capacity`: buffer size; when it fills, the bytes go to `sink`. */
  constructor(sink: ChunkSink, capacity = 1 << 20) {
    this.sink = sink;
    this.buf = new Uint8Array(capacity);
  }

  /**
   * Total stream bytes written so far (flushed or buffered), as accounted: on the compact path a
   * record counts as the real record it stands for.
   */
  get written(): number {
    return this.flushed + this.pos + this.extra + this.spanBytes;
  }

  /**
   * Hand {@link StreamWriter.bytesByRef} spans to `sink` by reference, at most `maxSpans` per
   * flush (null: copy them as {@link StreamWriter.bytes} does). Flushes what is buffered first.
   */
  gatherTo(sink: GatherSink | null, maxSpans = 256): void {
    this.flush();
    this.gather = sink;
    this.spans = new GatherSpans(sink === null ? 0 : Math.max(1, maxSpans));
  }

  /**
   * Append `len` bytes of `src` from `off` without copying them when a gather sink is set: the
   * sink reads them at the next flush, as they are then. Only for bytes whose later changes are
   * sent again anyway (guest pages under dirty logging) — and never for a buffer that is reused
   * before the flush.
   */
  bytesByRef(src: Uint8Array, off: number, len: number): void {
    if (this.gather === null) {
      this.bytes(src, off, len);
      return;
    }
    let spans = this.spans;
    if (spans.full) {
      this.flush();
      spans = this.spans;
    }
    const i = spans.count++;
    spans.at[i] = this.pos;
    spans.src[i] = src;
    spans.off[i] = off;
    spans.len[i] = len;
    this.spanBytes += len;
  }

  /**
   * A raw page record for the page at byte `offset` of `block`, whose bytes are `src[srcOff,
   * srcOff + PAGE_SIZE)`, by reference when a gather sink is set (copied otherwise, as
   * {@link StreamWriter.ramRecord} + {@link StreamWriter.bytes}). By reference, the page after the
   * previous one (same block, same source, next offset in both, nothing written in between) joins
   * it: the previous PAGE record becomes a PAGE_RUN (`be32 count` after its header) and the span
   * grows, so a run of consecutive pages is one header and one span. A run ends at the flush,
   * which comes when the buffered bytes reach the buffer's size, as for {@link StreamWriter.bytesByRef}.
   */
  pageByRef(block: RamBlockInfo, offset: number, src: Uint8Array, srcOff: number): void {
    if (this.gather === null) {
      this.ramRecord(block, offset, PAGE);
      this.bytes(src, srcOff, PS);
      return;
    }
    const spans = this.spans;
    const pos = this.pos;
    if (
      pos === this.runEnd &&
      this.runSpan === spans.count - 1 &&
      offset === this.runNext &&
      srcOff === this.runSrcNext &&
      src === this.runSrc &&
      block === this.lastBlock &&
      pos + 4 + this.spanBytes + PS <= this.buf.length
    ) {
      const count = this.runCount + 1;
      if (count === 2) {
        // The PAGE record becomes a run: its type bits, then the count where the page was (the
        // page's span moves after it). The header is still in the buffer (no flush since).
        const b = this.buf;
        const r = this.recordPos + 7;
        b[r] = (b[r] & ~PAGE) | PAGE_RUN;
        this.runCountPos = pos;
        this.pos = pos + 4;
        spans.at[this.runSpan] = pos + 4;
        this.runEnd = pos + 4;
      }
      putBe32(this.buf, this.runCountPos, count);
      this.runCount = count;
      spans.len[this.runSpan] += PS;
      this.spanBytes += PS;
      this.runNext = offset + PS;
      this.runSrcNext = srcOff + PS;
      return;
    }
    // A new record: it starts a run of one. Room for a run's header and its page, or flush first.
    if (spans.full || pos + this.spanBytes + RUN_HEAD + PS > this.buf.length) this.flush();
    this.ramRecord(block, offset, PAGE);
    this.bytesByRef(src, srcOff, PS);
    this.runSpan = this.spans.count - 1;
    this.runEnd = this.pos;
    this.runCount = 1;
    this.runNext = offset + PS;
    this.runSrc = src;
    this.runSrcNext = srcOff + PS;
  }

  /**
   * Count `n` stream bytes that are not on the wire (may be negative): the compact path replaces
   * a record's payload by the page version and accounts the difference here.
   */
  account(n: number): void {
    this.extra += n;
  }

  /** Bytes held (in the buffer, and spans by reference), not yet handed to the sink. */
  get buffered(): number {
    return this.pos + this.spanBytes;
  }

  /** Make room for `n` more bytes (flushing, or growing for a single large item). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(n);
  }

  /**
   * Start a new stream on a new connection (post-copy recovery): drop what is buffered (the old
   * connection is gone), forget the section ids and the previous block. `written` keeps counting.
   */
  reset(): void {
    this.flushed += this.pos + this.extra + this.spanBytes;
    this.pos = 0;
    this.extra = 0;
    this.spanBytes = 0;
    this.spans.count = 0;
    this.runEnd = -1;
    this.lastBlock = null;
    this.lastBlockId = new Uint8Array(0);
    this.nextSectionId = 1;
  }

  /** Hand the buffered bytes to the sink. */
  flush(): void {
    const spans = this.spans;
    if (this.pos === 0 && spans.count === 0) return;
    const n = this.pos;
    const accounted = n + this.extra + this.spanBytes;
    this.pos = 0;
    this.extra = 0;
    this.spanBytes = 0;
    this.runEnd = -1;
    this.flushed += accounted;
    if (spans.count === 0) {
      this.sink(this.buf.subarray(0, n), accounted);
      return;
    }
    try {
      this.gather!(this.buf.subarray(0, n), spans, accounted);
    } finally {
      spans.count = 0;
    }
  }

  /**
   * Continue in `next` (at least as large as the current buffer): called by a sink that kept the
   * buffer it was handed (see {@link ChunkSink}). Only while the buffer is empty (during a flush).
   */
  replaceBuffer(next: Uint8Array): void {
    if (this.pos !== 0 || next.length < this.buf.length) {
      throw new MigrationError(
        `stream writer: cannot switch to a ${next.length}-byte buffer (current ${this.buf.length} bytes, ${this.pos} buffered)`,
      );
    }
    this.buf = next;
  }

  /** Append a byte. */
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Append a big-endian u16. */
  be16(v: number): void {
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  /** Append a big-endian u32. */
  be32(v: number): void {
    this.ensure(4);
    putBe32(this.buf, this.pos, v);
    this.pos += 4;
  }

  /** Append a big-endian u64 given as a non-negative safe integer. */
  be64(v: number): void {
    const hi = Math.floor(v / P32);
    this.be32(hi);
    this.be32(v - hi * P32);
  }

  /** Append `len` bytes of `src` from `off`. */
  bytes(src: Uint8Array, off: number, len: number): void {
    this.ensure(len);
    this.buf.set(len === src.length && off === 0 ? src : src.subarray(off, off + len), this.pos);
    this.pos += len;
  }

  /** Append `u8 len` + idstr. */
  private idstr(id: Uint8Array): void {
    this.u8(id.length);
    this.bytes(id, 0, id.length);
  }

  /** Stream header: magic + version. */
  header(): void {
    this.be32(STREAM_MAGIC);
    this.be32(STREAM_VERSION);
  }

  /** Open a START or FULL section; returns its new section id. */
  sectionStart(type: 0x01 | 0x04, idstr: string, instance: number, version: number): number {
    const id = this.nextSectionId++;
    this.u8(type);
    this.be32(id);
    this.idstr(idBytes(idstr));
    this.be32(instance);
    this.be32(version);
    this.lastBlock = null;
    return id;
  }

  /** Open a PART or END section of an already started section. */
  sectionContinue(type: 0x02 | 0x03, sectionId: number): void {
    this.u8(type);
    this.be32(sectionId);
    this.lastBlock = null;
  }

  /** Section footer. */
  footer(sectionId: number): void {
    this.u8(SectionType.FOOTER);
    this.be32(sectionId);
  }

  /** End-of-stream marker. */
  eof(): void {
    this.u8(SectionType.EOF);
  }

  /** RAM setup list: `be64(total | MEM_SIZE)` then per block `u8 len, idstr, be64 length`. */
  ramMemSize(blocks: readonly RamBlockInfo[]): void {
    let total = 0;
    for (const b of blocks) total += b.size;
    this.be64(total + RamFlag.MEM_SIZE);
    for (const b of blocks) {
      this.idstr(idBytes(b.name));
      this.be64(b.size);
    }
  }

  /** RAM end-of-section-chunk record. */
  ramEos(): void {
    this.be64(RamFlag.EOS);
  }

  /**
   * Write a RAM record header for the page at byte `offset` of `block` with record flag `flag`
   * (CONTINUE is added when the block is the previous record's). The payload follows.
   */
  ramRecord(block: RamBlockInfo, offset: number, flag: number): void {
    if (block === this.lastBlock) {
      this.ensure(8);
      this.recordPos = this.pos;
      this.be64(offset + (flag | CONTINUE));
      this.payloadPos = this.pos;
      return;
    }
    if (this.lastBlock === null || this.lastBlock.name !== block.name) {
      this.lastBlockId = idBytes(block.name);
    }
    const id = this.lastBlockId;
    this.ensure(9 + id.length);
    this.recordPos = this.pos;
    this.be64(offset + flag);
    this.lastBlock = block;
    this.idstr(id);
    this.payloadPos = this.pos;
  }

  /** A complete RAM section START with the block list (the setup chunk). Returns the section id. */
  ramSetupSection(blocks: readonly RamBlockInfo[]): number {
    const id = this.sectionStart(
      SectionType.START,
      RAM_SECTION.idstr,
      RAM_SECTION.instance,
      RAM_SECTION.version,
    );
    this.ramMemSize(blocks);
    this.ramEos();
    this.footer(id);
    return id;
  }

  /** One chunk of a plugin section: `be32 len` + `body`, then the footer. */
  sectionBody(sectionId: number, body: Uint8Array): void {
    this.be32(body.length);
    this.bytes(body, 0, body.length);
    this.footer(sectionId);
  }

  /** A FULL device-state section: `be32 len` + UTF-8 JSON of `state`. Returns the section id. */
  deviceSection(idstr: string, instance: number, state: unknown): number {
    const json = textEncoder.encode(JSON.stringify(state));
    const id = this.sectionStart(SectionType.FULL, idstr, instance, DEVICE_SECTION_VERSION);
    this.be32(json.length);
    this.bytes(json, 0, json.length);
    this.footer(id);
    return id;
  }
}
