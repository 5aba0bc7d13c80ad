/**
 * A stream tally: how many bytes passed and their FNV-1a 32-bit digest. The source tallies what
 * it sent, the destination what it loaded; the switchover acknowledgement carries the
 * destination's tally, and the source accepts it only if both agree. The digest does not depend
 * on how the stream was cut into chunks.
 */

/** A running count and digest of stream bytes. */
export interface StreamTally {
  /** Bytes tallied. */
  readonly bytes: number;
  /** FNV-1a 32-bit digest of those bytes (unsigned). */
  readonly digest: number;
  /** Add bytes (in stream order). */
  add(chunk: Uint8Array): void;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Make an empty tally. */
export function createTally(): StreamTally {
  let bytes = 0;
  let h = FNV_OFFSET | 0;
  return {
    get bytes() {
      return bytes;
    },
    get digest() {
      return h >>> 0;
    },
    add(chunk) {
      let x = h;
      for (let i = 0; i < chunk.length; i++) x = Math.imul(x ^ chunk[i]!, FNV_PRIME);
      h = x;
      bytes += chunk.length;
    },
  };
}
