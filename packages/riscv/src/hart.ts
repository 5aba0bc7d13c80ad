/**
 * The RV32IMA + Zicsr interpreter core of one hart (a ferry {@link VcpuCore}).
 *
 * Hot path: instructions are pre-decoded into per-page slots of one `Int32Array`
 * (`[raw, op, regs, imm]` per instruction). A slot is valid when its `raw` word
 * still equals the word in RAM, so any write to code (guest stores, other harts,
 * `AddressSpace.writeBytes` by the ELF loader or migration) is noticed on the
 * next fetch without any invalidation bookkeeping on stores.
 */
import {
  type AddressSpace,
  ExitReason,
  type ExitReasonCode,
  InterruptLine,
  type InterruptLineCode,
  type RamRegion,
  type VcpuContext,
  type VcpuCore,
  type VcpuRun,
} from "@ferry/core";
import {
  Cause,
  MIP_MEIP,
  MIP_MSIP,
  MIP_MTIP,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MSTATUS_TSR,
  MSTATUS_TVM,
  Priv,
} from "./csr";
import { CsrFile } from "./csr-file";
import { DECODED_STRIDE, decodeInto, Op } from "./decode";
import type { Firmware } from "./firmware";
import { type BlockEngine, createBlockEngine } from "./jit/engine";
import { Access, Mmu, PAGE_MISSING, TLB_MASK } from "./mmu";
import { mulh, mulhsu, mulhu } from "./mul";
import { counterFromState, counterToState, type RiscvCpuState, validateRiscvState } from "./state";
import { mret, pendingInterrupt, sret, takeInterrupt, trap } from "./trap";

/** Options of one hart (set by {@link riscvBackend}). */
export interface RiscvHartOptions {
  /** Guest instructions per virtual microsecond (millions of instructions per virtual second). */
  readonly mips: number;
  /** ECALL from M-mode while `mtvec == 0` exits `Hypercall` instead of trapping (default true). */
  readonly hypercalls: boolean;
  /** Address of the riscv-tests `tohost` word to watch, or null. */
  readonly tohost: number | null;
  /**
   * Maximum number of 4 KiB code pages kept decoded (the cache is flushed when full); the block
   * compiler keeps up to 8 blocks per page of it (at least 64).
   */
  readonly maxDecodedPages: number;
  /** Execution engine: `jit` (block compiler, the default) or `interpreter` (the reference). */
  readonly engine?: CpuEngine;
}

/** The execution engines of a hart: `jit` compiles guest blocks to JS, `interpreter` decodes. */
export type CpuEngine = "jit" | "interpreter";

const PAGE_INTS = 1024 * DECODED_STRIDE;
const TWO32 = 4294967296;

/** Kinds of a pending MMIO load (how `completeMmioRead` extends the value). */
const LoadKind = { Signed: 0, Unsigned: 1 } as const;

/**
 * One RV32IMA hart with M, S and U modes and Sv32. A class so the hot object keeps one
 * monomorphic shape.
 */
export class RiscvHart implements VcpuCore {
  /** x0..x31, plus index 32: the sink for writes to x0. */
  readonly x = new Int32Array(33);
  /** Program counter (signed 32-bit bit pattern). */
  pc = 0;
  /** Privilege level and machine CSRs (see `csr-file.ts`). */
  readonly csr: CsrFile;
  /** LR reservation: granule address (unsigned) or -1. Cleared at the end of every run. */
  reservation = -1;
  /** Sv32 translation and its TLBs. */
  readonly mmu: Mmu;
  /** M-mode firmware emulated by ferry (SBI), or null when the guest runs its own M-mode code. */
  firmware: Firmware | null = null;
  /** True while the firmware holds this hart stopped (SBI HSM): it runs nothing. */
  hartStopped = false;
  private retiredTotal = 0;

  private readonly hartId: number;
  private readonly memory: AddressSpace;
  private readonly timebaseHz: number;
  private readonly timebaseAt: ((ns: number) => number) | undefined;
  private readonly nsPerInstr: number;
  private readonly hypercalls: boolean;
  private readonly tohost: number;
  private readonly maxSlots: number;

  // Fast RAM region (the largest writable region with bytes). Not private: the block engine
  // (`jit/`) reads these; nothing else may.
  private bound = false;
  private boundRegions: readonly unknown[] | null = null;
  /** The region that is the fast region while none of its pages is missing. */
  private candidate: RamRegion | null = null;
  /** True while the candidate has missing pages (post-copy): no fast region, every access checked. */
  private boundMissing = false;
  /** @internal */
  fast: RamRegion | null = null;
  /** @internal */
  fastBase = 0;
  /** @internal */
  fastSize = 0;
  /** @internal */
  m8: Uint8Array = new Uint8Array(0);
  /** @internal */
  s8: Int8Array = new Int8Array(0);
  /** @internal */
  m16: Uint16Array = new Uint16Array(0);
  /** @internal */
  s16: Int16Array = new Int16Array(0);
  /** @internal */
  m32: Int32Array = new Int32Array(0);
  /** @internal */
  dirtyWords: Uint32Array = new Uint32Array(0);
  /** @internal */
  logging = false;
  /** @internal Offset of the watched tohost word in the fast region, or -1. */
  tohostOff = -1;
  /** The block compiler (`cpu-engine: jit`), or null for the interpreter. */
  private readonly blocks: BlockEngine | null;

  // Decode cache: pageSlot[page] = slot (0 = none); slot 0 is the scratch slot for slow fetches.
  private pageSlot = new Int32Array(0);
  private dec = new Int32Array(PAGE_INTS * 2);
  private nextSlot = 1;

  // Per-run scratch (the block engine reads and sets stop/exit/executed).
  /** @internal */
  stop = false;
  /** @internal */
  exit: ExitReasonCode = ExitReason.None;
  private runRef: VcpuRun | null = null;
  private runStartNs = 0;
  /** @internal 1-based index in the run of the executing instruction (for counters and time). */
  executed = 0;
  private pendingLoadRd = -1;
  private pendingLoadSize: 1 | 2 | 4 = 4;
  private pendingLoadKind: number = LoadKind.Signed;

  constructor(ctx: VcpuContext, options: RiscvHartOptions) {
    this.hartId = ctx.hartId;
    this.memory = ctx.memory;
    this.timebaseHz = ctx.timebaseHz;
    this.timebaseAt = ctx.timebaseAt;
    this.nsPerInstr = 1000 / options.mips;
    this.hypercalls = options.hypercalls;
    this.tohost = options.tohost === null ? -1 : options.tohost >>> 0;
    this.maxSlots = Math.max(2, options.maxDecodedPages + 1);
    this.blocks =
      options.engine === "jit"
        ? createBlockEngine(this, Math.max(64, options.maxDecodedPages * 8))
        : null;
    const mmu = new Mmu(ctx.memory);
    this.mmu = mmu;
    this.csr = new CsrFile(ctx.hartId, {
      retiredBefore: () => this.counterNow(),
      timeNow: () => this.timeNow(),
      flushTlb: () => mmu.flush(),
    });
  }

  /** Total instructions retired since creation. */
  get workDone(): number {
    return this.retiredTotal;
  }

  /** Hart id (`mhartid`). */
  get id(): number {
    return this.hartId;
  }

  reset(entry: number, bootArg: number): void {
    this.x.fill(0);
    this.x[10] = this.hartId;
    this.x[11] = bootArg | 0;
    this.pc = entry | 0;
    this.csr.reset(this.retiredTotal);
    this.reservation = -1;
    this.pendingLoadRd = -1;
    this.hartStopped = false;
    if (this.firmware !== null) this.firmware.resetHart(this, entry);
  }

  setInterrupt(line: InterruptLineCode, level: boolean): void {
    const c = this.csr;
    let bit: number;
    if (this.firmware !== null && line === InterruptLine.MachineTimer) {
      bit = MIP_STIP; // the firmware forwards its timer to S-mode (SBI set_timer)
    } else if (this.firmware !== null && line === InterruptLine.MachineSoftware) {
      if (level) c.mip |= MIP_SSIP; // an IPI: S-mode clears SSIP itself
      return;
    } else {
      bit =
        line === InterruptLine.MachineTimer
          ? MIP_MTIP
          : line === InterruptLine.MachineSoftware
            ? MIP_MSIP
            : line === InterruptLine.MachineExternal
              ? MIP_MEIP
              : line === InterruptLine.SupervisorExternal
                ? MIP_SEIP
                : line === InterruptLine.SupervisorTimer
                  ? MIP_STIP
                  : MIP_SSIP;
    }
    c.mip = level ? c.mip | bit : c.mip & ~bit;
  }

  wantsWake(): boolean {
    return !this.hartStopped && (this.csr.mip & this.csr.mie) !== 0;
  }

  completeMmioRead(value: number): void {
    const rd = this.pendingLoadRd;
    if (rd < 0) return;
    this.pendingLoadRd = -1;
    const size = this.pendingLoadSize;
    let v = value | 0;
    if (size === 1) v = this.pendingLoadKind === LoadKind.Signed ? (v << 24) >> 24 : v & 0xff;
    else if (size === 2)
      v = this.pendingLoadKind === LoadKind.Signed ? (v << 16) >> 16 : v & 0xffff;
    this.x[rd] = v;
  }

  completeHypercall(result: number): void {
    this.x[10] = result | 0;
  }

  // ---------------------------------------------------------------- memory binding

  /** Cache the fast RAM region's views (once, and again if the region list changes). */
  private bindMemory(): void {
    const regions = this.memory.regions;
    let cand = this.candidate;
    if (this.bound && this.boundRegions === regions) {
      // While the fast region has missing pages (a post-copy destination) there is no fast
      // region: every access takes the slow paths, which check the missing-page map.
      const missing = cand !== null && cand.missing !== undefined && cand.missing.count > 0;
      if (missing === this.boundMissing) return;
    } else {
      cand = null;
      for (const r of this.memory.ramRegions) {
        const b = r.backend.bytes;
        if (r.readonly || b === null || (b.byteOffset & 3) !== 0 || (b.byteLength & 3) !== 0)
          continue;
        if (r.base + r.size > TWO32) continue;
        if (cand === null || r.size > cand.size) cand = r;
      }
      this.candidate = cand;
    }
    this.bound = true;
    this.boundRegions = regions;
    this.boundMissing = cand !== null && cand.missing !== undefined && cand.missing.count > 0;
    const best = this.boundMissing ? null : cand;
    this.fast = best;
    if (best === null || best.backend.bytes === null) {
      this.mmu.bind(null, new Int32Array(0));
      this.fastBase = 0;
      this.fastSize = 0;
      this.pageSlot = new Int32Array(0);
      return;
    }
    const b = best.backend.bytes;
    this.fastBase = best.base;
    this.fastSize = best.size;
    this.m8 = b;
    this.s8 = new Int8Array(b.buffer, b.byteOffset, b.byteLength);
    this.m16 = new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
    this.s16 = new Int16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
    this.m32 = new Int32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
    this.mmu.bind(best, this.m32);
    this.pageSlot = new Int32Array(Math.ceil(best.size / 4096));
    this.nextSlot = 1;
    const t = (this.tohost - best.base) >>> 0;
    this.tohostOff = this.tohost >= 0 && t < best.size ? t : -1;
  }

  /** Give page `pg` of the fast region a decode slot (growing, or flushing when full). */
  private allocSlot(pg: number): number {
    if (this.nextSlot * PAGE_INTS >= this.dec.length) {
      const slots = this.dec.length / PAGE_INTS;
      if (slots < this.maxSlots) {
        const grown = new Int32Array(Math.min(slots * 2, this.maxSlots) * PAGE_INTS);
        grown.set(this.dec);
        this.dec = grown;
      } else {
        this.pageSlot.fill(0);
        this.nextSlot = 1;
      }
    }
    const s = this.nextSlot++;
    this.pageSlot[pg] = s;
    return s;
  }

  // ---------------------------------------------------------------- run loop

  run(run: VcpuRun, budgetNs: number): void {
    run.retired = 0;
    run.consumedNs = 0;
    if (run.immediateExit) {
      run.exitReason = ExitReason.Kicked;
      return;
    }
    const nsPer = this.nsPerInstr;
    const max = Math.floor(budgetNs / nsPer + 1e-9);
    if (max <= 0) {
      run.exitReason = ExitReason.BudgetExhausted;
      return;
    }
    if (this.hartStopped) {
      run.exitReason = ExitReason.Halt;
      return;
    }
    this.bindMemory();
    this.runRef = run;
    this.runStartNs = run.startNs;
    this.stop = false;
    this.exit = ExitReason.BudgetExhausted;
    const fast = this.fast;
    if (fast !== null) {
      this.dirtyWords = fast.dirty.words;
      this.logging = fast.dirty.logging;
    }
    const irq = pendingInterrupt(this.csr);
    if (irq >= 0) this.pc = takeInterrupt(this.csr, irq, this.pc);

    let n = this.blocks !== null ? this.blocks.execute(max) : this.interpret(0, max);
    // The access that touched a missing page did not happen: it runs again once the page lands.
    if ((this.exit as ExitReasonCode) === ExitReason.PageMissing && n > 0) n--;

    this.reservation = -1;
    this.retiredTotal += n;
    this.runRef = null;
    run.retired = n;
    run.consumedNs = n * nsPer;
    run.exitReason = this.exit;
  }

  /**
   * The interpreter loop: run from `this.pc`, `n0` instructions of this run already executed,
   * until `max` have executed or an exit stops the run. Returns the executed count; leaves the pc
   * in `this.pc`. The block engine (`jit/`) calls it to step what it does not compile.
   * @internal
   */
  interpret(n0: number, max: number): number {
    const run = this.runRef!;
    const x = this.x;
    const csr = this.csr;
    const base = this.fastBase;
    const size = this.fastSize;
    const m8 = this.m8;
    const s8 = this.s8;
    const m16 = this.m16;
    const s16 = this.s16;
    const m32 = this.m32;
    const dw = this.dirtyWords;
    const logging = this.logging;
    const watch = this.tohostOff;
    const pageSlot = this.pageSlot;
    let dec = this.dec;
    let pc = this.pc;
    let n = n0;
    const mmu = this.mmu;
    const xTag = mmu.xTag;
    const xPage = mmu.xPage;
    const rTag = mmu.rTag;
    const rPage = mmu.rPage;
    const wTag = mmu.wTag;
    const wPage = mmu.wPage;

    // Translation on (1) or off (0), refreshed after anything that can change it.
    let vmi = csr.vmFetch;
    let vmd = csr.vmData;

    loop: while (n < max) {
      n++;
      // ---- fetch
      let di: number;
      const foff =
        vmi === 0
          ? (pc - base) >>> 0
          : xTag[(pc >>> 12) & TLB_MASK] === pc >>> 12
            ? xPage[(pc >>> 12) & TLB_MASK] | (pc & 0xfff)
            : size;
      if (foff < size) {
        let s = pageSlot[foff >>> 12];
        if (s === 0) {
          s = this.allocSlot(foff >>> 12);
          dec = this.dec;
        }
        di = (s << 12) | (foff & 0xffc);
        const w = m32[foff >>> 2];
        if (dec[di] !== w) decodeInto(dec, di, w);
      } else {
        this.executed = n;
        const r = this.fetchSlow(pc);
        dec = this.dec;
        if (r < 0) {
          pc = this.pc;
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          if (this.stop) break;
          continue;
        }
        di = 0;
      }
      const regs = dec[di + 2];
      const imm = dec[di + 3];
      const rd = regs & 0xff;
      const rs1 = (regs >>> 8) & 0xff;
      const rs2 = regs >>> 16;
      // ---- execute
      switch (dec[di + 1]) {
        case 19: // ADDI
          x[rd] = (x[rs1] + imm) | 0;
          pc = (pc + 4) | 0;
          break;
        case 28: // ADD
          x[rd] = (x[rs1] + x[rs2]) | 0;
          pc = (pc + 4) | 0;
          break;
        case 13: {
          // LW
          const a = (x[rs1] + imm) | 0;
          const off =
            vmd === 0
              ? (a - base) >>> 0
              : rTag[(a >>> 12) & TLB_MASK] === a >>> 12
                ? rPage[(a >>> 12) & TLB_MASK] | (a & 0xfff)
                : size;
          if (off < size && (off & 3) === 0) {
            x[rd] = m32[off >>> 2];
            pc = (pc + 4) | 0;
          } else {
            this.executed = n;
            pc = this.loadSlow(pc, a, 4, LoadKind.Signed, rd);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            if (this.stop) break loop;
          }
          break;
        }
        case 18: {
          // SW
          const a = (x[rs1] + imm) | 0;
          const off =
            vmd === 0
              ? (a - base) >>> 0
              : wTag[(a >>> 12) & TLB_MASK] === a >>> 12
                ? wPage[(a >>> 12) & TLB_MASK] | (a & 0xfff)
                : size;
          if (off < size && (off & 3) === 0) {
            m32[off >>> 2] = x[rs2];
            pc = (pc + 4) | 0;
            if (logging && (dw[off >>> 17] & (1 << ((off >>> 12) & 31))) === 0 && this.dirtied(off))
              break loop;
            if (off === watch && this.tohostStore(x[rs2])) break loop;
          } else {
            this.executed = n;
            pc = this.storeSlow(pc, a, 4, x[rs2]);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            if (this.stop) break loop;
          }
          break;
        }
        case 5: // BEQ
          if (x[rs1] === x[rs2]) {
            const t = (pc + imm) | 0;
            if ((t & 3) !== 0) {
              pc = trap(csr, Cause.InstructionMisaligned, t, pc);
              vmi = csr.vmFetch;
              vmd = csr.vmData;
            } else pc = t;
          } else pc = (pc + 4) | 0;
          break;
        case 6: // BNE
          if (x[rs1] !== x[rs2]) {
            const t = (pc + imm) | 0;
            if ((t & 3) !== 0) {
              pc = trap(csr, Cause.InstructionMisaligned, t, pc);
              vmi = csr.vmFetch;
              vmd = csr.vmData;
            } else pc = t;
          } else pc = (pc + 4) | 0;
          break;
        case 7: // BLT
          if (x[rs1] < x[rs2]) {
            const t = (pc + imm) | 0;
            if ((t & 3) !== 0) {
              pc = trap(csr, Cause.InstructionMisaligned, t, pc);
              vmi = csr.vmFetch;
              vmd = csr.vmData;
            } else pc = t;
          } else pc = (pc + 4) | 0;
          break;
        case 8: // BGE
          if (x[rs1] >= x[rs2]) {
            const t = (pc + imm) | 0;
            if ((t & 3) !== 0) {
              pc = trap(csr, Cause.InstructionMisaligned, t, pc);
              vmi = csr.vmFetch;
              vmd = csr.vmData;
            } else pc = t;
          } else pc = (pc + 4) | 0;
          break;
        case 9: // BLTU
          if (x[rs1] >>> 0 < x[rs2] >>> 0) {
            const t = (pc + imm) | 0;
            if ((t & 3) !== 0) {
              pc = trap(csr, Cause.InstructionMisaligned, t, pc);
              vmi = csr.vmFetch;
              vmd = csr.vmData;
            } else pc = t;
          } else pc = (pc + 4) | 0;
          break;
        case 10: // BGEU
          if (x[rs1] >>> 0 >= x[rs2] >>> 0) {
            const t = (pc + imm) | 0;
            if ((t & 3) !== 0) {
              pc = trap(csr, Cause.InstructionMisaligned, t, pc);
              vmi = csr.vmFetch;
              vmd = csr.vmData;
            } else pc = t;
          } else pc = (pc + 4) | 0;
          break;
        case 1: // LUI
          x[rd] = imm;
          pc = (pc + 4) | 0;
          break;
        case 2: // AUIPC
          x[rd] = (pc + imm) | 0;
          pc = (pc + 4) | 0;
          break;
        case 3: {
          // JAL
          const t = (pc + imm) | 0;
          if ((t & 3) !== 0) {
            pc = trap(csr, Cause.InstructionMisaligned, t, pc);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
          } else {
            x[rd] = (pc + 4) | 0;
            pc = t;
          }
          break;
        }
        case 4: {
          // JALR
          const t = ((x[rs1] + imm) | 0) & ~1;
          if ((t & 3) !== 0) {
            pc = trap(csr, Cause.InstructionMisaligned, t, pc);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
          } else {
            x[rd] = (pc + 4) | 0;
            pc = t;
          }
          break;
        }
        case 11: // LB
        case 14: {
          // LBU
          const a = (x[rs1] + imm) | 0;
          const off =
            vmd === 0
              ? (a - base) >>> 0
              : rTag[(a >>> 12) & TLB_MASK] === a >>> 12
                ? rPage[(a >>> 12) & TLB_MASK] | (a & 0xfff)
                : size;
          const signed = dec[di + 1] === 11; // LB
          if (off < size) {
            x[rd] = signed ? s8[off] : m8[off];
            pc = (pc + 4) | 0;
          } else {
            this.executed = n;
            pc = this.loadSlow(pc, a, 1, signed ? LoadKind.Signed : LoadKind.Unsigned, rd);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            if (this.stop) break loop;
          }
          break;
        }
        case 12: // LH
        case 15: {
          // LHU
          const a = (x[rs1] + imm) | 0;
          const off =
            vmd === 0
              ? (a - base) >>> 0
              : rTag[(a >>> 12) & TLB_MASK] === a >>> 12
                ? rPage[(a >>> 12) & TLB_MASK] | (a & 0xfff)
                : size;
          const signed = dec[di + 1] === 12; // LH
          if (off < size && (off & 1) === 0) {
            x[rd] = signed ? s16[off >>> 1] : m16[off >>> 1];
            pc = (pc + 4) | 0;
          } else {
            this.executed = n;
            pc = this.loadSlow(pc, a, 2, signed ? LoadKind.Signed : LoadKind.Unsigned, rd);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            if (this.stop) break loop;
          }
          break;
        }
        case 16: {
          // SB
          const a = (x[rs1] + imm) | 0;
          const off =
            vmd === 0
              ? (a - base) >>> 0
              : wTag[(a >>> 12) & TLB_MASK] === a >>> 12
                ? wPage[(a >>> 12) & TLB_MASK] | (a & 0xfff)
                : size;
          if (off < size) {
            m8[off] = x[rs2];
            pc = (pc + 4) | 0;
            if (logging && (dw[off >>> 17] & (1 << ((off >>> 12) & 31))) === 0 && this.dirtied(off))
              break loop;
            if ((off & ~3) === watch && this.tohostStore(m32[off >>> 2])) break loop;
          } else {
            this.executed = n;
            pc = this.storeSlow(pc, a, 1, x[rs2]);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            if (this.stop) break loop;
          }
          break;
        }
        case 17: {
          // SH
          const a = (x[rs1] + imm) | 0;
          const off =
            vmd === 0
              ? (a - base) >>> 0
              : wTag[(a >>> 12) & TLB_MASK] === a >>> 12
                ? wPage[(a >>> 12) & TLB_MASK] | (a & 0xfff)
                : size;
          if (off < size && (off & 1) === 0) {
            m16[off >>> 1] = x[rs2];
            pc = (pc + 4) | 0;
            if (logging && (dw[off >>> 17] & (1 << ((off >>> 12) & 31))) === 0 && this.dirtied(off))
              break loop;
            if ((off & ~3) === watch && this.tohostStore(m32[off >>> 2])) break loop;
          } else {
            this.executed = n;
            pc = this.storeSlow(pc, a, 2, x[rs2]);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            if (this.stop) break loop;
          }
          break;
        }
        case 20: // SLTI
          x[rd] = x[rs1] < imm ? 1 : 0;
          pc = (pc + 4) | 0;
          break;
        case 21: // SLTIU
          x[rd] = x[rs1] >>> 0 < imm >>> 0 ? 1 : 0;
          pc = (pc + 4) | 0;
          break;
        case 22: // XORI
          x[rd] = x[rs1] ^ imm;
          pc = (pc + 4) | 0;
          break;
        case 23: // ORI
          x[rd] = x[rs1] | imm;
          pc = (pc + 4) | 0;
          break;
        case 24: // ANDI
          x[rd] = x[rs1] & imm;
          pc = (pc + 4) | 0;
          break;
        case 25: // SLLI
          x[rd] = x[rs1] << imm;
          pc = (pc + 4) | 0;
          break;
        case 26: // SRLI
          x[rd] = x[rs1] >>> imm;
          pc = (pc + 4) | 0;
          break;
        case 27: // SRAI
          x[rd] = x[rs1] >> imm;
          pc = (pc + 4) | 0;
          break;
        case 29: // SUB
          x[rd] = (x[rs1] - x[rs2]) | 0;
          pc = (pc + 4) | 0;
          break;
        case 30: // SLL
          x[rd] = x[rs1] << x[rs2];
          pc = (pc + 4) | 0;
          break;
        case 31: // SLT
          x[rd] = x[rs1] < x[rs2] ? 1 : 0;
          pc = (pc + 4) | 0;
          break;
        case 32: // SLTU
          x[rd] = x[rs1] >>> 0 < x[rs2] >>> 0 ? 1 : 0;
          pc = (pc + 4) | 0;
          break;
        case 33: // XOR
          x[rd] = x[rs1] ^ x[rs2];
          pc = (pc + 4) | 0;
          break;
        case 34: // SRL
          x[rd] = x[rs1] >>> x[rs2];
          pc = (pc + 4) | 0;
          break;
        case 35: // SRA
          x[rd] = x[rs1] >> x[rs2];
          pc = (pc + 4) | 0;
          break;
        case 36: // OR
          x[rd] = x[rs1] | x[rs2];
          pc = (pc + 4) | 0;
          break;
        case 37: // AND
          x[rd] = x[rs1] & x[rs2];
          pc = (pc + 4) | 0;
          break;
        case 49: // MUL
          x[rd] = Math.imul(x[rs1], x[rs2]);
          pc = (pc + 4) | 0;
          break;
        case 50: // MULH
          x[rd] = mulh(x[rs1], x[rs2]);
          pc = (pc + 4) | 0;
          break;
        case 51: // MULHSU
          x[rd] = mulhsu(x[rs1], x[rs2]);
          pc = (pc + 4) | 0;
          break;
        case 52: // MULHU
          x[rd] = mulhu(x[rs1], x[rs2]);
          pc = (pc + 4) | 0;
          break;
        case 53: {
          // DIV
          const b = x[rs2];
          x[rd] = b === 0 ? -1 : (x[rs1] / b) | 0;
          pc = (pc + 4) | 0;
          break;
        }
        case 54: {
          // DIVU
          const b = x[rs2] >>> 0;
          x[rd] = b === 0 ? -1 : ((x[rs1] >>> 0) / b) | 0;
          pc = (pc + 4) | 0;
          break;
        }
        case 55: {
          // REM
          const b = x[rs2];
          x[rd] = b === 0 ? x[rs1] : (x[rs1] % b) | 0;
          pc = (pc + 4) | 0;
          break;
        }
        case 56: {
          // REMU
          const b = x[rs2] >>> 0;
          x[rd] = b === 0 ? x[rs1] : ((x[rs1] >>> 0) % b) | 0;
          pc = (pc + 4) | 0;
          break;
        }
        case 38: // FENCE
          pc = (pc + 4) | 0;
          break;
        case 43: // CSRRW
        case 44: // CSRRS
        case 45: // CSRRC
        case 46: // CSRRWI
        case 47: // CSRRSI
        case 48: // CSRRCI
          this.executed = n;
          pc = csr.instr(x, dec[di + 1], rd, rs1, imm, pc, dec[di]);
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 39: // ECALL
          if (csr.priv === Priv.Machine && csr.mtvec === 0 && this.hypercalls) {
            run.hypercallNr = x[17];
            const args = run.hypercallArgs;
            for (let i = 0; i < 6; i++) args[i] = x[10 + i];
            pc = (pc + 4) | 0;
            this.exit = ExitReason.Hypercall;
            this.stop = true;
            break loop;
          }
          if (csr.priv === Priv.Supervisor && this.firmware !== null) {
            this.executed = n;
            pc = (pc + 4) | 0;
            this.firmware.ecall(this, this.runStartNs + n * this.nsPerInstr);
            if (this.stop) break loop;
            const i = pendingInterrupt(csr);
            if (i >= 0) pc = takeInterrupt(csr, i, pc);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            break;
          }
          pc = trap(csr, Cause.EcallFromU + csr.priv, 0, pc);
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 40: // EBREAK
          pc = trap(csr, Cause.Breakpoint, pc, pc);
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 41: // MRET
          if (csr.priv !== Priv.Machine) {
            pc = trap(csr, Cause.IllegalInstruction, dec[di], pc);
          } else {
            pc = mret(csr);
            const i = pendingInterrupt(csr);
            if (i >= 0) pc = takeInterrupt(csr, i, pc);
          }
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 68: // SRET
          if (
            csr.priv === Priv.User ||
            (csr.priv === Priv.Supervisor && (csr.mstatusExtra & MSTATUS_TSR) !== 0)
          ) {
            pc = trap(csr, Cause.IllegalInstruction, dec[di], pc);
          } else {
            pc = sret(csr);
            const i = pendingInterrupt(csr);
            if (i >= 0) pc = takeInterrupt(csr, i, pc);
          }
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 69: // SFENCE.VMA
          if (
            csr.priv === Priv.User ||
            (csr.priv === Priv.Supervisor && (csr.mstatusExtra & MSTATUS_TVM) !== 0)
          ) {
            pc = trap(csr, Cause.IllegalInstruction, dec[di], pc);
          } else {
            csr.invalidateVm();
            pc = (pc + 4) | 0;
          }
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 42: // WFI
          if (csr.priv === Priv.User) {
            pc = trap(csr, Cause.IllegalInstruction, dec[di], pc);
            vmi = csr.vmFetch;
            vmd = csr.vmData;
            break;
          }
          pc = (pc + 4) | 0;
          if ((csr.mip & csr.mie) === 0) {
            this.exit = ExitReason.Halt;
            this.stop = true;
            break loop;
          }
          {
            const i = pendingInterrupt(csr);
            if (i >= 0) pc = takeInterrupt(csr, i, pc);
          }
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
        case 57: // LR
        case 58: // SC
        case 59: // AMOSWAP
        case 60: // AMOADD
        case 61: // AMOXOR
        case 62: // AMOAND
        case 63: // AMOOR
        case 64: // AMOMIN
        case 65: // AMOMAX
        case 66: // AMOMINU
        case 67: // AMOMAXU
          this.executed = n;
          pc = this.amo(dec[di + 1], rd, rs1, rs2, pc);
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          if (this.stop) break loop;
          break;
        default:
          pc = trap(csr, Cause.IllegalInstruction, dec[di], pc);
          vmi = csr.vmFetch;
          vmd = csr.vmData;
          break;
      }
    }

    this.pc = pc;
    return n;
  }

  // ---------------------------------------------------------------- slow paths

  /** Fetch outside the fast region: decode into scratch slot 0; on a fault, trap and return -1. */
  private fetchSlow(pc: number): number {
    let a = pc >>> 0;
    if ((a & 3) !== 0) {
      this.pc = trap(this.csr, Cause.InstructionMisaligned, pc, pc);
      return -1;
    }
    if (this.csr.vmFetch !== 0) {
      const cause = this.mmu.translate(pc, Access.Fetch, this.csr);
      if (cause === PAGE_MISSING) {
        this.pc = this.tableMissing(pc);
        return -1;
      }
      if (cause >= 0) {
        this.pc = trap(this.csr, cause, pc, pc);
        return -1;
      }
      a = this.mmu.pa;
    }
    const r = this.memory.find(a);
    if (r === undefined || r.kind !== "ram") {
      this.pc = trap(this.csr, Cause.InstructionAccessFault, pc, pc);
      return -1;
    }
    if (this.missingPage(r, a)) {
      this.pc = pc;
      return -1;
    }
    decodeInto(this.dec, 0, r.backend.load(a - r.base, 4));
    return 0;
  }

  /**
   * A load the fast path did not serve. Returns the next pc; sets `stop` on an MMIO exit.
   * @internal
   */
  loadSlow(pc: number, addr: number, size: 1 | 2 | 4, kind: number, rd: number): number {
    let a = addr >>> 0;
    if ((a & (size - 1)) !== 0) {
      if (this.firmware !== null) return this.misalignedLoad(pc, addr, size, kind, rd);
      return trap(this.csr, Cause.LoadMisaligned, addr, pc);
    }
    if (this.csr.vmData !== 0) {
      const cause = this.mmu.translate(addr, Access.Load, this.csr);
      if (cause === PAGE_MISSING) return this.tableMissing(pc);
      if (cause >= 0) return trap(this.csr, cause, addr, pc);
      a = this.mmu.pa;
    }
    const r = this.memory.find(a);
    if (r === undefined || a + size > r.base + r.size) {
      return trap(this.csr, Cause.LoadAccessFault, addr, pc);
    }
    if (r.kind === "ram") {
      if (this.missingPage(r, a)) return pc;
      let v = r.backend.load(a - r.base, size);
      if (size === 1) v = kind === LoadKind.Signed ? (v << 24) >> 24 : v & 0xff;
      else if (size === 2) v = kind === LoadKind.Signed ? (v << 16) >> 16 : v & 0xffff;
      this.x[rd] = v | 0;
      return (pc + 4) | 0;
    }
    const run = this.runRef!;
    run.mmioAddr = a;
    run.mmioSize = size;
    run.mmioIsWrite = false;
    run.mmioData = 0;
    this.pendingLoadRd = rd;
    this.pendingLoadSize = size;
    this.pendingLoadKind = kind;
    this.exit = ExitReason.Mmio;
    this.stop = true;
    return (pc + 4) | 0;
  }

  /**
   * A store the fast path did not serve. Returns the next pc; sets `stop` on an exit.
   * @internal
   */
  storeSlow(pc: number, addr: number, size: 1 | 2 | 4, value: number): number {
    let a = addr >>> 0;
    if ((a & (size - 1)) !== 0) {
      if (this.firmware !== null) return this.misalignedStore(pc, addr, size, value);
      return trap(this.csr, Cause.StoreMisaligned, addr, pc);
    }
    if (this.csr.vmData !== 0) {
      const cause = this.mmu.translate(addr, Access.Store, this.csr);
      if (cause === PAGE_MISSING) return this.tableMissing(pc);
      if (cause >= 0) return trap(this.csr, cause, addr, pc);
      a = this.mmu.pa;
    }
    const r = this.memory.find(a);
    if (r === undefined || a + size > r.base + r.size || (r.kind === "ram" && r.readonly)) {
      return trap(this.csr, Cause.StoreAccessFault, addr, pc);
    }
    const mask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    if (r.kind === "ram") {
      if (this.missingPage(r, a)) return pc;
      const off = a - r.base;
      r.backend.store(off, size, value & mask);
      r.dirty.markOffset(off);
      if (a >>> 2 === this.tohost >>> 2 && this.tohost >= 0) {
        if (this.tohostStore(r.backend.load(off & ~3, 4))) this.stop = true;
      }
      return (pc + 4) | 0;
    }
    const run = this.runRef!;
    run.mmioAddr = a;
    run.mmioSize = size;
    run.mmioIsWrite = true;
    run.mmioData = size === 4 ? value | 0 : value & mask;
    this.exit = ExitReason.Mmio;
    this.stop = true;
    return (pc + 4) | 0;
  }

  /**
   * Physical address of byte `va` for a misaligned access emulated by the firmware, or -1 after
   * raising the fault (page fault or access fault on a byte that is not RAM) into `this.pc`.
   */
  private misalignedByte(pc: number, va: number, addr: number, access: 1 | 2): number {
    let a = va >>> 0;
    if (this.csr.vmData !== 0) {
      const cause = this.mmu.translate(va, access, this.csr);
      if (cause === PAGE_MISSING) {
        this.pc = this.tableMissing(pc);
        return -1;
      }
      if (cause >= 0) {
        this.pc = trap(this.csr, cause, addr, pc);
        return -1;
      }
      a = this.mmu.pa;
    }
    const r = this.memory.find(a);
    if (r === undefined || r.kind !== "ram" || (access === Access.Store && r.readonly)) {
      const cause = access === Access.Store ? Cause.StoreAccessFault : Cause.LoadAccessFault;
      this.pc = trap(this.csr, cause, addr, pc);
      return -1;
    }
    if (this.missingPage(r, a)) {
      this.pc = pc;
      return -1;
    }
    return a;
  }

  /**
   * A misaligned load, emulated byte by byte as M-mode firmware does (RAM only; a misaligned
   * MMIO access is an access fault). Returns the next pc.
   */
  private misalignedLoad(pc: number, addr: number, size: number, kind: number, rd: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) {
      const a = this.misalignedByte(pc, (addr + i) | 0, addr, Access.Load);
      if (a < 0) return this.pc;
      const r = this.memory.find(a) as RamRegion;
      v |= (r.backend.load(a - r.base, 1) & 0xff) << (8 * i);
    }
    if (size === 2) v = kind === LoadKind.Signed ? (v << 16) >> 16 : v & 0xffff;
    this.x[rd] = v | 0;
    return (pc + 4) | 0;
  }

  /**
   * A misaligned store, emulated byte by byte (every byte translated before any is written). The
   * block engine is told: compiled code may have been overwritten.
   */
  private misalignedStore(pc: number, addr: number, size: number, value: number): number {
    const phys = [0, 0, 0, 0];
    for (let i = 0; i < size; i++) {
      const a = this.misalignedByte(pc, (addr + i) | 0, addr, Access.Store);
      if (a < 0) return this.pc;
      phys[i] = a;
    }
    for (let i = 0; i < size; i++) {
      const r = this.memory.find(phys[i]) as RamRegion;
      r.backend.store(phys[i] - r.base, 1, (value >>> (8 * i)) & 0xff);
      r.dirty.markOffset(phys[i] - r.base);
    }
    if (this.blocks !== null) this.blocks.noteWrite();
    return (pc + 4) | 0;
  }

  /**
   * When guest-physical `a` (in RAM region `r`) is on a page the region does not have yet (a
   * post-copy destination), end the run with a `PageMissing` exit: the access does not happen
   * and the instruction does not retire. Slow paths only (no fast region exists meanwhile).
   */
  private missingPage(r: RamRegion, a: number): boolean {
    const m = r.missing;
    if (m === undefined || m.count === 0) return false;
    const off = a - r.base;
    if (!m.has(Math.floor(off / 4096))) return false;
    this.runRef!.faultAddr = a - (off % 4096);
    this.exit = ExitReason.PageMissing;
    this.stop = true;
    return true;
  }

  /** The page-table walk for the instruction at `pc` read a missing page: `PageMissing` exit. */
  private tableMissing(pc: number): number {
    const pa = this.mmu.missingPa;
    this.runRef!.faultAddr = pa - (pa % 4096);
    this.exit = ExitReason.PageMissing;
    this.stop = true;
    return pc;
  }

  /**
   * End the run with a system event (firmware: SBI system reset). Only valid during `run`.
   */
  requestSystemEvent(kind: "shutdown" | "reset", code: number): void {
    const run = this.runRef;
    if (run === null) return;
    run.systemEvent = kind;
    run.systemEventCode = code;
    this.exit = ExitReason.SystemEvent;
    this.stop = true;
  }

  /** Stop this hart (firmware: SBI HSM hart_stop) and end the run as a halt. */
  stopHart(): void {
    this.hartStopped = true;
    if (this.runRef !== null) {
      this.exit = ExitReason.Halt;
      this.stop = true;
    }
  }

  /**
   * First store to a clean page of the fast region since the last sync/reset: tell the dirty
   * tracker. True when the vCPU's dirty ring is full: the run ends with `DirtyRingFull` (or with
   * the `tohost` shutdown if this store also hit `tohost`).
   * @internal
   */
  dirtied(off: number): boolean {
    if (!this.fast!.dirty.markVcpu(this.hartId, off >>> 12)) return false;
    this.exit = ExitReason.DirtyRingFull;
    this.stop = true;
    if ((off & ~3) === this.tohostOff) this.tohostStore(this.m32[off >>> 2]);
    return true;
  }

  /**
   * A store hit the watched `tohost` word: a value with bit 0 set ends the run with a
   * `SystemEvent` shutdown (code = value >>> 1: 0 = pass, n = failed test n). Returns true then.
   * @internal
   */
  tohostStore(value: number): boolean {
    if ((value & 1) === 0) return false;
    const run = this.runRef!;
    run.systemEvent = "shutdown";
    run.systemEventCode = value >>> 1;
    this.exit = ExitReason.SystemEvent;
    this.stop = true;
    return true;
  }

  /** LR/SC and AMOs. Returns the next pc; sets `stop` on a tohost exit. */
  private amo(op: number, rd: number, rs1: number, rs2: number, pc: number): number {
    const x = this.x;
    const addr = x[rs1];
    let a = addr >>> 0;
    const isLr = op === Op.LR;
    if ((a & 3) !== 0) {
      return trap(this.csr, isLr ? Cause.LoadMisaligned : Cause.StoreMisaligned, addr, pc);
    }
    if (this.csr.vmData !== 0) {
      const mmu = this.mmu;
      const vpn = a >>> 12;
      const i = vpn & TLB_MASK;
      if (isLr ? mmu.rTag[i] === vpn : mmu.wTag[i] === vpn) {
        a = this.fastBase + (isLr ? mmu.rPage[i] : mmu.wPage[i]) + (a & 0xfff);
      } else {
        const cause = mmu.translate(addr, isLr ? Access.Load : Access.Store, this.csr);
        if (cause === PAGE_MISSING) return this.tableMissing(pc);
        if (cause >= 0) return trap(this.csr, cause, addr, pc);
        a = mmu.pa;
      }
    }
    const r = this.memory.find(a);
    if (r === undefined || r.kind !== "ram" || (!isLr && r.readonly)) {
      return trap(this.csr, isLr ? Cause.LoadAccessFault : Cause.StoreAccessFault, addr, pc);
    }
    if (this.missingPage(r, a)) return pc;
    const off = a - r.base;
    const fastRegion = r === this.fast;
    const old = fastRegion ? this.m32[off >>> 2] : r.backend.load(off, 4) | 0;
    if (isLr) {
      x[rd] = old;
      this.reservation = a;
      return (pc + 4) | 0;
    }
    const src = x[rs2];
    let v: number;
    switch (op) {
      case Op.SC:
        if (this.reservation !== a) {
          this.reservation = -1;
          x[rd] = 1;
          return (pc + 4) | 0;
        }
        this.reservation = -1;
        v = src;
        break;
      case Op.AMOSWAP:
        v = src;
        break;
      case Op.AMOADD:
        v = (old + src) | 0;
        break;
      case Op.AMOXOR:
        v = old ^ src;
        break;
      case Op.AMOAND:
        v = old & src;
        break;
      case Op.AMOOR:
        v = old | src;
        break;
      case Op.AMOMIN:
        v = Math.min(old, src);
        break;
      case Op.AMOMAX:
        v = Math.max(old, src);
        break;
      case Op.AMOMINU:
        v = old >>> 0 < src >>> 0 ? old : src;
        break;
      default:
        v = old >>> 0 > src >>> 0 ? old : src;
        break;
    }
    if (fastRegion) {
      this.m32[off >>> 2] = v;
      if (this.logging && (this.dirtyWords[off >>> 17] & (1 << ((off >>> 12) & 31))) === 0)
        this.dirtied(off);
    } else {
      r.backend.store(off, 4, v);
      r.dirty.markOffset(off);
    }
    x[rd] = op === Op.SC ? 0 : old;
    if (a === this.tohost && this.tohost >= 0) this.tohostStore(v);
    return (pc + 4) | 0;
  }

  /**
   * True while instruction fetch and data accesses go through address translation (Sv32). The
   * block engine compiles physical code only and interprets while this is true (satp.MODE =
   * Sv32 in S/U-mode, or MPRV redirecting M-mode data accesses).
   * @internal
   */
  translating(): boolean {
    return this.csr.vmFetch !== 0 || this.csr.vmData !== 0;
  }

  // ---------------------------------------------------------------- counters (for the CSR file)

  /** Instructions retired before the executing one. */
  private counterNow(): number {
    return this.retiredTotal + Math.max(0, this.executed - 1);
  }

  /** `time` at the executing instruction: the machine's timebase, or derived from virtual ns. */
  private timeNow(): number {
    const run = this.runRef;
    const ns =
      (run === null ? 0 : this.runStartNs) + Math.max(0, this.executed - 1) * this.nsPerInstr;
    const timebaseAt = this.timebaseAt;
    return timebaseAt !== undefined ? timebaseAt(ns) : Math.floor((ns * this.timebaseHz) / 1e9);
  }

  // ---------------------------------------------------------------- state

  saveState(): RiscvCpuState {
    return {
      arch: "riscv32",
      hartId: this.hartId,
      pc: this.pc >>> 0,
      x: Array.from(this.x.subarray(1, 32)),
      priv: this.csr.priv,
      csr: this.csr.save(),
      cycle: counterToState(
        this.csr.counterHi(true, this.retiredTotal),
        this.csr.counterLo(true, this.retiredTotal),
      ),
      instret: counterToState(
        this.csr.counterHi(false, this.retiredTotal),
        this.csr.counterLo(false, this.retiredTotal),
      ),
      workDone: this.retiredTotal,
      reservation: this.reservation < 0 ? null : this.reservation,
      hartStopped: this.hartStopped,
      pendingMmioLoad:
        this.pendingLoadRd < 0
          ? null
          : {
              rd: this.pendingLoadRd,
              size: this.pendingLoadSize,
              signed: this.pendingLoadKind === 0,
            },
    };
  }

  loadState(state: unknown): void {
    const s = validateRiscvState(state, this.hartId);
    this.pc = s.pc | 0;
    this.x[0] = 0;
    for (let i = 0; i < 31; i++) this.x[i + 1] = s.x[i] | 0;
    this.csr.load(
      s.priv,
      s.csr,
      s.workDone,
      counterFromState(s.cycle),
      counterFromState(s.instret),
    );
    this.retiredTotal = s.workDone;
    this.reservation = s.reservation === null ? -1 : s.reservation;
    this.hartStopped = s.hartStopped === true;
    const p = s.pendingMmioLoad;
    this.pendingLoadRd = p === null ? -1 : p.rd;
    this.pendingLoadSize = p === null ? 4 : p.size;
    this.pendingLoadKind = p !== null && !p.signed ? LoadKind.Unsigned : LoadKind.Signed;
  }
}
