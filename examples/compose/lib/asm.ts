/**
 * A few RV32I instruction encoders, enough to hand-assemble the tiny guests of the examples.
 * Registers are numbers (x0..x31); immediates are checked against their field widths.
 */

/** ABI register numbers used by the examples. */
export const Reg = { zero: 0, t0: 5, t1: 6, t2: 7, s0: 8, s1: 9, s2: 18 } as const;

function imm(value: number, bits: number, what: string): number {
  const min = -(2 ** (bits - 1));
  const max = 2 ** (bits - 1) - 1;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what}: expected an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** `lui rd, imm20` (the upper 20 bits). */
export const lui = (rd: number, imm20: number): number =>
  ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37;
/** `addi rd, rs1, imm12`. */
export const addi = (rd: number, rs1: number, i: number): number =>
  ((imm(i, 12, "addi") & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
/** `lw rd, off(rs1)`. */
export const lw = (rd: number, off: number, rs1: number): number =>
  ((imm(off, 12, "lw") & 0xfff) << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x03;
/** `sw rs2, off(rs1)`. */
export const sw = (rs2: number, off: number, rs1: number): number => {
  const i = imm(off, 12, "sw") & 0xfff;
  return ((i >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | ((i & 31) << 7) | 0x23;
};
/** `bne rs1, rs2, off` (off in bytes from this instruction, even). */
export const bne = (rs1: number, rs2: number, off: number): number => {
  const i = imm(off, 13, "bne") & 0x1fff;
  return (
    (((i >> 12) & 1) << 31) |
    (((i >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (1 << 12) |
    (((i >> 1) & 0xf) << 8) |
    (((i >> 11) & 1) << 7) |
    0x63
  );
};
/** `jal x0, 0`: spin in place. */
export const spinForever = (): number => 0x0000006f;

/** Load a 32-bit constant into `rd` (`lui` + `addi`, compensating the sign of the low part). */
export function li(rd: number, value: number): number[] {
  const lo = ((value & 0xfff) << 20) >> 20;
  const hi = ((value - lo) >>> 12) & 0xfffff;
  return [lui(rd, hi), addi(rd, rd, lo)];
}

/** Little-endian bytes of a program. */
export function toBytes(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i] >>> 0, true);
  return out;
}
