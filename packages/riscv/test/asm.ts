/** A tiny RV32 encoder for tests: each function returns one instruction word. */

const r = (f7: number, rs2: number, rs1: number, f3: number, rd: number, op: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const i = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const s = (imm: number, rs2: number, rs1: number, f3: number, op: number): number =>
  ((((imm >> 5) & 0x7f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    ((imm & 31) << 7) |
    op) >>>
  0;
const b = (imm: number, rs2: number, rs1: number, f3: number): number =>
  ((((imm >> 12) & 1) << 31) |
    (((imm >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((imm >> 1) & 0xf) << 8) |
    (((imm >> 11) & 1) << 7) |
    0x63) >>>
  0;

/** Instruction encoders (register numbers as ints, immediates as signed ints). */
export const A = {
  lui: (rd: number, imm20: number) => (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37) >>> 0,
  auipc: (rd: number, imm20: number) => (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x17) >>> 0,
  jal: (rd: number, imm: number) =>
    ((((imm >> 20) & 1) << 31) |
      (((imm >> 1) & 0x3ff) << 21) |
      (((imm >> 11) & 1) << 20) |
      (((imm >> 12) & 0xff) << 12) |
      (rd << 7) |
      0x6f) >>>
    0,
  jalr: (rd: number, rs1: number, imm: number) => i(imm, rs1, 0, rd, 0x67),
  beq: (rs1: number, rs2: number, imm: number) => b(imm, rs2, rs1, 0),
  bne: (rs1: number, rs2: number, imm: number) => b(imm, rs2, rs1, 1),
  blt: (rs1: number, rs2: number, imm: number) => b(imm, rs2, rs1, 4),
  bge: (rs1: number, rs2: number, imm: number) => b(imm, rs2, rs1, 5),
  bltu: (rs1: number, rs2: number, imm: number) => b(imm, rs2, rs1, 6),
  bgeu: (rs1: number, rs2: number, imm: number) => b(imm, rs2, rs1, 7),
  lb: (rd: number, rs1: number, imm: number) => i(imm, rs1, 0, rd, 0x03),
  lh: (rd: number, rs1: number, imm: number) => i(imm, rs1, 1, rd, 0x03),
  lw: (rd: number, rs1: number, imm: number) => i(imm, rs1, 2, rd, 0x03),
  lbu: (rd: number, rs1: number, imm: number) => i(imm, rs1, 4, rd, 0x03),
  lhu: (rd: number, rs1: number, imm: number) => i(imm, rs1, 5, rd, 0x03),
  sb: (rs2: number, rs1: number, imm: number) => s(imm, rs2, rs1, 0, 0x23),
  sh: (rs2: number, rs1: number, imm: number) => s(imm, rs2, rs1, 1, 0x23),
  sw: (rs2: number, rs1: number, imm: number) => s(imm, rs2, rs1, 2, 0x23),
  addi: (rd: number, rs1: number, imm: number) => i(imm, rs1, 0, rd, 0x13),
  slti: (rd: number, rs1: number, imm: number) => i(imm, rs1, 2, rd, 0x13),
  sltiu: (rd: number, rs1: number, imm: number) => i(imm, rs1, 3, rd, 0x13),
  xori: (rd: number, rs1: number, imm: number) => i(imm, rs1, 4, rd, 0x13),
  ori: (rd: number, rs1: number, imm: number) => i(imm, rs1, 6, rd, 0x13),
  andi: (rd: number, rs1: number, imm: number) => i(imm, rs1, 7, rd, 0x13),
  slli: (rd: number, rs1: number, sh: number) => r(0, sh, rs1, 1, rd, 0x13),
  srli: (rd: number, rs1: number, sh: number) => r(0, sh, rs1, 5, rd, 0x13),
  srai: (rd: number, rs1: number, sh: number) => r(0x20, sh, rs1, 5, rd, 0x13),
  add: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 0, rd, 0x33),
  sub: (rd: number, rs1: number, rs2: number) => r(0x20, rs2, rs1, 0, rd, 0x33),
  sll: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 1, rd, 0x33),
  slt: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 2, rd, 0x33),
  sltu: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 3, rd, 0x33),
  xor: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 4, rd, 0x33),
  srl: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 5, rd, 0x33),
  sra: (rd: number, rs1: number, rs2: number) => r(0x20, rs2, rs1, 5, rd, 0x33),
  or: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 6, rd, 0x33),
  and: (rd: number, rs1: number, rs2: number) => r(0, rs2, rs1, 7, rd, 0x33),
  mul: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 0, rd, 0x33),
  mulh: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 1, rd, 0x33),
  mulhsu: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 2, rd, 0x33),
  mulhu: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 3, rd, 0x33),
  div: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 4, rd, 0x33),
  divu: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 5, rd, 0x33),
  rem: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 6, rd, 0x33),
  remu: (rd: number, rs1: number, rs2: number) => r(1, rs2, rs1, 7, rd, 0x33),
  csrrw: (rd: number, csr: number, rs1: number) => i(csr, rs1, 1, rd, 0x73),
  csrrs: (rd: number, csr: number, rs1: number) => i(csr, rs1, 2, rd, 0x73),
  csrrc: (rd: number, csr: number, rs1: number) => i(csr, rs1, 3, rd, 0x73),
  csrrwi: (rd: number, csr: number, uimm: number) => i(csr, uimm, 5, rd, 0x73),
  csrrsi: (rd: number, csr: number, uimm: number) => i(csr, uimm, 6, rd, 0x73),
  csrrci: (rd: number, csr: number, uimm: number) => i(csr, uimm, 7, rd, 0x73),
  lr: (rd: number, rs1: number) => r(0b00010 << 2, 0, rs1, 2, rd, 0x2f),
  sc: (rd: number, rs1: number, rs2: number) => r(0b00011 << 2, rs2, rs1, 2, rd, 0x2f),
  amo: (funct5: number, rd: number, rs1: number, rs2: number) =>
    r(funct5 << 2, rs2, rs1, 2, rd, 0x2f),
  ecall: () => 0x00000073,
  ebreak: () => 0x00100073,
  mret: () => 0x30200073,
  wfi: () => 0x10500073,
  fence: () => 0x0ff0000f,
  nop: () => 0x00000013,
};

/** AMO funct5 values. */
export const AMO = {
  swap: 0b00001,
  add: 0b00000,
  xor: 0b00100,
  and: 0b01100,
  or: 0b01000,
  min: 0b10000,
  max: 0b10100,
  minu: 0b11000,
  maxu: 0b11100,
};

/** Instruction words as little-endian bytes, ready for `AddressSpace.writeBytes`. */
export function programBytes(words: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(words.length * 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < words.length; i++) dv.setUint32(i * 4, words[i] >>> 0, true);
  return bytes;
}
