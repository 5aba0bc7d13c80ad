/**
 * Straightforward byte-at-a-time XBZRLE encoder and decoder written from QEMU's described
 * algorithm (migration/xbzrle.c, util/cutils.c), used by the tests as an oracle.
 */

function refLeb(out: number[], n: number): void {
  if (n > 0x3fff) {
    throw new Error(`reference: length ${n} not encodable`);
  }
  if (n < 0x80) {
    out.push(n);
  } else {
    out.push((n & 0x7f) | 0x80, n >> 7);
  }
}

/**
 * Reference encoder: `{ result, bytes }` where result is 0, -1 or the length and `bytes` the
 * encoded bytes (meaningful when result > 0).
 */
export function refEncode(
  oldPage: Uint8Array,
  newPage: Uint8Array,
  dlen: number,
): { result: number; bytes: number[] } {
  const slen = oldPage.length;
  const dst: number[] = [];
  let i = 0;
  while (i < slen) {
    if (dst.length + 2 > dlen) {
      return { result: -1, bytes: [] };
    }
    let zrun = 0;
    while (i < slen && oldPage[i] === newPage[i]) {
      zrun++;
      i++;
    }
    if (zrun === slen) {
      return { result: 0, bytes: [] };
    }
    if (i === slen) {
      return { result: dst.length, bytes: dst };
    }
    if (zrun > 0x3fff) {
      return { result: -1, bytes: [] };
    }
    refLeb(dst, zrun);
    if (dst.length + 2 > dlen) {
      return { result: -1, bytes: [] };
    }
    const start = i;
    while (i < slen && oldPage[i] !== newPage[i]) {
      i++;
    }
    const nz = i - start;
    if (nz > 0x3fff) {
      return { result: -1, bytes: [] };
    }
    refLeb(dst, nz);
    if (dst.length + nz > dlen) {
      return { result: -1, bytes: [] };
    }
    for (let k = start; k < i; k++) {
      dst.push(newPage[k]);
    }
  }
  return { result: dst.length, bytes: dst };
}

function refUnleb(src: Uint8Array, i: number): [number, number] {
  if (!(src[i] & 0x80)) {
    return [src[i], 1];
  }
  if (src[i + 1] & 0x80) {
    return [0, -1];
  }
  return [(src[i] & 0x7f) | (src[i + 1] << 7), 2];
}

/** Reference decoder: applies `src` to `dst` in place; returns d or -1 (QEMU's return values). */
export function refDecode(src: Uint8Array, dst: Uint8Array): number {
  const slen = src.length;
  const dlen = dst.length;
  let i = 0;
  let d = 0;
  while (i < slen) {
    if (slen - i < 2) {
      return -1;
    }
    let [count, ret] = refUnleb(src, i);
    if (ret < 0 || (i !== 0 && count === 0)) {
      return -1;
    }
    i += ret;
    d += count;
    if (d > dlen) {
      return -1;
    }
    if (slen - i < 2) {
      return -1;
    }
    [count, ret] = refUnleb(src, i);
    if (ret < 0 || count === 0) {
      return -1;
    }
    i += ret;
    if (d + count > dlen || i + count > slen) {
      return -1;
    }
    for (let k = 0; k < count; k++) {
      dst[d + k] = src[i + k];
    }
    d += count;
    i += count;
  }
  return d;
}
