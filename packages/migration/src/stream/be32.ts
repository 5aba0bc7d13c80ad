/**
 * The big-endian u32 read every parser of the stream needs (the reader, the RAM loader, multifd
 * packets, the return path's digest choice): one small function V8 inlines into their loops.
 */

/** The big-endian unsigned 32-bit integer at `b[p, p + 4)` (the bytes must be there). */
export function be32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}
