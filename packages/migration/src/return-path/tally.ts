/**
 * A stream tally: how many bytes passed and their digest. The source tallies what it sent, the
 * destination what it loaded; the switchover acknowledgement carries the destination's tally,
 * and the source accepts it only if both agree. The digest does not depend on how the stream was
 * cut into chunks.
 *
 * Which digest is decided by the stream's first 8 bytes, so both ends pick the same one without
 * a message: a stream of version 2 or later (`FRRY`, version ≥ 2: every stream this ferry writes) is digested
 * with Fletcher-64 (`stream/fletcher64.ts`, WebAssembly SIMD); anything else — a version-1 stream
 * of an older ferry, an integrity-framed stream (`FRRC`), garbage — with CRC-32
 * (`stream/crc32.ts`, Node's `zlib.crc32`), as before version 2.
 */
import { be32 } from "../stream/be32.js";
import { STREAM_MAGIC } from "../stream/constants.js";
import { crc32 } from "../stream/crc32.js";
import { createFletcher64, type Fletcher64 } from "../stream/fletcher64.js";

/** A switchover acknowledgement's digest algorithm. */
export type DigestKind = "crc32" | "fletcher64";

/** The digest of a stream that begins with `head` (its first 8 bytes). */
export function digestKindOf(head: Uint8Array): DigestKind {
  if (head.length < 8) return "crc32";
  return be32(head, 0) === STREAM_MAGIC && be32(head, 4) >= 2 ? "fletcher64" : "crc32";
}

/** A running count and digest of stream bytes. */
export interface StreamTally {
  /** Bytes tallied. */
  readonly bytes: number;
  /**
   * The digest of those bytes, lowercase hex: CRC-32 (8 digits) or Fletcher-64 (32 digits, see
   * {@link digestKindOf}); the CRC-32 of the bytes while fewer than 8 were seen; `00000000` when
   * count-only.
   */
  readonly digest: string;
  /** False once {@link StreamTally.countOnly} was called: `digest` then means nothing. */
  readonly digested: boolean;
  /** Add bytes (in stream order). */
  add(chunk: Uint8Array): void;
  /** Add every chunk of `chunks` (in stream order): one call for a gathered write. */
  addAll(chunks: readonly Uint8Array[]): void;
  /**
   * Count bytes from now on without digesting them (the source with `x-integrity: false`, where
   * the switchover acknowledgement is checked by byte count only).
   */
  countOnly(): void;
}

/** CRC-32 as 8 hex digits. */
const crcHex = (crc: number): string => (crc >>> 0).toString(16).padStart(8, "0");

/** Make an empty tally. */
export function createTally(): StreamTally {
  let bytes = 0;
  let digested = true;
  /** The first bytes, held until there are 8 and the digest is chosen (Fletcher-64 or CRC-32). */
  const head = new Uint8Array(8);
  let headLength = 0;
  let crc = 0;
  let f64: Fletcher64 | null = null;

  const digest = (chunk: Uint8Array): void => {
    if (f64 !== null) f64.add(chunk);
    else crc = crc32(chunk, crc);
  };
  const digestAll = (chunks: readonly Uint8Array[]): void => {
    if (f64 !== null) f64.addAll(chunks);
    else for (let i = 0; i < chunks.length; i++) crc = crc32(chunks[i]!, crc);
  };
  /** Take bytes of `chunk` into the head; once it is full, choose and digest it. Returns what remains. */
  const takeHead = (chunk: Uint8Array): Uint8Array => {
    const n = Math.min(8 - headLength, chunk.length);
    head.set(chunk.subarray(0, n), headLength);
    headLength += n;
    if (headLength < 8) return chunk.subarray(chunk.length);
    if (digestKindOf(head) === "fletcher64") f64 = createFletcher64();
    digest(head);
    return chunk.subarray(n);
  };

  return {
    get bytes() {
      return bytes;
    },
    get digest() {
      if (!digested) return "00000000";
      if (headLength < 8) return crcHex(crc32(head.subarray(0, headLength)));
      return f64 !== null ? f64.hex() : crcHex(crc);
    },
    get digested() {
      return digested;
    },
    add(chunk) {
      if (chunk.length === 0) return;
      bytes += chunk.length;
      if (!digested) return;
      const rest = headLength < 8 ? takeHead(chunk) : chunk;
      if (rest.length > 0) digest(rest);
    },
    addAll(chunks) {
      let n = 0;
      for (let i = 0; i < chunks.length; i++) n += chunks[i]!.length;
      if (n === 0) return;
      bytes += n;
      if (!digested) return;
      // The head comes once per stream: only a write before it is chosen takes the slow path.
      let i = 0;
      while (headLength < 8 && i < chunks.length) {
        const rest = takeHead(chunks[i++]!);
        if (rest.length > 0) digest(rest);
      }
      digestAll(i === 0 ? chunks : chunks.slice(i));
    },
    countOnly() {
      digested = false;
    },
  };
}
