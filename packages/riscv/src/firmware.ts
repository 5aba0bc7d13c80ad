/**
 * The interface between a hart and M-mode firmware that ferry emulates in TypeScript (the SBI of
 * `sbi.ts`): the hart hands it ECALLs from S-mode and lets it set up a hart at reset.
 */
import type { RiscvHart } from "./hart";

/** Emulated M-mode firmware attached to harts (`RiscvHart.firmware`). */
export interface Firmware {
  /** Handle an ECALL from S-mode (pc already advanced); `nowNs` is the hart's virtual time. */
  ecall(hart: RiscvHart, nowNs: number): void;
  /** Set up `hart` after a reset to `entry` (privilege, delegation, boot registers). */
  resetHart(hart: RiscvHart, entry: number): void;
}
