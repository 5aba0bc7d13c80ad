/**
 * RV32IMA + Zicsr decoder. Decodes one 32-bit instruction word into a small
 * record stored in an `Int32Array` slot of {@link DECODED_STRIDE} ints:
 * `[raw, op, regs, imm]` where `regs = rd | rs1 << 8 | rs2 << 16`.
 *
 * `rd = 0` is decoded as register index 32 (a scratch register the interpreter
 * never reads), so instructions can write `x[rd]` without testing for x0.
 */

/** Operation ids (small ints, the interpreter switches on them). 0 is "illegal instruction". */
export const Op = {
  ILLEGAL: 0,
  LUI: 1,
  AUIPC: 2,
  JAL: 3,
  JALR: 4,
  BEQ: 5,
  BNE: 6,
  BLT: 7,
  BGE: 8,
  BLTU: 9,
  BGEU: 10,
  LB: 11,
  LH: 12,
  LW: 13,
  LBU: 14,
  LHU: 15,
  SB: 16,
  SH: 17,
  SW: 18,
  ADDI: 19,
  SLTI: 20,
  SLTIU: 21,
  XORI: 22,
  ORI: 23,
  ANDI: 24,
  SLLI: 25,
  SRLI: 26,
  SRAI: 27,
  ADD: 28,
  SUB: 29,
  SLL: 30,
  SLT: 31,
  SLTU: 32,
  XOR: 33,
  SRL: 34,
  SRA: 35,
  OR: 36,
  AND: 37,
  FENCE: 38,
  ECALL: 39,
  EBREAK: 40,
  MRET: 41,
  WFI: 42,
  CSRRW: 43,
  CSRRS: 44,
  CSRRC: 45,
  CSRRWI: 46,
  CSRRSI: 47,
  CSRRCI: 48,
  MUL: 49,
  MULH: 50,
  MULHSU: 51,
  MULHU: 52,
  DIV: 53,
  DIVU: 54,
  REM: 55,
  REMU: 56,
  LR: 57,
  SC: 58,
  AMOSWAP: 59,
  AMOADD: 60,
  AMOXOR: 61,
  AMOAND: 62,
  AMOOR: 63,
  AMOMIN: 64,
  AMOMAX: 65,
  AMOMINU: 66,
  AMOMAXU: 67,
  SRET: 68,
  SFENCE_VMA: 69,
} as const;

/** One of {@link Op}'s values. */
export type OpCode = (typeof Op)[keyof typeof Op];

/** Ints per decoded instruction slot. */
export const DECODED_STRIDE = 4;

/** Register index used for `rd = x0` (writes land there and are never read). */
export const ZERO_SINK = 32;

const R_OPS: Record<number, number> = {
  [0x000]: Op.ADD,
  [0x100]: Op.SUB,
  [0x001]: Op.SLL,
  [0x002]: Op.SLT,
  [0x003]: Op.SLTU,
  [0x004]: Op.XOR,
  [0x005]: Op.SRL,
  [0x105]: Op.SRA,
  [0x006]: Op.OR,
  [0x007]: Op.AND,
  [0x010]: Op.MUL,
  [0x011]: Op.MULH,
  [0x012]: Op.MULHSU,
  [0x013]: Op.MULHU,
  [0x014]: Op.DIV,
  [0x015]: Op.DIVU,
  [0x016]: Op.REM,
  [0x017]: Op.REMU,
};

/** funct7 (0, 0x20, 0x01) and funct3 -> R-type op, as a 512-entry table. */
const R_TABLE = (() => {
  const t = new Uint8Array(0x200);
  for (const [k, v] of Object.entries(R_OPS)) t[Number(k)] = v;
  return t;
})();

const AMO_BY_FUNCT5: readonly number[] = (() => {
  const t: number[] = new Array(32).fill(Op.ILLEGAL);
  t[0b00010] = Op.LR;
  t[0b00011] = Op.SC;
  t[0b00001] = Op.AMOSWAP;
  t[0b00000] = Op.AMOADD;
  t[0b00100] = Op.AMOXOR;
  t[0b01100] = Op.AMOAND;
  t[0b01000] = Op.AMOOR;
  t[0b10000] = Op.AMOMIN;
  t[0b10100] = Op.AMOMAX;
  t[0b11000] = Op.AMOMINU;
  t[0b11100] = Op.AMOMAXU;
  return t;
})();

const LOADS = [Op.LB, Op.LH, Op.LW, Op.ILLEGAL, Op.LBU, Op.LHU, Op.ILLEGAL, Op.ILLEGAL];
const STORES = [Op.SB, Op.SH, Op.SW];
const BRANCHES = [Op.BEQ, Op.BNE, Op.ILLEGAL, Op.ILLEGAL, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];
const OP_IMMS = [Op.ADDI, Op.SLLI, Op.SLTI, Op.SLTIU, Op.XORI, Op.SRLI, Op.ORI, Op.ANDI];
const CSR_OPS = [
  Op.ILLEGAL,
  Op.CSRRW,
  Op.CSRRS,
  Op.CSRRC,
  Op.ILLEGAL,
  Op.CSRRWI,
  Op.CSRRSI,
  Op.CSRRCI,
];

/**
 * Decode `word` into `out[at .. at + 3]` (`[raw, op, regs, imm]`).
 * Unknown or reserved encodings decode to {@link Op.ILLEGAL}.
 */
export function decodeInto(out: Int32Array, at: number, word: number): void {
  word |= 0;
  const opcode = word & 0x7f;
  const rdField = (word >>> 7) & 31;
  const rd = rdField === 0 ? ZERO_SINK : rdField;
  const f3 = (word >>> 12) & 7;
  const rs1 = (word >>> 15) & 31;
  const rs2 = (word >>> 20) & 31;
  const f7 = word >>> 25;
  let op: number = Op.ILLEGAL;
  let imm = 0;
  switch (opcode) {
    case 0x37: // LUI
      op = Op.LUI;
      imm = word & 0xfffff000;
      break;
    case 0x17: // AUIPC
      op = Op.AUIPC;
      imm = word & 0xfffff000;
      break;
    case 0x6f: // JAL
      op = Op.JAL;
      imm =
        ((word >> 31) << 20) |
        (((word >>> 12) & 0xff) << 12) |
        (((word >>> 20) & 1) << 11) |
        (((word >>> 21) & 0x3ff) << 1);
      break;
    case 0x67: // JALR
      if (f3 === 0) {
        op = Op.JALR;
        imm = word >> 20;
      }
      break;
    case 0x63: // BRANCH
      op = BRANCHES[f3];
      imm =
        ((word >> 31) << 12) |
        (((word >>> 7) & 1) << 11) |
        (((word >>> 25) & 0x3f) << 5) |
        (((word >>> 8) & 0xf) << 1);
      break;
    case 0x03: // LOAD
      op = LOADS[f3];
      imm = word >> 20;
      break;
    case 0x23: // STORE
      op = f3 < 3 ? STORES[f3] : Op.ILLEGAL;
      imm = ((word >> 25) << 5) | ((word >>> 7) & 31);
      break;
    case 0x13: // OP-IMM
      op = OP_IMMS[f3];
      imm = word >> 20;
      if (f3 === 1) {
        if (f7 !== 0) op = Op.ILLEGAL;
        imm = rs2;
      } else if (f3 === 5) {
        if (f7 === 0x20) op = Op.SRAI;
        else if (f7 !== 0) op = Op.ILLEGAL;
        imm = rs2;
      }
      break;
    case 0x33: // OP
      if (f7 === 0 || f7 === 0x20 || f7 === 1) {
        op = R_TABLE[(f7 === 0x20 ? 0x100 : 0) | (f7 === 1 ? 0x10 : 0) | f3];
      }
      break;
    case 0x0f: // MISC-MEM: FENCE, FENCE.I (both no-ops here)
      if (f3 === 0 || f3 === 1) op = Op.FENCE;
      break;
    case 0x73: // SYSTEM
      if (f3 === 0) {
        if (word === 0x00000073) op = Op.ECALL;
        else if (word === 0x00100073) op = Op.EBREAK;
        else if (word === 0x30200073) op = Op.MRET;
        else if (word === 0x10500073) op = Op.WFI;
        else if (word === 0x10200073) op = Op.SRET;
        else if ((word & 0xfe007fff) === 0x12000073) op = Op.SFENCE_VMA;
      } else {
        op = CSR_OPS[f3];
        imm = (word >>> 20) & 0xfff;
      }
      break;
    case 0x2f: // AMO
      if (f3 === 2) {
        op = AMO_BY_FUNCT5[word >>> 27];
        if (op === Op.LR && rs2 !== 0) op = Op.ILLEGAL;
      }
      break;
    default:
      break;
  }
  out[at] = word;
  out[at + 1] = op;
  out[at + 2] = rd | (rs1 << 8) | (rs2 << 16);
  out[at + 3] = imm;
}
