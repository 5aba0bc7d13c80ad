/**
 * The stream integrity layer (docs/stream-format.md, "Integrity mode"): an optional framing
 * around the migration stream that carries a CRC-32 per block and a digest of the whole stream
 * in a trailer. It sits between the writer and the transport (`IntegrityEncoder`) and between the
 * transport and the reader (`IntegrityDecoder`); the stream inside is unchanged. The decoder
 * checks every block before the reader sees a byte of it, so a corrupted stream is refused with
 * the offset of the first bad block, never half-parsed.
 *
 * ```
 * framed  := prelude block* trailer
 * prelude := be32 0x46525243 ("FRRC")  be32 version 1  be32 block_max  be32 CRC-32(first 12 bytes)
 * block   := be32 len (1..block_max)  payload[len]  be32 CRC-32(len bytes ‖ payload)
 * trailer := be32 0  be64 total payload bytes  be32 CRC-32(all payloads)  be32 CRC-32(first 16 bytes)
 * ```
 */
import { StreamError } from "../errors";
import { STREAM_MAGIC, TWO_POW_32 } from "./constants";
import { crc32, crc32Shift, crc32ShiftFactor } from "./crc32";
import type { ChunkSink } from "./writer";

/** Magic of an integrity-framed stream: ASCII "FRRC" (3 bits away from the plain "FRRY"). */
export const INTEGRITY_MAGIC = 0x46525243;
/** The only integrity framing version. */
export const INTEGRITY_VERSION = 1;
/** Payload bytes per block the encoder writes by default (64 KiB). */
export const INTEGRITY_BLOCK_BYTES = 65536;
/** Largest `block_max` a decoder accepts (1 MiB): what it may buffer before checking a block. */
export const MAX_INTEGRITY_BLOCK_BYTES = 1 << 20;
/** Bytes of the prelude. */
export const INTEGRITY_PRELUDE_BYTES = 16;
/** Framing bytes per block (length and CRC). */
export const INTEGRITY_BLOCK_OVERHEAD = 8;
/** Bytes of the trailer. */
export const INTEGRITY_TRAILER_BYTES = 20;

/**
 * What a destination does with integrity framing: `accept` reads framed and plain streams,
 * `require` refuses a plain stream, `off` (QEMU-compatible) refuses a framed one.
 */
export type IntegrityMode = "off" | "accept" | "require";

/** Something that takes the stream's bytes in order (a `StreamReader`). */
export interface StreamInput {
  /** Parse `chunk` (valid only during the call). */
  push(chunk: Uint8Array): void;
  /** The input ended: throw unless the stream is complete. */
  end(): void;
}

function putBe32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

function getBe32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** Shift factors by block length: nearly every block has one of a few lengths. */
class FactorCache {
  private len = -1;
  private factor = 0;

  get(n: number): number {
    if (n !== this.len) {
      this.len = n;
      this.factor = crc32ShiftFactor(n);
    }
    return this.factor;
  }
}

/** The running digest of the payloads: their CRC-32, joined block by block. */
class PayloadDigest {
  total = 0;
  digest = 0;
  private readonly factors = new FactorCache();
  private readonly lenBytes = new Uint8Array(4);

  /**
   * Account a block of `len` payload bytes whose CRC-32 is `payloadCrc`; returns the block's check
   * value, the CRC-32 of its 4 length bytes followed by the payload.
   */
  add(len: number, payloadCrc: number): number {
    const factor = this.factors.get(len);
    this.digest = (crc32Shift(this.digest, factor) ^ payloadCrc) >>> 0;
    this.total += len;
    putBe32(this.lenBytes, 0, len);
    return (crc32Shift(crc32(this.lenBytes), factor) ^ payloadCrc) >>> 0;
  }
}

/**
 * The source half: frames the writer's chunks into checked blocks and hands them to `sink` (one
 * call per chunk; no allocation per page). Call {@link IntegrityEncoder.finish} after the
 * stream's EOF and the writer's last flush.
 */
export class IntegrityEncoder {
  private readonly sink: ChunkSink;
  private readonly blockBytes: number;
  private out = new Uint8Array(0);
  private started = false;
  private finished = false;
  private readonly sum = new PayloadDigest();

  /** `blockBytes`: payload bytes per block (1 to {@link MAX_INTEGRITY_BLOCK_BYTES}). */
  constructor(sink: ChunkSink, blockBytes = INTEGRITY_BLOCK_BYTES) {
    if (!Number.isInteger(blockBytes) || blockBytes < 1 || blockBytes > MAX_INTEGRITY_BLOCK_BYTES) {
      throw new RangeError(
        `integrity block size must be 1..${MAX_INTEGRITY_BLOCK_BYTES} bytes, got ${blockBytes}`,
      );
    }
    this.sink = sink;
    this.blockBytes = blockBytes;
  }

  /** Payload bytes framed so far. */
  get total(): number {
    return this.sum.total;
  }

  /** CRC-32 of the payload bytes framed so far (the trailer's digest). */
  get digest(): number {
    return this.sum.digest;
  }

  private room(n: number): Uint8Array {
    if (this.out.length < n) this.out = new Uint8Array(Math.max(n, this.out.length * 2, 4096));
    return this.out;
  }

  private prelude(out: Uint8Array, p: number): number {
    putBe32(out, p, INTEGRITY_MAGIC);
    putBe32(out, p + 4, INTEGRITY_VERSION);
    putBe32(out, p + 8, this.blockBytes);
    putBe32(out, p + 12, crc32(out.subarray(p, p + 12)));
    return p + INTEGRITY_PRELUDE_BYTES;
  }

  /**
   * Frame `chunk` (a sink: the same signature as the writer's). `accounted` is what the chunk
   * stands for (see `ChunkSink`); the framing bytes are added to it.
   */
  readonly write = (chunk: Uint8Array, accounted: number = chunk.length): void => {
    if (this.finished) throw new RangeError("integrity encoder: write after finish");
    if (chunk.length === 0) return;
    const bs = this.blockBytes;
    const blocks = Math.ceil(chunk.length / bs);
    const n =
      chunk.length +
      blocks * INTEGRITY_BLOCK_OVERHEAD +
      (this.started ? 0 : INTEGRITY_PRELUDE_BYTES);
    const out = this.room(n);
    let p = 0;
    if (!this.started) {
      this.started = true;
      p = this.prelude(out, 0);
    }
    for (let off = 0; off < chunk.length; off += bs) {
      const len = Math.min(bs, chunk.length - off);
      const payload = chunk.subarray(off, off + len);
      putBe32(out, p, len);
      out.set(payload, p + 4);
      putBe32(out, p + 4 + len, this.sum.add(len, crc32(payload)));
      p += 4 + len + 4;
    }
    this.sink(out.subarray(0, p), accounted + (p - chunk.length));
  };

  /** Write the trailer (and the prelude of an empty stream). Nothing may be written after it. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const out = this.room(INTEGRITY_PRELUDE_BYTES + INTEGRITY_TRAILER_BYTES);
    let p = 0;
    if (!this.started) {
      this.started = true;
      p = this.prelude(out, 0);
    }
    const t = p;
    putBe32(out, p, 0);
    const total = this.sum.total;
    const hi = Math.floor(total / TWO_POW_32);
    putBe32(out, p + 4, hi);
    putBe32(out, p + 8, total - hi * TWO_POW_32);
    putBe32(out, p + 12, this.sum.digest);
    putBe32(out, p + 16, crc32(out.subarray(t, t + 16)));
    p += INTEGRITY_TRAILER_BYTES;
    this.sink(out.subarray(0, p), p);
  }
}

/** Frame a whole plain stream (tests, tools): the framed bytes. */
export function frameStream(plain: Uint8Array, blockBytes = INTEGRITY_BLOCK_BYTES): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new IntegrityEncoder((c) => parts.push(c.slice()), blockBytes);
  enc.write(plain);
  enc.finish();
  const all = Buffer.concat(parts);
  return new Uint8Array(all.buffer, all.byteOffset, all.length);
}

const enum Item {
  /** Deciding from the first 4 bytes whether the stream is framed. */
  Magic,
  Prelude,
  Header,
  Block,
  Trailer,
  Done,
}

/** Block starts kept to translate the reader's positions into wire offsets (64 MiB of blocks). */
const POSITION_RING = 1024;

/**
 * The destination half: takes the wire bytes, checks the framing and every block, and passes the
 * payloads to `inner` (the `StreamReader`). A plain stream (magic "FRRY") goes through untouched
 * unless the mode is `require`. Errors are `StreamError`s at wire offsets; a block that fails its
 * check is reported at the offset of its length field.
 */
export class IntegrityDecoder implements StreamInput {
  private readonly inner: StreamInput;
  private readonly mode: IntegrityMode;
  private item = Item.Magic;
  /** Whether the stream is framed (null until its first 4 bytes arrived). */
  framed: boolean | null = null;
  private hold = new Uint8Array(INTEGRITY_PRELUDE_BYTES);
  private held = 0;
  /** Wire offset of the current item's first byte. */
  private itemStart = 0;
  private need = 4;
  private blockMax = 0;
  private blockLen = 0;
  private blocks = 0;
  private failure: StreamError | null = null;
  private readonly sum = new PayloadDigest();
  private readonly ringInner = new Float64Array(POSITION_RING);
  private readonly ringWire = new Float64Array(POSITION_RING);

  constructor(inner: StreamInput, mode: IntegrityMode = "accept") {
    this.inner = inner;
    this.mode = mode;
  }

  /** Blocks checked so far. */
  get checkedBlocks(): number {
    return this.blocks;
  }

  /** Parse `chunk`; throws `StreamError` on a bad frame or block, or what the reader throws. */
  push(chunk: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    try {
      if (this.item === Item.Done && this.framed === false) this.toInner(chunk);
      else this.pushFramed(chunk);
    } catch (e) {
      this.failure =
        e instanceof StreamError
          ? e
          : new StreamError(this.itemStart, `internal integrity error: ${(e as Error).message}`);
      throw this.failure;
    }
  }

  /** The input ended: the trailer (framed) or the reader's EOF (plain) must have been reached. */
  end(): void {
    if (this.failure !== null) throw this.failure;
    try {
      if (this.framed === null) {
        this.fail(this.held, `stream truncated: ${this.held} byte(s), expected the stream header`);
      }
      if (this.framed && this.item !== Item.Done) {
        this.fail(
          this.itemStart,
          `stream truncated: the integrity trailer is missing (${this.held} byte(s) of an incomplete item left after ${this.blocks} checked block(s))`,
        );
      }
      try {
        this.inner.end();
      } catch (e) {
        throw this.translate(e);
      }
    } catch (e) {
      this.failure =
        e instanceof StreamError
          ? e
          : new StreamError(this.itemStart, `internal integrity error: ${(e as Error).message}`);
      throw this.failure;
    }
  }

  private fail(at: number, what: string): never {
    throw new StreamError(at, what);
  }

  /** Hand payload bytes to the reader; its errors are moved to wire offsets. */
  private toInner(bytes: Uint8Array): void {
    try {
      this.inner.push(bytes);
    } catch (e) {
      throw this.translate(e);
    }
  }

  /** A reader error at a payload position, moved to the wire offset of that byte. */
  private translate(e: unknown): unknown {
    if (!(e instanceof StreamError) || this.framed !== true) return e;
    const pos = e.position;
    const n = Math.min(this.blocks, POSITION_RING);
    for (let i = 1; i <= n; i++) {
      const slot = (this.blocks - i) % POSITION_RING;
      if (this.ringInner[slot]! <= pos) {
        const wire = this.ringWire[slot]! + (pos - this.ringInner[slot]!);
        return new StreamError(wire, `${e.reason} (stream byte ${pos})`);
      }
    }
    return new StreamError(pos, `${e.reason} (stream byte ${pos}; wire offset unknown)`);
  }

  private pushFramed(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.item === Item.Done) {
        if (this.framed === false) {
          this.toInner(off === 0 ? chunk : chunk.subarray(off));
          return;
        }
        this.fail(this.itemStart, `${chunk.length - off} byte(s) after the integrity trailer`);
      }
      const need = this.need;
      if (this.held === 0 && chunk.length - off >= need) {
        this.item = this.process(chunk, off);
        this.itemStart += need;
        off += need;
        continue;
      }
      const take = Math.min(need - this.held, chunk.length - off);
      if (this.hold.length < need) {
        const grown = new Uint8Array(need);
        grown.set(this.hold.subarray(0, this.held));
        this.hold = grown;
      }
      this.hold.set(chunk.subarray(off, off + take), this.held);
      this.held += take;
      off += take;
      if (this.held === need) {
        this.held = 0;
        this.item = this.process(this.hold, 0);
        this.itemStart += need;
      }
    }
  }

  /** Handle the complete current item at `buf[p, p + need)`; returns the next item. */
  private process(buf: Uint8Array, p: number): Item {
    const at = this.itemStart;
    switch (this.item) {
      case Item.Magic: {
        const magic = getBe32(buf, p);
        if (magic === INTEGRITY_MAGIC) {
          if (this.mode === "off") {
            this.fail(
              at,
              `integrity-checked stream (magic "FRRC"), and integrity is off on this destination (QEMU-compatible mode)`,
            );
          }
          this.framed = true;
          this.need = INTEGRITY_PRELUDE_BYTES - 4;
          return Item.Prelude;
        }
        if (this.mode === "require") {
          this.fail(
            at,
            magic === STREAM_MAGIC
              ? `stream without integrity checks (magic "FRRY"), and this destination requires them (x-integrity)`
              : `bad magic ${hex(magic)}, expected an integrity-checked stream (${hex(INTEGRITY_MAGIC)})`,
          );
        }
        this.framed = false;
        this.toInner(buf.subarray(p, p + 4));
        return Item.Done;
      }
      case Item.Prelude: {
        // The magic was checked; the other 12 bytes are at `buf[p, p + 12)`.
        const pre = new Uint8Array(INTEGRITY_PRELUDE_BYTES);
        putBe32(pre, 0, INTEGRITY_MAGIC);
        pre.set(buf.subarray(p, p + 12), 4);
        const version = getBe32(pre, 4);
        const blockMax = getBe32(pre, 8);
        const stored = getBe32(pre, 12);
        const computed = crc32(pre.subarray(0, 12));
        if (stored !== computed) {
          this.fail(
            0,
            `integrity check failed: the stream prelude has CRC-32 ${hex(stored)}, its bytes give ${hex(computed)}`,
          );
        }
        if (version !== INTEGRITY_VERSION) {
          this.fail(4, `unsupported integrity version ${version}, expected ${INTEGRITY_VERSION}`);
        }
        if (blockMax < 1 || blockMax > MAX_INTEGRITY_BLOCK_BYTES) {
          this.fail(
            8,
            `integrity block size ${blockMax} is outside 1..${MAX_INTEGRITY_BLOCK_BYTES} bytes`,
          );
        }
        this.blockMax = blockMax;
        this.need = 4;
        return Item.Header;
      }
      case Item.Header: {
        const len = getBe32(buf, p);
        if (len === 0) {
          this.need = INTEGRITY_TRAILER_BYTES - 4;
          this.trailerAt = at;
          return Item.Trailer;
        }
        if (len > this.blockMax) {
          this.fail(
            at,
            `integrity block ${this.blocks} claims ${len} bytes, above the stream's block size of ${this.blockMax}`,
          );
        }
        this.blockLen = len;
        this.need = len + 4;
        this.blockAt = at;
        return Item.Block;
      }
      case Item.Block: {
        const len = this.blockLen;
        const payload = buf.subarray(p, p + len);
        const check = this.sum.add(len, crc32(payload));
        const stored = getBe32(buf, p + len);
        if (check !== stored) {
          this.fail(
            this.blockAt,
            `integrity check failed: block ${this.blocks} (${len} bytes at byte ${this.blockAt}) has CRC-32 ${hex(stored)}, its bytes give ${hex(check)}`,
          );
        }
        const slot = this.blocks % POSITION_RING;
        this.ringInner[slot] = this.sum.total - len;
        this.ringWire[slot] = this.blockAt + 4;
        this.blocks++;
        this.toInner(payload);
        this.need = 4;
        return Item.Header;
      }
      case Item.Trailer: {
        const t = new Uint8Array(INTEGRITY_TRAILER_BYTES);
        t.set(buf.subarray(p, p + 16), 4);
        const total = getBe32(t, 4) * TWO_POW_32 + getBe32(t, 8);
        const digest = getBe32(t, 12);
        const stored = getBe32(t, 16);
        const computed = crc32(t.subarray(0, 16));
        const at = this.trailerAt;
        if (stored !== computed) {
          this.fail(
            at,
            `integrity check failed: the trailer has CRC-32 ${hex(stored)}, its bytes give ${hex(computed)}`,
          );
        }
        if (total !== this.sum.total) {
          this.fail(
            at + 4,
            `integrity trailer counts ${total} stream bytes, ${this.sum.total} arrived in ${this.blocks} block(s)`,
          );
        }
        if (digest !== this.sum.digest) {
          this.fail(
            at + 12,
            `integrity check failed: stream digest ${hex(digest)} in the trailer, the stream gives ${hex(this.sum.digest)}`,
          );
        }
        this.need = 0;
        return Item.Done;
      }
      default:
        return this.item;
    }
  }

  private blockAt = 0;
  private trailerAt = 0;
}
