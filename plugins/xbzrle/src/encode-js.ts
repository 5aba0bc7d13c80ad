/**
 * XBZRLE encoder in plain JavaScript, byte-identical to QEMU's scalar `xbzrle_encode_buffer`
 * (migration/xbzrle.c) and to the WebAssembly encoder (encode-wasm.ts). It is the fallback where
 * WebAssembly SIMD is unavailable, and the "previous implementation" the benchmarks compare with.
 *
 * Body: repeated `zrun_len, nzrun_len, nzrun bytes` where a zrun is a run of bytes equal in the
 * old and new page, an nzrun a run of differing bytes (sent as the NEW bytes). Lengths are small
 * ULEB128. The first zrun may be 0; the trailing zrun is omitted.
 */

import { checkEncodeArgs } from "./encode-args";
import { wordViewOf } from "./word-view";

/**
 * Longest run a small ULEB128 length can carry (0x3fff). A module-local constant rather than an
 * import: some module runners (vitest's) turn imported bindings into getter calls, which would
 * sit in the hot loop.
 */
const MAX_RUN = 0x3fff;

/** Word chunks are walked low byte first, which is address order only on little-endian hosts. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Runs at least this long are copied with `TypedArray.set` instead of a byte loop. */
const BULK_COPY_MIN = 64;

/**
 * Encodes the difference between the old page `old[oldOff .. oldOff+pageSize)` and the new page
 * `neu[newOff .. newOff+pageSize)` into `out[outOff ..]`, writing at most `outLimit` bytes.
 *
 * QEMU's rules, with `dlen = outLimit` and `d` the bytes written so far: before each run pair
 * and again after writing its zero-run length, `d + 2 > dlen` is an overflow; after writing
 * the changed-run length, `d + nzrun_len > dlen` is an overflow. So an identical page still
 * returns -1 when `outLimit < 2`. A run longer than 0x3fff bytes (only possible with
 * pages larger than 16 KiB, where QEMU would abort on an assertion) also returns -1.
 * On overflow, bytes within `out[outOff .. outOff+outLimit)` may have been written.
 *
 * Runs 4 bytes at a time when both pages have the same alignment mod 4 in their buffers (the
 * usual case); otherwise byte by byte. Allocates nothing in steady state.
 *
 * @returns 0 if the pages are identical, -1 on overflow, else the encoded length in bytes
 * @throws XbzrleArgumentError if a page or the output window lies outside its buffer
 */
export function xbzrleEncodeJs(
  old: Uint8Array,
  oldOff: number,
  neu: Uint8Array,
  newOff: number,
  pageSize: number,
  out: Uint8Array,
  outOff: number,
  outLimit: number,
): number {
  checkEncodeArgs(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit);

  const oldAbs = old.byteOffset + oldOff;
  const newAbs = neu.byteOffset + newOff;
  if (LITTLE_ENDIAN && ((oldAbs ^ newAbs) & 3) === 0 && pageSize >= 16) {
    return encodeWords(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit, oldAbs, newAbs);
  }
  return encodeBytes(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit);
}

/** Input bytes encoded before {@link minRestCost} may be consulted (see encodeWords). */
const PROBE_AFTER = 512;

/**
 * A lower bound of the encoded size of `[i, slen)`: every changed byte, plus two length bytes
 * (zero run + changed run) for every changed run that starts there (`inRun`: a changed run is
 * open at `i`, so a changed byte at `i` continues it). Word at a time where aligned: the high bit
 * of each non-zero byte of `x = old ^ new` is `((x & 0x7f7f7f7f) + 0x7f7f7f7f | x) & 0x80808080`.
 * Exact QEMU semantics are kept by the caller: a total above the limit can only be an overflow.
 */
function minRestCost(
  o32: Int32Array,
  n32: Int32Array,
  old: Uint8Array,
  oo: number,
  neu: Uint8Array,
  no: number,
  i: number,
  slen: number,
  oldAbs: number,
  newAbs: number,
  inRun: boolean,
): number {
  let cost = 0;
  let prev = inRun ? 1 : 0;
  while (i < slen && ((oldAbs + i) & 3) !== 0) {
    const ch = old[oo + i] !== neu[no + i] ? 1 : 0;
    cost += ch * (3 - 2 * prev);
    prev = ch;
    i++;
  }
  let wo = (oldAbs + i) >> 2;
  let wn = (newAbs + i) >> 2;
  while (i + 4 <= slen) {
    const x = o32[wo++] ^ n32[wn++];
    if (x !== 0) {
      const m = (((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
      const starts = m & ~((m << 8) | (prev << 7));
      cost +=
        (Math.imul(m >>> 7, 0x01010101) >>> 24) + 2 * (Math.imul(starts >>> 7, 0x01010101) >>> 24);
      prev = m >>> 31;
    } else {
      prev = 0;
    }
    i += 4;
  }
  while (i < slen) {
    const ch = old[oo + i] !== neu[no + i] ? 1 : 0;
    cost += ch * (3 - 2 * prev);
    prev = ch;
    i++;
  }
  return cost;
}

/** Copies `n` bytes `src[s..)` to `dst[t..)`. */
function copyRun(src: Uint8Array, s: number, dst: Uint8Array, t: number, n: number): void {
  if (n >= BULK_COPY_MIN) {
    dst.set(src.subarray(s, s + n), t);
    return;
  }
  for (let k = 0; k < n; k++) {
    dst[t + k] = src[s + k];
  }
}

/** Writes a small ULEB128 length (caller guarantees room and range). */
function putLen(out: Uint8Array, p: number, n: number): number {
  if (n < 0x80) {
    out[p] = n;
    return 1;
  }
  out[p] = (n & 0x7f) | 0x80;
  out[p + 1] = n >>> 7;
  return 2;
}

/**
 * Word-at-a-time encoder for pages with equal alignment mod 4 (little-endian hosts). A run
 * state machine over 4-byte XOR words: a zero word extends a zero run, a word without a zero
 * byte (QEMU's `(x - 0x01..01) & ~x & 0x80..80` test) extends a changed run, any other word is
 * walked byte by byte. The checks happen at the same run boundaries, with the same `d`, as in
 * QEMU's loop, so results are identical.
 */
function encodeWords(
  old: Uint8Array,
  oo: number,
  neu: Uint8Array,
  no: number,
  slen: number,
  out: Uint8Array,
  outOff: number,
  dlen: number,
  oldAbs: number,
  newAbs: number,
): number {
  const o32 = wordViewOf(old.buffer, (oldAbs + slen) >>> 2);
  const n32 = wordViewOf(neu.buffer, (newAbs + slen) >>> 2);
  // QEMU's loop-top check before the first zero run.
  if (dlen < 2) {
    return -1;
  }
  let d = 0;
  let i = 0;
  let inZero = true;
  let runStart = 0;
  const lastPair = slen - 8;
  let probed = false;
  while (i < slen) {
    // Dense change (the output outgrows the input): once, see whether the rest can still fit.
    if (!probed && i >= PROBE_AFTER && d > i) {
      probed = true;
      const pending = inZero ? 0 : i - runStart + 1;
      if (
        d + pending + minRestCost(o32, n32, old, oo, neu, no, i, slen, oldAbs, newAbs, !inZero) >
        dlen
      ) {
        return -1;
      }
    }
    const aligned = ((oldAbs + i) & 3) === 0;
    if (inZero && aligned) {
      let wo = (oldAbs + i) >> 2;
      let wn = (newAbs + i) >> 2;
      while (i <= lastPair && o32[wo] === n32[wn] && o32[wo + 1] === n32[wn + 1]) {
        i += 8;
        wo += 2;
        wn += 2;
      }
      if (i >= slen) {
        break;
      }
    }
    let x: number;
    let cnt: number;
    if (aligned && i + 4 <= slen) {
      x = o32[(oldAbs + i) >> 2] ^ n32[(newAbs + i) >> 2];
      cnt = 4;
      if (x === 0) {
        if (inZero) {
          i += 4;
          continue;
        }
      } else if (!inZero && ((x - 0x01010101) & ~x & 0x80808080) === 0) {
        i += 4;
        continue;
      }
    } else {
      x = old[oo + i] ^ neu[no + i];
      cnt = 1;
    }
    for (let k = 0; k < cnt; k++) {
      const equal = (x & 0xff) === 0;
      x >>>= 8;
      if (inZero) {
        if (!equal) {
          const zrun = i + k - runStart;
          if (zrun > MAX_RUN) {
            return -1;
          }
          if (zrun < 0x80) {
            out[outOff + d] = zrun;
            d++;
          } else {
            d += putLen(out, outOff + d, zrun);
          }
          if (d + 2 > dlen) {
            return -1;
          }
          inZero = false;
          runStart = i + k;
        }
      } else if (equal) {
        const nzrun = i + k - runStart;
        if (nzrun > MAX_RUN) {
          return -1;
        }
        if (nzrun < 0x80) {
          out[outOff + d] = nzrun;
          d++;
        } else {
          d += putLen(out, outOff + d, nzrun);
        }
        if (d + nzrun > dlen) {
          return -1;
        }
        if (nzrun === 1) {
          out[outOff + d] = neu[no + runStart];
        } else {
          copyRun(neu, no + runStart, out, outOff + d, nzrun);
        }
        d += nzrun;
        // QEMU's loop-top check before the next zero run.
        if (d + 2 > dlen) {
          return -1;
        }
        inZero = true;
        runStart = i + k;
      }
    }
    i += cnt;
  }
  if (inZero) {
    // Whole page equal -> 0; otherwise the trailing zero run is omitted.
    return runStart === 0 ? 0 : d;
  }
  const nzrun = slen - runStart;
  if (nzrun > MAX_RUN) {
    return -1;
  }
  d += putLen(out, outOff + d, nzrun);
  if (d + nzrun > dlen) {
    return -1;
  }
  copyRun(neu, no + runStart, out, outOff + d, nzrun);
  return d + nzrun;
}

function encodeBytes(
  old: Uint8Array,
  oo: number,
  neu: Uint8Array,
  no: number,
  slen: number,
  out: Uint8Array,
  outOff: number,
  dlen: number,
): number {
  let d = 0;
  let i = 0;
  while (i < slen) {
    if (d + 2 > dlen) {
      return -1;
    }
    const zStart = i;
    while (i < slen && old[oo + i] === neu[no + i]) {
      i++;
    }
    const zrun = i - zStart;
    if (zrun === slen) {
      return 0;
    }
    if (i === slen) {
      return d;
    }
    if (zrun > MAX_RUN) {
      return -1;
    }
    d += putLen(out, outOff + d, zrun);
    if (d + 2 > dlen) {
      return -1;
    }
    const nzStart = i;
    while (i < slen && old[oo + i] !== neu[no + i]) {
      i++;
    }
    const nzrun = i - nzStart;
    if (nzrun > MAX_RUN) {
      return -1;
    }
    d += putLen(out, outOff + d, nzrun);
    if (d + nzrun > dlen) {
      return -1;
    }
    copyRun(neu, no + nzStart, out, outOff + d, nzrun);
    d += nzrun;
  }
  return d;
}
