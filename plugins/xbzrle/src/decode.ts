/**
 * XBZRLE decoder with QEMU's `xbzrle_decode_buffer` rules (migration/xbzrle.c), decoding in
 * place over the destination page: zero-run bytes are left untouched, so the destination must
 * already hold the page the sender encoded against.
 */

import { XbzrleArgumentError, XbzrleDecodeError } from "./errors";

/** Runs at least this long are copied with `TypedArray.set` instead of a byte loop. */
const BULK_COPY_MIN = 64;

/**
 * Applies the XBZRLE payload `src[srcOff .. srcOff+srcLen)` to the page
 * `dest[destOff .. destOff+pageSize)`.
 *
 * Rules (QEMU's): while payload bytes remain, at least 2 must remain before each length; a
 * zero-run length may be 0 only for the first run; an nzrun length must be non-zero; a run must
 * not pass the end of the page, and an nzrun's bytes must lie within the payload; a length
 * whose second ULEB128 byte has the continuation bit set is invalid.
 *
 * Never writes outside `[destOff, destOff + pageSize)`. As in QEMU, runs before an error
 * have already been applied when it is thrown.
 *
 * @returns the page offset reached after the last run (QEMU's return value `d`)
 * @throws XbzrleDecodeError if the payload breaks a rule
 * @throws XbzrleArgumentError if the payload or page window lies outside its buffer
 */
export function xbzrleDecode(
  src: Uint8Array,
  srcOff: number,
  srcLen: number,
  dest: Uint8Array,
  destOff: number,
  pageSize: number,
): number {
  if (!Number.isInteger(pageSize) || pageSize <= 0) {
    throw new XbzrleArgumentError(`pageSize: expected a positive integer, got ${pageSize}`);
  }
  if (
    !Number.isInteger(srcOff) ||
    !Number.isInteger(srcLen) ||
    srcOff < 0 ||
    srcLen < 0 ||
    srcOff + srcLen > src.length
  ) {
    throw new XbzrleArgumentError(
      `payload: expected ${srcLen} bytes at offset ${srcOff} within a buffer of ${src.length} bytes`,
    );
  }
  if (!Number.isInteger(destOff) || destOff < 0 || destOff + pageSize > dest.length) {
    throw new XbzrleArgumentError(
      `page: expected ${pageSize} bytes at offset ${destOff} within a buffer of ${dest.length} bytes`,
    );
  }
  let i = 0;
  let d = 0;
  while (i < srcLen) {
    // ---- zero run ----
    const zAt = i;
    if (srcLen - i < 2) {
      throw new XbzrleDecodeError(
        `zero-run length needs at least 2 bytes left, found ${srcLen - i}`,
        i,
      );
    }
    let b0 = src[srcOff + i];
    let count: number;
    if ((b0 & 0x80) === 0) {
      count = b0;
      i += 1;
    } else {
      const b1 = src[srcOff + i + 1];
      if ((b1 & 0x80) !== 0) {
        throw new XbzrleDecodeError(
          `zero-run length: second ULEB128 byte 0x${b1.toString(16)} has the continuation bit set`,
          zAt,
        );
      }
      count = (b0 & 0x7f) | (b1 << 7);
      i += 2;
    }
    if (count === 0 && zAt !== 0) {
      throw new XbzrleDecodeError("zero-run length 0 is only allowed for the first run", zAt);
    }
    d += count;
    if (d > pageSize) {
      throw new XbzrleDecodeError(
        `zero run of ${count} bytes ends at page offset ${d}, past the page size ${pageSize}`,
        zAt,
      );
    }
    // ---- non-zero run ----
    const nAt = i;
    if (srcLen - i < 2) {
      throw new XbzrleDecodeError(
        `changed-run length needs at least 2 bytes left, found ${srcLen - i}`,
        i,
      );
    }
    b0 = src[srcOff + i];
    if ((b0 & 0x80) === 0) {
      count = b0;
      i += 1;
    } else {
      const b1 = src[srcOff + i + 1];
      if ((b1 & 0x80) !== 0) {
        throw new XbzrleDecodeError(
          `changed-run length: second ULEB128 byte 0x${b1.toString(16)} has the continuation bit set`,
          nAt,
        );
      }
      count = (b0 & 0x7f) | (b1 << 7);
      i += 2;
    }
    if (count === 0) {
      throw new XbzrleDecodeError("changed-run length must be non-zero, found 0", nAt);
    }
    if (d + count > pageSize) {
      throw new XbzrleDecodeError(
        `changed run of ${count} bytes at page offset ${d} passes the page size ${pageSize}`,
        nAt,
      );
    }
    if (i + count > srcLen) {
      throw new XbzrleDecodeError(
        `changed run of ${count} bytes needs ${count} payload bytes, found ${srcLen - i}`,
        nAt,
      );
    }
    const s = srcOff + i;
    const t = destOff + d;
    if (count >= BULK_COPY_MIN) {
      dest.set(src.subarray(s, s + count), t);
    } else {
      for (let k = 0; k < count; k++) {
        dest[t + k] = src[s + k];
      }
    }
    d += count;
    i += count;
  }
  return d;
}
