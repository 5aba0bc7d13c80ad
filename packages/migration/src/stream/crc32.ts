/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320, the CRC of zlib, gzip and PNG) for the
 * stream integrity layer. The bytes are hashed by Node's own `zlib.crc32` (native, Node ≥ 20.15);
 * on an older Node a table-driven JavaScript fallback gives the same values. `crc32Shift` and
 * `crc32Combine` (zlib's `crc32_combine` algorithm: multiplication by x^(8n) modulo the
 * polynomial) join the CRCs of consecutive pieces into the CRC of their concatenation without
 * reading the bytes again, which is how the whole-stream digest costs nothing per byte.
 */
import * as zlib from "node:zlib";

const POLY = 0xedb88320;

/** Byte-wise table of the fallback. */
const TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 of `data` continuing from `initial` (the CRC of the bytes before), in JavaScript. */
export function crc32Js(data: Uint8Array, initial = 0): number {
  let c = ~initial;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

type NativeCrc = (data: Uint8Array, value?: number) => number;
const native = (zlib as unknown as { crc32?: NativeCrc }).crc32;

/** True when the native `zlib.crc32` is used (Node ≥ 20.15). */
export const CRC32_NATIVE: boolean = typeof native === "function";

/**
 * Pieces shorter than this are hashed in JavaScript even with the native CRC: the call into
 * Node costs more than the table loop (measured here: 8 bytes 104 ns native, 39 ns JavaScript;
 * 64 bytes 237 / 188 ns; 128 bytes 251 / 369 ns). The socket sink's gathered writes digest an
 * 8-byte record header per page.
 */
const NATIVE_FROM_BYTES = 64;

/**
 * The CRC-32 of `data` continuing from `initial` (0 for a fresh CRC): `crc32(b, crc32(a))` is
 * the CRC of `a` followed by `b`.
 */
export const crc32: (data: Uint8Array, initial?: number) => number =
  native !== undefined
    ? (data, initial = 0) =>
        data.length < NATIVE_FROM_BYTES ? crc32Js(data, initial) : native(data, initial)
    : crc32Js;

/** a(x) · b(x) modulo the polynomial, both in the reflected representation. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N = ((): Uint32Array => {
  const t = new Uint32Array(32);
  let p = 0x40000000; // x^1
  t[0] = p;
  for (let k = 1; k < 32; k++) {
    p = multModP(p, p);
    t[k] = p;
  }
  return t;
})();

/** x^(8 · n) modulo the polynomial, for a byte count `n` (a safe integer ≥ 0). */
export function crc32ShiftFactor(n: number): number {
  let p = 0x80000000; // x^0
  let k = 3;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** `crc` moved past `n` more bytes: `crc32Shift(crc32(a), b.length) ^ crc32(b)` = `crc32(a ‖ b)`. */
export function crc32Shift(crc: number, factor: number): number {
  return multModP(factor, crc >>> 0);
}

/** The CRC-32 of `a ‖ b` from `crcA`, `crcB` and the length of `b` (zlib's `crc32_combine`). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (crc32Shift(crcA, crc32ShiftFactor(lengthB)) ^ crcB) >>> 0;
}
