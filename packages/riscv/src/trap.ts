/**
 * Trap and interrupt delivery on a hart's {@link CsrFile}: exception entry into M-mode or, when
 * delegated by `medeleg`/`mideleg`, into S-mode; interrupt selection by privilege, enable and
 * priority; entry through direct or vectored `mtvec`/`stvec`; MRET and SRET. Each function
 * returns the new pc.
 */
import type { CsrFile } from "./csr-file";
import {
  MCAUSE_INTERRUPT,
  MIP_MEIP,
  MIP_MSIP,
  MIP_MTIP,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MSTATUS_MPRV,
  Priv,
} from "./csr";

/** mstatus.MPIE ← MIE, MIE ← 0, MPP ← privilege, privilege ← M. */
function enterM(c: CsrFile): void {
  c.mstatusMpie = c.mstatusMie;
  c.mstatusMie = 0;
  c.mstatusMpp = c.priv;
  c.priv = Priv.Machine;
  c.updateVm();
}

/** mstatus.SPIE ← SIE, SIE ← 0, SPP ← privilege, privilege ← S. */
function enterS(c: CsrFile): void {
  c.mstatusSpie = c.mstatusSie;
  c.mstatusSie = 0;
  c.mstatusSpp = c.priv === Priv.User ? 0 : 1;
  c.priv = Priv.Supervisor;
  c.updateVm();
}

/**
 * Take a synchronous exception at `pc`: into S-mode when the hart is below M and `medeleg`
 * delegates `cause`, else into M-mode. Returns the handler address.
 */
export function trap(c: CsrFile, cause: number, tval: number, pc: number): number {
  c.unretire(); // a trapping instruction does not retire: minstret skips it (M and S paths)
  if (c.priv !== Priv.Machine && ((c.medeleg >>> cause) & 1) !== 0) {
    c.sepc = pc;
    c.scause = cause;
    c.stval = tval | 0;
    enterS(c);
    return c.stvec & ~3;
  }
  c.mepc = pc;
  c.mcause = cause;
  c.mtval = tval | 0;
  enterM(c);
  return c.mtvec & ~3;
}

/** The highest-priority interrupt among `p`: MEI > MSI > MTI > SEI > SSI > STI, or -1. */
function highest(p: number): number {
  if (p === 0) return -1;
  if ((p & MIP_MEIP) !== 0) return 11;
  if ((p & MIP_MSIP) !== 0) return 3;
  if ((p & MIP_MTIP) !== 0) return 7;
  if ((p & MIP_SEIP) !== 0) return 9;
  if ((p & MIP_SSIP) !== 0) return 1;
  if ((p & MIP_STIP) !== 0) return 5;
  return -1;
}

/** Cause number of the interrupt to take now, or -1. */
export function pendingInterrupt(c: CsrFile): number {
  const p = c.mip & c.mie;
  if (p === 0) return -1;
  const priv = c.priv;
  // Interrupts for M-mode: taken below M always, in M when mstatus.MIE.
  const m = p & ~c.mideleg;
  if (m !== 0 && (priv !== Priv.Machine || c.mstatusMie !== 0)) return highest(m);
  // Interrupts delegated to S-mode: never in M, below S always, in S when sstatus.SIE.
  const s = p & c.mideleg;
  if (s !== 0 && (priv === Priv.User || (priv === Priv.Supervisor && c.mstatusSie !== 0))) {
    return highest(s);
  }
  return -1;
}

/** Enter M-mode or (delegated) S-mode for interrupt `cause` with `pc` as the return address. */
export function takeInterrupt(c: CsrFile, cause: number, pc: number): number {
  if (((c.mideleg >>> cause) & 1) !== 0 && c.priv !== Priv.Machine) {
    c.sepc = pc;
    c.scause = MCAUSE_INTERRUPT | cause;
    c.stval = 0;
    enterS(c);
    const base = c.stvec & ~3;
    return (c.stvec & 3) === 1 ? (base + 4 * cause) | 0 : base;
  }
  c.mepc = pc;
  c.mcause = MCAUSE_INTERRUPT | cause;
  c.mtval = 0;
  enterM(c);
  const base = c.mtvec & ~3;
  return (c.mtvec & 3) === 1 ? (base + 4 * cause) | 0 : base;
}

/** Take the pending-and-enabled interrupt, if any, before the instruction at `pc`. Returns the pc to run. */
export function interruptAt(c: CsrFile, pc: number): number {
  const i = pendingInterrupt(c);
  return i >= 0 ? takeInterrupt(c, i, pc) : pc;
}

/**
 * MRET (caller checks M-mode): privilege ← MPP, MIE ← MPIE, MPIE ← 1, MPP ← U, and MPRV ← 0
 * when leaving M. Returns mepc.
 */
export function mret(c: CsrFile): number {
  c.priv = c.mstatusMpp;
  c.mstatusMie = c.mstatusMpie;
  c.mstatusMpie = 1;
  c.mstatusMpp = Priv.User;
  if (c.priv !== Priv.Machine) c.mstatusExtra &= ~MSTATUS_MPRV;
  c.updateVm();
  return c.mepc;
}

/**
 * SRET (caller checks S-mode or higher and TSR): privilege ← SPP, SIE ← SPIE, SPIE ← 1, SPP ← U,
 * MPRV ← 0. Returns sepc.
 */
export function sret(c: CsrFile): number {
  c.priv = c.mstatusSpp;
  c.mstatusSie = c.mstatusSpie;
  c.mstatusSpie = 1;
  c.mstatusSpp = 0;
  c.mstatusExtra &= ~MSTATUS_MPRV;
  c.updateVm();
  return c.sepc;
}
