/** High halves of 32x32 -> 64-bit products without BigInt (RV32M MULH, MULHU, MULHSU). */

/** Upper 32 bits of the unsigned product `a * b` (as a signed int32 bit pattern). */
export function mulhu(a: number, b: number): number {
  a >>>= 0;
  b >>>= 0;
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) | 0;
}

/** Upper 32 bits of the signed product `a * b`. */
export function mulh(a: number, b: number): number {
  return (mulhu(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
}

/** Upper 32 bits of `a` (signed) times `b` (unsigned). */
export function mulhsu(a: number, b: number): number {
  return (mulhu(a, b) - (a < 0 ? b | 0 : 0)) | 0;
}
