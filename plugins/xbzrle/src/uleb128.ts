/**
 * "Small" unsigned LEB128, exactly as QEMU's `uleb128_encode_small` / `uleb128_decode_small`
 * (util/cutils.c): at most two bytes, values `0..0x3fff`.
 *
 * - `n < 0x80`: one byte `n`.
 * - otherwise: `(n & 0x7f) | 0x80`, then `n >> 7`.
 *
 * The decoder rejects a set continuation bit in the second byte. It accepts the non-canonical
 * two-byte form of small values (e.g. `0x85 0x00` = 5), as QEMU does.
 */

/** Largest value the small ULEB128 form can carry (14 bits). */
export const ULEB128_SMALL_MAX = 0x3fff;

/** Thrown by {@link uleb128EncodeSmall} when the value or output position is unusable. */
export class Uleb128RangeError extends RangeError {
  /** @param message what was expected and what was found */
  constructor(message: string) {
    super(message);
    this.name = "Uleb128RangeError";
  }
}

/**
 * Writes `n` as small ULEB128 at `out[offset]`.
 *
 * @returns the number of bytes written (1 or 2)
 * @throws Uleb128RangeError if `n` is not an integer in `0..0x3fff` or the bytes do not fit
 */
export function uleb128EncodeSmall(out: Uint8Array, offset: number, n: number): number {
  if (!(n >= 0 && n <= ULEB128_SMALL_MAX) || (n | 0) !== n) {
    throw new Uleb128RangeError(`small ULEB128 value must be an integer in 0..16383, got ${n}`);
  }
  if (n < 0x80) {
    if (offset >= out.length) {
      throw new Uleb128RangeError(
        `small ULEB128 needs 1 byte at offset ${offset}, buffer length is ${out.length}`,
      );
    }
    out[offset] = n;
    return 1;
  }
  if (offset + 1 >= out.length) {
    throw new Uleb128RangeError(
      `small ULEB128 needs 2 bytes at offset ${offset}, buffer length is ${out.length}`,
    );
  }
  out[offset] = (n & 0x7f) | 0x80;
  out[offset + 1] = n >>> 7;
  return 2;
}

/** Number of bytes {@link uleb128EncodeSmall} writes for `n` (1 or 2). */
export function uleb128SmallSize(n: number): number {
  return n < 0x80 ? 1 : 2;
}

/**
 * Reads a small ULEB128 value at `buf[offset]`, never reading at or beyond `end`.
 * Mirrors QEMU's `uleb128_decode_small(in, &n)`: the value goes to `value[0]`.
 *
 * @param end exclusive read limit (defaults to `buf.length`)
 * @returns bytes consumed (1 or 2), or -1 if the second byte has its continuation bit set or
 *   the encoding is truncated by `end`
 */
export function uleb128DecodeSmall(
  buf: Uint8Array,
  offset: number,
  value: Uint32Array,
  end: number = buf.length,
): number {
  if (offset >= end) {
    return -1;
  }
  const b0 = buf[offset];
  if ((b0 & 0x80) === 0) {
    value[0] = b0;
    return 1;
  }
  if (offset + 1 >= end) {
    return -1;
  }
  const b1 = buf[offset + 1];
  if ((b1 & 0x80) !== 0) {
    return -1;
  }
  value[0] = (b0 & 0x7f) | (b1 << 7);
  return 2;
}
