/**
 * The CSR file of one hart: privilege level, the machine and supervisor CSRs (mstatus/sstatus,
 * mie/sie, mip/sip, trap vectors, delegation, satp, …), CSR reads and writes with their access
 * checks and WARL rules, the Zicsr instructions, and the CSR part of the saved state. Trap and
 * interrupt entry on this state live in `trap.ts`; address translation in `mmu.ts`.
 */
import {
  Cause,
  Csr,
  MEDELEG_MASK,
  MIE_MASK,
  MIP_SSIP,
  MISA_VALUE,
  MSTATUS_EXTRA_MASK,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SUM,
  MSTATUS_TVM,
  Priv,
  type PrivLevel,
  S_INTERRUPTS,
  SSTATUS_MASK,
} from "./csr";
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
  /** Called when cached translations became stale (satp, privilege or SUM/MXR/MPRV changed). */
  flushTlb(): void;
}

/** satp.MODE bit (Sv32). */
const SATP_MODE = 0x80000000 | 0;
/** satp bits kept (MODE and PPN; ASID is hard-wired to 0). */
const SATP_MASK = SATP_MODE | 0x3fffff;

/** CSR state of one hart. A class so the object keeps one monomorphic shape. */
export class CsrFile {
  /** Current privilege level (0 = U, 1 = S, 3 = M). */
  priv: PrivLevel = Priv.Machine;
  /** mstatus.SIE (0/1). */
  mstatusSie = 0;
  /** mstatus.SPIE (0/1). */
  mstatusSpie = 0;
  /** mstatus.SPP (0 or 1). */
  mstatusSpp: 0 | 1 = 0;
  /** mstatus MPRV, SUM, MXR, TVM, TW and TSR bits in place. */
  mstatusExtra = 0;
  /** mstatus.MIE (0/1). */
  mstatusMie = 0;
  /** mstatus.MPIE (0/1). */
  mstatusMpie = 0;
  /** mstatus.MPP (0, 1 or 3). */
  mstatusMpp: PrivLevel = 0;
  /** medeleg: exceptions delegated to S-mode. */
  medeleg = 0;
  /** mideleg: interrupts delegated to S-mode (S-level bits only). */
  mideleg = 0;
  /** stvec. */
  stvec = 0;
  /** sepc. */
  sepc = 0;
  /** scause. */
  scause = 0;
  /** stval. */
  stval = 0;
  /** sscratch. */
  sscratch = 0;
  /** satp (MODE and PPN). */
  satp = 0;
  /** scounteren (CY, TM, IR). */
  scounteren = 0;
  /** 1 while instruction fetches are translated (Sv32 on and privilege below M). */
  vmFetch = 0;
  /** 1 while loads and stores are translated (Sv32 on and effective privilege below M). */
  vmData = 0;
  /** Effective privilege of loads and stores (MPRV applied). */
  dataPriv: PrivLevel = Priv.Machine;
  private vmKey = -1;
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

  /**
   * Recompute what translation applies after a change of privilege, mstatus or satp, and ask
   * for a TLB flush when the translation regime changed. Cheap when nothing changed.
   */
  updateVm(): void {
    const on = this.satp < 0 ? 1 : 0;
    const dp: PrivLevel =
      (this.mstatusExtra & MSTATUS_MPRV) !== 0 && this.priv === Priv.Machine
        ? this.mstatusMpp
        : this.priv;
    this.dataPriv = dp;
    this.vmFetch = on !== 0 && this.priv !== Priv.Machine ? 1 : 0;
    this.vmData = on !== 0 && dp !== Priv.Machine ? 1 : 0;
    const key =
      this.vmData === 0 && this.vmFetch === 0
        ? -1
        : (this.satp & 0x3fffff) * 64 +
          this.priv * 16 +
          dp * 4 +
          ((this.mstatusExtra & MSTATUS_SUM) !== 0 ? 2 : 0) +
          ((this.mstatusExtra & MSTATUS_MXR) !== 0 ? 1 : 0);
    if (key !== this.vmKey) {
      this.vmKey = key;
      this.clock.flushTlb();
    }
  }

  /** Forget the translation regime so the next {@link updateVm} flushes (SFENCE.VMA). */
  invalidateVm(): void {
    this.vmKey = -2;
    this.updateVm();
  }

  /** mstatus as a word. */
  mstatusValue(): number {
    return (
      (this.mstatusSie << 1) |
      (this.mstatusMie << 3) |
      (this.mstatusSpie << 5) |
      (this.mstatusMpie << 7) |
      (this.mstatusSpp << 8) |
      (this.mstatusMpp << 11) |
      this.mstatusExtra
    );
  }

  /** Reset state: M-mode, every CSR 0, mcycle = minstret = 0 at `retired` instructions. */
  reset(retired: number): void {
    this.priv = Priv.Machine;
    this.mstatusSie = 0;
    this.mstatusSpie = 0;
    this.mstatusSpp = 0;
    this.mstatusExtra = 0;
    this.medeleg = 0;
    this.mideleg = 0;
    this.stvec = 0;
    this.sepc = 0;
    this.scause = 0;
    this.stval = 0;
    this.sscratch = 0;
    this.satp = 0;
    this.scounteren = 0;
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
    this.invalidateVm();
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
      case Csr.sstatus:
        return this.mstatusValue() & SSTATUS_MASK;
      case Csr.sie:
        return this.mie & this.mideleg;
      case Csr.sip:
        return this.mip & this.mideleg;
      case Csr.stvec:
        return this.stvec;
      case Csr.scounteren:
        return this.scounteren;
      case Csr.senvcfg:
      case Csr.menvcfg:
      case Csr.menvcfgh:
        return 0;
      case Csr.sscratch:
        return this.sscratch;
      case Csr.sepc:
        return this.sepc;
      case Csr.scause:
        return this.scause;
      case Csr.stval:
        return this.stval;
      case Csr.satp:
        if (this.priv === Priv.Supervisor && (this.mstatusExtra & MSTATUS_TVM) !== 0) {
          this.ok = false;
          return 0;
        }
        return this.satp;
      case Csr.mstatus:
        return this.mstatusValue();
      case Csr.medeleg:
        return this.medeleg;
      case Csr.mideleg:
        return this.mideleg;
      case Csr.misa:
        return MISA_VALUE;
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
        const bit = 1 << (csr & 31);
        if (
          (this.priv !== Priv.Machine && (this.mcounteren & bit) === 0) ||
          (this.priv === Priv.User && (this.scounteren & bit) === 0)
        ) {
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
        if (mpp !== 2) this.mstatusMpp = mpp as PrivLevel;
        this.mstatusExtra = v & MSTATUS_EXTRA_MASK;
        this.writeSstatusBits(v);
        break;
      }
      case Csr.sstatus:
        this.writeSstatusBits(v);
        this.mstatusExtra =
          (this.mstatusExtra & ~(MSTATUS_SUM | MSTATUS_MXR)) | (v & (MSTATUS_SUM | MSTATUS_MXR));
        this.updateVm();
        break;
      case Csr.sie:
        this.mie = (this.mie & ~this.mideleg) | (v & this.mideleg);
        break;
      case Csr.sip:
        this.mip = (this.mip & ~(this.mideleg & MIP_SSIP)) | (v & this.mideleg & MIP_SSIP);
        break;
      case Csr.stvec:
        this.stvec = (v & 3) <= 1 ? v & ~2 : v & ~3;
        break;
      case Csr.scounteren:
        this.scounteren = v & 7;
        break;
      case Csr.sscratch:
        this.sscratch = v | 0;
        break;
      case Csr.sepc:
        this.sepc = v & ~3;
        break;
      case Csr.scause:
        this.scause = v | 0;
        break;
      case Csr.stval:
        this.stval = v | 0;
        break;
      case Csr.satp:
        // Only Bare and Sv32 exist on RV32; ASID is hard-wired to 0.
        this.satp = v & SATP_MASK;
        this.updateVm();
        break;
      case Csr.medeleg:
        this.medeleg = v & MEDELEG_MASK;
        break;
      case Csr.mideleg:
        this.mideleg = v & S_INTERRUPTS;
        break;
      case Csr.mip:
        this.mip = (this.mip & ~S_INTERRUPTS) | (v & S_INTERRUPTS);
        break;
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
        // misa, mstatush, menvcfg, senvcfg: WARL, writes ignored.
        break;
    }
  }

  /** Write the sstatus fields of mstatus (SIE, SPIE, SPP) and update translation state. */
  private writeSstatusBits(v: number): void {
    this.mstatusSie = (v >>> 1) & 1;
    this.mstatusSpie = (v >>> 5) & 1;
    this.mstatusSpp = ((v >>> 8) & 1) as 0 | 1;
    this.updateVm();
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
      medeleg: this.medeleg,
      mideleg: this.mideleg,
      stvec: this.stvec,
      sepc: this.sepc,
      scause: this.scause,
      stval: this.stval,
      sscratch: this.sscratch,
      satp: this.satp,
      scounteren: this.scounteren,
    };
  }

  /**
   * Restore validated saved state: privilege, CSRs, and the counter offsets that make mcycle =
   * `cycle` and minstret = `instret` at `workDone` executed instructions.
   */
  load(
    priv: PrivLevel,
    s: RiscvCsrState,
    workDone: number,
    cycle: Counter64,
    instret: Counter64,
  ): void {
    this.priv = priv;
    this.satp = s.satp & SATP_MASK;
    this.write(Csr.mstatus, s.mstatus);
    this.medeleg = s.medeleg & MEDELEG_MASK;
    this.mideleg = s.mideleg & S_INTERRUPTS;
    this.stvec = s.stvec | 0;
    this.sepc = s.sepc | 0;
    this.scause = s.scause | 0;
    this.stval = s.stval | 0;
    this.sscratch = s.sscratch | 0;
    this.scounteren = s.scounteren & 7;
    this.invalidateVm();
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
