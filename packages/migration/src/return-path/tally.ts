/**
 * A stream tally: how many bytes passed and their CRC-32 (IEEE, the CRC of zlib). The source
 * tallies what it sent, the destination what it loaded; the switchover acknowledgement carries
 * the destination's tally, and the source accepts it only if both agree. The CRC runs through
 * `stream/crc32.ts` (Node's native `zlib.crc32`, continued from the previous value), so the
 * digest does not depend on how the stream was cut into chunks.
 */
import { crc32 } from "../stream/crc32.js";

/** A running count and digest of stream bytes. */
export interface StreamTally {
  /** Bytes tallied. */
  readonly bytes: number;
  /** CRC-32 of those bytes (unsigned; 0 for none). */
  readonly digest: number;
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

/** Make an empty tally. */
export function createTally(): StreamTally {
  let bytes = 0;
  let crc = 0;
  let digested = true;
  return {
    get bytes() {
      return bytes;
    },
    get digest() {
      return crc >>> 0;
    },
    get digested() {
      return digested;
    },
    add(chunk) {
      if (chunk.length === 0) return;
      if (digested) crc = crc32(chunk, crc);
      bytes += chunk.length;
    },
    addAll(chunks) {
      let n = 0;
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i];
        if (digested && c.length > 0) crc = crc32(c, crc);
        n += c.length;
      }
      bytes += n;
    },
    countOnly() {
      digested = false;
    },
  };
}
