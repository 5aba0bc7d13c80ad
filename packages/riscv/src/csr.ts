/** CSR numbers, bit masks and trap causes of the RV32 machine/user privilege model ferry implements. */

/** CSR addresses. */
export const Csr = {
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  mstatush: 0x310,
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  mcycle: 0xb00,
  minstret: 0xb02,
  mcycleh: 0xb80,
  minstreth: 0xb82,
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
  cycleh: 0xc80,
  timeh: 0xc81,
  instreth: 0xc82,
  mvendorid: 0xf11,
  marchid: 0xf12,
  mimpid: 0xf13,
  mhartid: 0xf14,
  mconfigptr: 0xf15,
} as const;

/** `misa` value: MXL=1 (RV32), extensions A, I, M and U-mode. */
export const MISA_VALUE = (1 << 30) | (1 << 0) | (1 << 8) | (1 << 12) | (1 << 20);

/** mstatus.MIE bit. */
export const MSTATUS_MIE = 1 << 3;
/** mstatus.MPIE bit. */
export const MSTATUS_MPIE = 1 << 7;
/** mstatus.MPP field shift (2 bits). */
export const MSTATUS_MPP_SHIFT = 11;

/** mip/mie bit of the machine software interrupt. */
export const MIP_MSIP = 1 << 3;
/** mip/mie bit of the machine timer interrupt. */
export const MIP_MTIP = 1 << 7;
/** mip/mie bit of the machine external interrupt. */
export const MIP_MEIP = 1 << 11;
/** Writable bits of `mie`. */
export const MIE_MASK = MIP_MSIP | MIP_MTIP | MIP_MEIP;

/** Privilege levels implemented. */
export const Priv = { User: 0, Machine: 3 } as const;

/** Synchronous exception causes (mcause values with the interrupt bit clear). */
export const Cause = {
  InstructionMisaligned: 0,
  InstructionAccessFault: 1,
  IllegalInstruction: 2,
  Breakpoint: 3,
  LoadMisaligned: 4,
  LoadAccessFault: 5,
  StoreMisaligned: 6,
  StoreAccessFault: 7,
  EcallFromU: 8,
  EcallFromM: 11,
} as const;

/** The interrupt bit of `mcause` (as a signed 32-bit value). */
export const MCAUSE_INTERRUPT = 0x80000000 | 0;
