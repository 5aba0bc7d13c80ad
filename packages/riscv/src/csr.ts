/** CSR numbers, bit masks and trap causes of the RV32 machine/supervisor/user privilege model ferry implements. */

/** CSR addresses. */
export const Csr = {
  sstatus: 0x100,
  sie: 0x104,
  stvec: 0x105,
  scounteren: 0x106,
  senvcfg: 0x10a,
  sscratch: 0x140,
  sepc: 0x141,
  scause: 0x142,
  stval: 0x143,
  sip: 0x144,
  satp: 0x180,
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  menvcfg: 0x30a,
  menvcfgh: 0x31a,
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

/** `misa` value: MXL=1 (RV32), extensions A, I, M, S-mode and U-mode. */
export const MISA_VALUE = (1 << 30) | (1 << 0) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);

/** mstatus.SIE bit. */
export const MSTATUS_SIE = 1 << 1;
/** mstatus.SPIE bit. */
export const MSTATUS_SPIE = 1 << 5;
/** mstatus.SPP bit. */
export const MSTATUS_SPP = 1 << 8;
/** mstatus.MPRV bit. */
export const MSTATUS_MPRV = 1 << 17;
/** mstatus.SUM bit. */
export const MSTATUS_SUM = 1 << 18;
/** mstatus.MXR bit. */
export const MSTATUS_MXR = 1 << 19;
/** mstatus.TVM bit. */
export const MSTATUS_TVM = 1 << 20;
/** mstatus.TW bit. */
export const MSTATUS_TW = 1 << 21;
/** mstatus.TSR bit. */
export const MSTATUS_TSR = 1 << 22;
/** The mstatus bits kept as one word in `CsrFile.mstatusExtra` (MPRV, SUM, MXR, TVM, TW, TSR). */
export const MSTATUS_EXTRA_MASK =
  MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
/** The mstatus bits visible in sstatus. */
export const SSTATUS_MASK = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR;
/** mstatus.MIE bit. */
export const MSTATUS_MIE = 1 << 3;
/** mstatus.MPIE bit. */
export const MSTATUS_MPIE = 1 << 7;
/** mstatus.MPP field shift (2 bits). */
export const MSTATUS_MPP_SHIFT = 11;

/** mip/mie bit of the supervisor software interrupt. */
export const MIP_SSIP = 1 << 1;
/** mip/mie bit of the supervisor timer interrupt. */
export const MIP_STIP = 1 << 5;
/** mip/mie bit of the supervisor external interrupt. */
export const MIP_SEIP = 1 << 9;
/** The supervisor-level interrupt bits (the only ones `mideleg` can delegate). */
export const S_INTERRUPTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
/** mip/mie bit of the machine software interrupt. */
export const MIP_MSIP = 1 << 3;
/** mip/mie bit of the machine timer interrupt. */
export const MIP_MTIP = 1 << 7;
/** mip/mie bit of the machine external interrupt. */
export const MIP_MEIP = 1 << 11;
/** Writable bits of `mie`. */
export const MIE_MASK = MIP_MSIP | MIP_MTIP | MIP_MEIP | S_INTERRUPTS;
/** Exceptions `medeleg` can delegate (every cause but ECALL from M-mode). */
export const MEDELEG_MASK = 0xb3ff;

/** Privilege levels implemented. */
export const Priv = { User: 0, Supervisor: 1, Machine: 3 } as const;
/** A privilege level: 0 (U), 1 (S) or 3 (M). */
export type PrivLevel = 0 | 1 | 3;

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
  EcallFromS: 9,
  EcallFromM: 11,
  InstructionPageFault: 12,
  LoadPageFault: 13,
  StorePageFault: 15,
} as const;

/** The interrupt bit of `mcause` (as a signed 32-bit value). */
export const MCAUSE_INTERRUPT = 0x80000000 | 0;
