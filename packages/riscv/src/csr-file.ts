/**
 * The machine-mode CSR file of one hart: privilege level, mstatus/mie/mip/mtvec/… state, CSR
 * reads and writes with their access checks and WARL rules, the Zicsr instructions, and the CSR
 * part of the saved state. Trap and interrupt entry on this state live in `trap.ts`.
 */
import { Cause, Csr, MIE_MASK, MISA_VALUE, Priv } from "./csr";
import { Op } from "./decode";
import type { Counter64, RiscvCsrState } from "./state";
import { interruptAt, trap } from "./trap";

const TWO32 = 4294967296;

/** Where the counter and `time` CSRs read from: the owning hart, at the executing instruction. */
export interface CsrClock {
  /** Instructions retired by the hart before the executing one (since the hart was created). */
  retiredBefore(): number;
  /** The timebase (`time`, the CLINT's `mtime`) at the executing instruction. */
  timeNow(): number;
}

/** CSR state of one hart. A class so the object keeps one monomorphic shape. */
export class CsrFile {
  /** Current privilege level (0 = U, 3 = M). */
  priv: 0 | 3 = Priv.Machine;
  /** mstatus.MIE (0/1). */
  mstatusMie = 0;
  /** mstatus.MPIE (0/1). */
  mstatusMpie = 0;
  /** mstatus.MPP (0 or 3). */
  mstatusMpp: 0 | 3 = 0;
  /** mtvec (mode 0 or 1 in the low bits). */
  mtvec = 0;
  /** mepc. */
  mepc = 0;
  /** mcause. */
  mcause = 0;
  /** mtval. */
  mtval = 0;
  /** mscratch. */
  mscratch = 0;
  /** mie (MSIE, MTIE, MEIE). */
  mie = 0;
  /** mip (MSIP, MTIP, MEIP), driven by devices. */
  mip = 0;
  /** mcounteren (CY, TM, IR). */
  mcounteren = 0;
  /**
   * The 64-bit counters are held exactly as offsets from the hart's executed-instruction count X
   * (a double, exact below 2^53): mcycle = (X + cycleOffLo + cycleOffHi * 2^32) mod 2^64, with
   * `cycleOffLo` in [0, 2^32) and `cycleOffHi` a uint32; likewise minstret.
   */
  cycleOffHi = 0;
  /** Low half of the mcycle offset, in [0, 2^32). */
  cycleOffLo = 0;
  /** High half of the minstret offset (uint32). */
  instretOffHi = 0;
  /** Low half of the minstret offset, in [0, 2^32). */
  instretOffLo = 0;
  /** False after a {@link CsrFile.read} of a CSR that does not exist or is not accessible. */
  ok = true;

  private readonly hartId: number;
  private readonly clock: CsrClock;

  /** A CSR file for hart `hartId` whose counters and `time` come from `clock`. */
  constructor(hartId: number, clock: CsrClock) {
    this.hartId = hartId;
    this.clock = clock;
  }

  /** Reset state: M-mode, every CSR 0, mcycle = minstret = 0 at `retired` instructions. */
  reset(retired: number): void {
    this.priv = Priv.Machine;
    this.mstatusMie = 0;
    this.mstatusMpie = 0;
    this.mstatusMpp = 0;
    this.mtvec = 0;
    this.mepc = 0;
    this.mcause = 0;
    this.mtval = 0;
    this.mscratch = 0;
    this.mie = 0;
    this.mcounteren = 0;
    this.setCounter(true, retired, 0, 0);
    this.setCounter(false, retired, 0, 0);
  }

  /** Make mcycle (`isCycle`) or minstret equal `hi:lo` when `executed` instructions have executed. */
  setCounter(isCycle: boolean, executed: number, hi: number, lo: number): void {
    const t = (lo >>> 0) - executed;
    const borrow = Math.floor(t / TWO32);
    const offLo = t - borrow * TWO32;
    const offHi = ((hi >>> 0) + borrow) >>> 0;
    if (isCycle) {
      this.cycleOffHi = offHi;
      this.cycleOffLo = offLo;
    } else {
      this.instretOffHi = offHi;
      this.instretOffLo = offLo;
    }
  }

  /** Low 32 bits (signed pattern) of mcycle (`isCycle`) or minstret after `executed` instructions. */
  counterLo(isCycle: boolean, executed: number): number {
    return (executed + (isCycle ? this.cycleOffLo : this.instretOffLo)) | 0;
  }

  /** High 32 bits (signed pattern) of mcycle (`isCycle`) or minstret after `executed` instructions. */
  counterHi(isCycle: boolean, executed: number): number {
    const t = executed + (isCycle ? this.cycleOffLo : this.instretOffLo);
    return ((isCycle ? this.cycleOffHi : this.instretOffHi) + Math.floor(t / TWO32)) | 0;
  }

  /**
   * The executing instruction trapped: it is not retired, so minstret must not count it (mcycle
   * still does: the cycles were spent). Called by `trap()` for every synchronous exception.
   */
  unretire(): void {
    if (this.instretOffLo >= 1) this.instretOffLo -= 1;
    else {
      this.instretOffLo = TWO32 - 1;
      this.instretOffHi = (this.instretOffHi - 1) >>> 0;
    }
  }

  /** Read a CSR at the current privilege; sets `ok = false` when it does not exist or is not accessible. */
  read(csr: number): number {
    this.ok = true;
    if (((csr >>> 8) & 3) > this.priv) {
      this.ok = false;
      return 0;
    }
    switch (csr) {
      case Csr.mstatus:
        return (this.mstatusMie << 3) | (this.mstatusMpie << 7) | (this.mstatusMpp << 11);
      case Csr.misa:
        return MISA_VALUE;
      case Csr.medeleg:
      case Csr.mideleg:
      case Csr.mstatush:
      case Csr.mvendorid:
      case Csr.marchid:
      case Csr.mimpid:
      case Csr.mconfigptr:
        return 0;
      case Csr.mie:
        return this.mie;
      case Csr.mtvec:
        return this.mtvec;
      case Csr.mcounteren:
        return this.mcounteren;
      case Csr.mscratch:
        return this.mscratch;
      case Csr.mepc:
        return this.mepc;
      case Csr.mcause:
        return this.mcause;
      case Csr.mtval:
        return this.mtval;
      case Csr.mip:
        return this.mip;
      case Csr.mhartid:
        return this.hartId;
      case Csr.mcycle:
        return this.counterLo(true, this.clock.retiredBefore());
      case Csr.mcycleh:
        return this.counterHi(true, this.clock.retiredBefore());
      case Csr.minstret:
        return this.counterLo(false, this.clock.retiredBefore());
      case Csr.minstreth:
        return this.counterHi(false, this.clock.retiredBefore());
      case Csr.cycle:
      case Csr.time:
      case Csr.instret:
      case Csr.cycleh:
      case Csr.timeh:
      case Csr.instreth: {
        if (this.priv === Priv.User && ((this.mcounteren >>> (csr & 31)) & 1) === 0) {
          this.ok = false;
          return 0;
        }
        const low = csr < 0xc80;
        const k = csr & 31;
        if (k === 1) {
          const v = this.clock.timeNow();
          return low ? v | 0 : Math.floor(v / TWO32) | 0;
        }
        const executed = this.clock.retiredBefore();
        return low ? this.counterLo(k === 0, executed) : this.counterHi(k === 0, executed);
      }
      default:
        this.ok = false;
        return 0;
    }
  }

  /** Read a CSR with machine privilege (for saving state); 0 for CSRs that do not exist. */
  readMachine(csr: number): number {
    const p = this.priv;
    this.priv = Priv.Machine;
    const v = this.read(csr);
    this.priv = p;
    return v;
  }

  /** Write a CSR that exists and is writable (checked by the caller), applying its WARL rules. */
  write(csr: number, v: number): void {
    switch (csr) {
      case Csr.mstatus: {
        this.mstatusMie = (v >>> 3) & 1;
        this.mstatusMpie = (v >>> 7) & 1;
        const mpp = (v >>> 11) & 3;
        if (mpp === Priv.Machine || mpp === Priv.User) this.mstatusMpp = mpp;
        break;
      }
      case Csr.mie:
        this.mie = v & MIE_MASK;
        break;
      case Csr.mtvec:
        this.mtvec = (v & 3) <= 1 ? v & ~2 : v & ~3;
        break;
      case Csr.mcounteren:
        this.mcounteren = v & 7;
        break;
      case Csr.mscratch:
        this.mscratch = v | 0;
        break;
      case Csr.mepc:
        this.mepc = v & ~3;
        break;
      case Csr.mcause:
        this.mcause = v | 0;
        break;
      case Csr.mtval:
        this.mtval = v | 0;
        break;
      case Csr.mcycle:
      case Csr.minstret:
      case Csr.mcycleh:
      case Csr.minstreth: {
        // Zicsr: the written value replaces the increment of the writing instruction, so the
        // next instruction reads exactly `v` in the written half and the other half unchanged.
        const isCycle = csr === Csr.mcycle || csr === Csr.mcycleh;
        const before = this.clock.retiredBefore();
        const hi = this.counterHi(isCycle, before);
        const lo = this.counterLo(isCycle, before);
        if (csr < 0xb80) this.setCounter(isCycle, before + 1, hi, v);
        else this.setCounter(isCycle, before + 1, v, lo);
        break;
      }
      default:
        // misa, medeleg, mideleg, mstatush, mip: WARL, writes ignored.
        break;
    }
  }

  /**
   * Execute a Zicsr instruction (`op` one of CSRRW…CSRRCI; `rs1` is the register number or the
   * 5-bit immediate) on registers `x`. Returns the next pc, a trap handler (illegal access, with
   * mtval = `raw`) or an interrupt vector (the write may have enabled a pending interrupt).
   */
  instr(
    x: Int32Array,
    op: number,
    rd: number,
    rs1: number,
    csr: number,
    pc: number,
    raw: number,
  ): number {
    const immForm = op >= Op.CSRRWI;
    const src = immForm ? rs1 : x[rs1];
    const isWrite = op === Op.CSRRW || op === Op.CSRRWI || rs1 !== 0;
    const old = this.read(csr);
    if (!this.ok || (isWrite && csr >>> 10 === 3)) {
      return trap(this, Cause.IllegalInstruction, raw, pc);
    }
    if (isWrite) {
      let v: number;
      if (op === Op.CSRRW || op === Op.CSRRWI) v = src;
      else if (op === Op.CSRRS || op === Op.CSRRSI) v = old | src;
      else v = old & ~src;
      this.write(csr, v);
    }
    x[rd] = old;
    return interruptAt(this, (pc + 4) | 0);
  }

  /** The saved CSR values (machine-level view). */
  save(): RiscvCsrState {
    return {
      mstatus: this.readMachine(Csr.mstatus),
      mtvec: this.mtvec,
      mepc: this.mepc,
      mcause: this.mcause,
      mtval: this.mtval,
      mscratch: this.mscratch,
      mie: this.mie,
      mip: this.mip,
      mcounteren: this.mcounteren,
    };
  }

  /**
   * Restore validated saved state: privilege, CSRs, and the counter offsets that make mcycle =
   * `cycle` and minstret = `instret` at `workDone` executed instructions.
   */
  load(
    priv: 0 | 3,
    s: RiscvCsrState,
    workDone: number,
    cycle: Counter64,
    instret: Counter64,
  ): void {
    this.priv = priv;
    this.write(Csr.mstatus, s.mstatus);
    this.mtvec = s.mtvec | 0;
    this.mepc = s.mepc | 0;
    this.mcause = s.mcause | 0;
    this.mtval = s.mtval | 0;
    this.mscratch = s.mscratch | 0;
    this.mie = s.mie & MIE_MASK;
    this.mip = s.mip & MIE_MASK;
    this.mcounteren = s.mcounteren & 7;
    this.setCounter(true, workDone, cycle.hi, cycle.lo);
    this.setCounter(false, workDone, instret.hi, instret.lo);
  }
}
