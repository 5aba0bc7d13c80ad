/**
 * Trap and interrupt delivery on a hart's {@link CsrFile}: exception entry into M-mode, interrupt
 * selection and entry (direct or vectored `mtvec`), and MRET. Each function returns the new pc.
 */
import type { CsrFile } from "./csr-file";
import { MCAUSE_INTERRUPT, MIP_MEIP, MIP_MSIP, Priv } from "./csr";

/** mstatus.MPIE ← MIE, MIE ← 0, MPP ← privilege, privilege ← M. */
function enterM(c: CsrFile): void {
  c.mstatusMpie = c.mstatusMie;
  c.mstatusMie = 0;
  c.mstatusMpp = c.priv;
  c.priv = Priv.Machine;
}

/** Enter M-mode for a synchronous exception at `pc`. Returns the handler address. */
export function trap(c: CsrFile, cause: number, tval: number, pc: number): number {
  c.unretire(); // a trapping instruction does not retire: minstret skips it
  c.mepc = pc;
  c.mcause = cause;
  c.mtval = tval | 0;
  enterM(c);
  return c.mtvec & ~3;
}

/** Cause number of the interrupt to take now, or -1. Priority MEI > MSI > MTI. */
export function pendingInterrupt(c: CsrFile): number {
  const p = c.mip & c.mie;
  if (p === 0) return -1;
  if (c.priv === Priv.Machine && c.mstatusMie === 0) return -1;
  if ((p & MIP_MEIP) !== 0) return 11;
  if ((p & MIP_MSIP) !== 0) return 3;
  return 7;
}

/** Enter M-mode for interrupt `cause` with `pc` as mepc. Returns the handler address. */
export function takeInterrupt(c: CsrFile, cause: number, pc: number): number {
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

/** MRET (caller checks M-mode): privilege ← MPP, MIE ← MPIE, MPIE ← 1, MPP ← U. Returns mepc. */
export function mret(c: CsrFile): number {
  c.priv = c.mstatusMpp;
  c.mstatusMie = c.mstatusMpie;
  c.mstatusMpie = 1;
  c.mstatusMpp = Priv.User;
  return c.mepc;
}
