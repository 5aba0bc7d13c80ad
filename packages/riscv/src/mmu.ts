/**
 * Sv32 address translation for one hart: the two-level page-table walk (with hardware update
 * of the A and D bits, written back to RAM and marked dirty for migration), permission checks
 * by privilege, `SUM` and `MXR`, and three small direct-mapped TLBs (fetch, load, store) that
 * the interpreter's fast path reads inline.
 *
 * A TLB entry maps a virtual page number (the tag) to the page's byte offset inside the hart's
 * fast RAM region, so a hit turns a virtual address into an index into the same typed arrays
 * the untranslated fast path uses. Pages outside the fast region (MMIO, other RAM regions) are
 * never cached: every access to them walks the table again (they are rare).
 */
import type { AddressSpace, RamRegion } from "@ferry/core";
import type { CsrFile } from "./csr-file";
import { Cause, MSTATUS_MXR, MSTATUS_SUM, Priv } from "./csr";

/** Kinds of access a translation is for. */
export const Access = { Fetch: 0, Load: 1, Store: 2 } as const;
/** One of {@link Access}'s values. */
export type AccessKind = (typeof Access)[keyof typeof Access];

/** TLB entries per access kind (direct-mapped on the low bits of the virtual page number). */
export const TLB_SIZE = 256;
/** {@link Mmu.translate}'s answer when the walk read a page-table page that is missing (post-copy). */
export const PAGE_MISSING = -2;
/** Mask of a TLB index. */
export const TLB_MASK = TLB_SIZE - 1;

const PTE_V = 1;
const PTE_R = 2;
const PTE_W = 4;
const PTE_X = 8;
const PTE_U = 16;
const PTE_A = 64;
const PTE_D = 128;
const TWO32 = 4294967296;

const PAGE_FAULT = [Cause.InstructionPageFault, Cause.LoadPageFault, Cause.StorePageFault];
const ACCESS_FAULT = [Cause.InstructionAccessFault, Cause.LoadAccessFault, Cause.StoreAccessFault];

/** The MMU of one hart. A class so the hot object keeps one monomorphic shape. */
export class Mmu {
  /** Fetch TLB: virtual page numbers (-1 = empty). */
  readonly xTag = new Int32Array(TLB_SIZE).fill(-1);
  /** Fetch TLB: page offsets in the fast region. */
  readonly xPage = new Int32Array(TLB_SIZE);
  /** Load TLB: virtual page numbers (-1 = empty). */
  readonly rTag = new Int32Array(TLB_SIZE).fill(-1);
  /** Load TLB: page offsets in the fast region. */
  readonly rPage = new Int32Array(TLB_SIZE);
  /** Store TLB: virtual page numbers (-1 = empty); filled only for pages already dirty (D set). */
  readonly wTag = new Int32Array(TLB_SIZE).fill(-1);
  /** Store TLB: page offsets in the fast region. */
  readonly wPage = new Int32Array(TLB_SIZE);
  /** Physical address produced by the last successful {@link Mmu.translate}. */
  pa = 0;
  /** Physical address of the page-table entry whose page was missing (after `PAGE_MISSING`). */
  missingPa = -1;
  /** Page-table walks done (TLB misses), for statistics. */
  walks = 0;

  private readonly memory: AddressSpace;
  private fast: RamRegion | null = null;
  private base = 0;
  private size = 0;
  private m32: Int32Array = new Int32Array(0);
  private dirty = false;

  /** An MMU whose page tables live in `memory`. */
  constructor(memory: AddressSpace) {
    this.memory = memory;
  }

  /** Use `region` (viewed as `m32`) as the fast region TLB entries point into. Flushes. */
  bind(region: RamRegion | null, m32: Int32Array): void {
    this.fast = region;
    this.base = region === null ? 0 : region.base;
    this.size = region === null ? 0 : region.size;
    this.m32 = m32;
    this.flush();
  }

  /** Drop every cached translation. */
  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.xTag.fill(-1);
    this.rTag.fill(-1);
    this.wTag.fill(-1);
  }

  /** Read a page-table entry at physical address `pa`; NaN when no RAM is there. */
  private readPte(pa: number): number {
    const off = pa - this.base;
    if (off >= 0 && off < this.size) return this.m32[off >>> 2];
    const r = this.memory.find(pa);
    if (r === undefined || r.kind !== "ram") return Number.NaN;
    const m = r.missing;
    if (m !== undefined && m.count > 0 && m.has(Math.floor((pa - r.base) / 4096))) {
      this.missingPa = pa;
      return Number.NaN;
    }
    return r.backend.load(pa - r.base, 4) | 0;
  }

  /** Write back a page-table entry (A/D update), marking its page dirty. */
  private writePte(pa: number, pte: number): void {
    const off = pa - this.base;
    if (off >= 0 && off < this.size && this.fast !== null) {
      this.m32[off >>> 2] = pte;
      this.fast.dirty.markOffset(off);
      return;
    }
    const r = this.memory.find(pa);
    if (r === undefined || r.kind !== "ram" || r.readonly) return;
    r.backend.store(pa - r.base, 4, pte);
    r.dirty.markOffset(pa - r.base);
  }

  /**
   * Translate virtual address `va` for an access of kind `access` under the hart's current
   * translation state (`csr.satp`, `csr.priv` for fetches, `csr.dataPriv` for data, SUM, MXR).
   * Returns -1 with the physical address in {@link Mmu.pa}, or the exception cause (page fault
   * or access fault) to raise with `stval = va`, or {@link PAGE_MISSING} when a page-table page
   * is missing (post-copy: the access waits for it). Caches the translation when it can.
   */
  translate(va: number, access: AccessKind, csr: CsrFile): number {
    this.walks++;
    this.missingPa = -1;
    const v = va >>> 0;
    const vpn = v >>> 12;
    let a = (csr.satp & 0x3fffff) * 4096 + (v >>> 22) * 4;
    let pte = this.readPte(a);
    if (Number.isNaN(pte)) return this.missingPa >= 0 ? PAGE_MISSING : ACCESS_FAULT[access];
    let superpage = true;
    if ((pte & PTE_V) === 0 || ((pte & PTE_R) === 0 && (pte & PTE_W) !== 0)) {
      return PAGE_FAULT[access];
    }
    if ((pte & (PTE_R | PTE_X)) === 0) {
      superpage = false;
      a = (pte >>> 10) * 4096 + ((v >>> 12) & 0x3ff) * 4;
      if (a >= TWO32) return ACCESS_FAULT[access];
      pte = this.readPte(a);
      if (Number.isNaN(pte)) return this.missingPa >= 0 ? PAGE_MISSING : ACCESS_FAULT[access];
      if ((pte & PTE_V) === 0 || ((pte & PTE_R) === 0 && (pte & PTE_W) !== 0)) {
        return PAGE_FAULT[access];
      }
      if ((pte & (PTE_R | PTE_X)) === 0) return PAGE_FAULT[access];
    } else if (((pte >>> 10) & 0x3ff) !== 0) {
      return PAGE_FAULT[access]; // misaligned superpage
    }
    // Permissions.
    const priv = access === Access.Fetch ? csr.priv : csr.dataPriv;
    if ((pte & PTE_U) !== 0) {
      if (
        priv === Priv.Supervisor &&
        (access === Access.Fetch || (csr.mstatusExtra & MSTATUS_SUM) === 0)
      ) {
        return PAGE_FAULT[access];
      }
    } else if (priv === Priv.User) {
      return PAGE_FAULT[access];
    }
    if (access === Access.Fetch) {
      if ((pte & PTE_X) === 0) return PAGE_FAULT[access];
    } else if (access === Access.Load) {
      const readable =
        (pte & PTE_R) !== 0 || ((csr.mstatusExtra & MSTATUS_MXR) !== 0 && (pte & PTE_X) !== 0);
      if (!readable) return PAGE_FAULT[access];
    } else if ((pte & PTE_W) === 0) {
      return PAGE_FAULT[access];
    }
    // Accessed and dirty bits, updated by the hardware walker.
    const want = access === Access.Store ? PTE_A | PTE_D : PTE_A;
    if ((pte & want) !== want) {
      pte |= want;
      this.writePte(a, pte);
    }
    const ppn = pte >>> 10;
    const pageBase = superpage ? (ppn >>> 10) * 4194304 + (v & 0x3ff000) : ppn * 4096;
    if (pageBase >= TWO32) return ACCESS_FAULT[access];
    this.pa = (pageBase + (v & 0xfff)) >>> 0;
    // Cache it when the page is in the fast region.
    const off = pageBase - this.base;
    if (off >= 0 && off < this.size) {
      const i = vpn & TLB_MASK;
      this.dirty = true;
      if (access === Access.Fetch) {
        this.xTag[i] = vpn;
        this.xPage[i] = off;
      } else if (access === Access.Load) {
        this.rTag[i] = vpn;
        this.rPage[i] = off;
      } else {
        this.wTag[i] = vpn;
        this.wPage[i] = off;
        // A store also proves the page readable only if R is set (MXR aside): cache that too.
        if ((pte & PTE_R) !== 0) {
          this.rTag[i] = vpn;
          this.rPage[i] = off;
        }
      }
    }
    return -1;
  }
}
