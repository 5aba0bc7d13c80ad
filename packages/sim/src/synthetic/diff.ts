/**
 * Which bytes differ between two versions of a synthetic page, computed from the content function
 * without materializing either page (see `docs/synthetic.md`, "Version diffs").
 *
 * Two non-zero versions share the page's base pattern, so their bytes can only differ where an
 * overlay of one of the two windows wrote: at most `2 × deltaWindow × ceil(bytesPerWrite / 8)`
 * 8-byte slots. For every byte of those slots the diff finds the overlay run each version shows
 * there (the last one written, or none = the base pattern); bytes showing the same run (or the base
 * in both) are equal without evaluating them, the others are computed and compared.
 *
 * Work is per 8-byte slot: each version's source of a slot is one overlay run (a full 8-byte run,
 * the last written), the base pattern, or a mix (a short last run of a write over something
 * else). Slots with the same single source in both versions are skipped; the others are computed
 * as two 32-bit words per version and XORed.
 */
import { PAGE_SIZE as PAGE_SIZE_ } from "@ferry/core";
import { type SyntheticContentParams, SyntheticContent } from "./content";
import { GOLDEN32 as GOLDEN32_, mix32 as mix32_ } from "./hash";

// Local bindings (module runners can turn imported bindings into getters on hot paths).
const GOLDEN32 = GOLDEN32_;
const mix32 = mix32_;
const PAGE_SIZE = PAGE_SIZE_;
const SLOTS = PAGE_SIZE / 8;
const SLOT_MASK = SLOTS - 1;
const SLOT_WORDS = SLOTS / 32;

/** Slot source: no overlay run (the base pattern). */
const NONE = -1;
/** Slot source: partly covered by a short run (replay the runs that hit it). */
const MIXED = -2;

/** Default bound on overlay runs a diff evaluates (beyond it `diff` returns -1). */
export const DEFAULT_MAX_DIFF_RUNS = 2048;

/** Most runs of differing bytes a page can have (runs are separated by an equal byte). */
export const MAX_DIFF_RUN_COUNT = PAGE_SIZE / 2;

/**
 * Evaluator of version diffs for one set of content parameters. A monomorphic hot-path object
 * with its own scratch: `diff` allocates nothing. Results live in {@link SyntheticDiff.starts},
 * {@link SyntheticDiff.ends} and {@link SyntheticDiff.newBytes} until the next call.
 */
export class SyntheticDiff {
  /** Start (byte offset in the page) of each run of differing bytes, ascending. */
  readonly starts = new Int32Array(MAX_DIFF_RUN_COUNT);
  /** Exclusive end of each run; runs never touch (an equal byte lies between two runs). */
  readonly ends = new Int32Array(MAX_DIFF_RUN_COUNT);
  /**
   * A page-sized buffer holding the bytes of the `to` version at every differing position of the
   * last diff (other positions hold stale data).
   */
  readonly newBytes = new Uint8Array(PAGE_SIZE);
  /** The content function evaluated. */
  readonly content: SyntheticContent;
  /** Overlay runs the diff accepts to evaluate (union of both windows × runs per write). */
  readonly maxRuns: number;

  private readonly runsPerWrite: number;
  private readonly bytesPerWrite: number;
  private readonly window: number;
  // Per overlay run of the union of both windows: slot, length, value words (lazy).
  private readonly entSlot: Int32Array;
  private readonly entLen: Int32Array;
  private readonly entHash: Int32Array;
  private readonly entLo: Int32Array;
  private readonly entHi: Int32Array;
  private readonly entStamp: Int32Array;
  // Per slot: which overlay run the `from` / `to` version shows there (valid when stamped).
  private readonly srcFrom = new Int32Array(SLOTS);
  private readonly stampFrom = new Int32Array(SLOTS);
  private readonly srcTo = new Int32Array(SLOTS);
  private readonly stampTo = new Int32Array(SLOTS);
  /** Candidate slots of the current diff, one bit per slot. */
  private readonly slotBits = new Int32Array(SLOT_WORDS);
  private epoch = 0;
  /** Result words of `slotValue` (low, high). */
  private readonly val = new Int32Array(2);

  /**
   * @param params content parameters (validated like the backend's)
   * @param maxRuns overlay runs above which `diff` gives up (returns -1); default
   *   {@link DEFAULT_MAX_DIFF_RUNS}
   */
  constructor(params: SyntheticContentParams, maxRuns = DEFAULT_MAX_DIFF_RUNS) {
    this.content = new SyntheticContent(params);
    this.runsPerWrite = this.content.runs;
    this.bytesPerWrite = params.bytesPerWrite;
    this.window = params.deltaWindow;
    this.maxRuns = maxRuns;
    this.entSlot = new Int32Array(maxRuns);
    this.entLen = new Int32Array(maxRuns);
    this.entHash = new Int32Array(maxRuns);
    this.entLo = new Int32Array(maxRuns);
    this.entHi = new Int32Array(maxRuns);
    this.entStamp = new Int32Array(maxRuns);
  }

  private nextEpoch(): number {
    let e = this.epoch + 1;
    if (e > 0x7ffffff0) {
      this.srcFrom.fill(0);
      this.stampFrom.fill(0);
      this.srcTo.fill(0);
      this.stampTo.fill(0);
      this.entStamp.fill(0);
      e = 1;
    }
    this.epoch = e;
    return e;
  }

  /**
   * The runs of bytes that differ between version `from` and version `to` of `page`, written to
   * {@link SyntheticDiff.starts} / {@link SyntheticDiff.ends} in ascending order, with the `to`
   * bytes of those runs in {@link SyntheticDiff.newBytes}.
   *
   * @returns the number of runs (0: identical content), or -1 when the diff is not sparse: exactly
   *   one of the versions is a zero page (the other differs almost everywhere), or the two windows
   *   hold more than `maxRuns` overlay runs. Callers then compare materialized pages.
   */
  diff(page: number, from: number, to: number): number {
    if (from === to) return 0;
    const content = this.content;
    const zeroFrom = content.isZeroVersion(page, from);
    const zeroTo = content.isZeroVersion(page, to);
    if (zeroFrom && zeroTo) return 0;
    if (zeroFrom || zeroTo) return -1;
    const w = this.window;
    const runs = this.runsPerWrite;
    const firstFrom = Math.max(from - w + 1, 1);
    const firstTo = Math.max(to - w + 1, 1);
    // The union of both windows as one or two version ranges [lo1, hi1], [lo2, hi2].
    let lo1: number;
    let hi1: number;
    let lo2 = 1;
    let hi2 = 0;
    const loA = Math.min(firstFrom, firstTo);
    const hiA = loA === firstFrom ? from : to;
    const loB = loA === firstFrom ? firstTo : firstFrom;
    const hiB = loA === firstFrom ? to : from;
    if (loB <= hiA + 1) {
      lo1 = loA;
      hi1 = Math.max(hiA, hiB);
    } else {
      lo1 = loA;
      hi1 = hiA;
      lo2 = loB;
      hi2 = hiB;
    }
    const n1 = hi1 - lo1 + 1;
    const nVersions = n1 + (hi2 >= lo2 ? hi2 - lo2 + 1 : 0);
    const nEnt = nVersions * runs;
    if (nEnt > this.maxRuns) return -1;

    const epoch = this.nextEpoch();
    const pageKey = content.pageKey(page);
    const total = this.bytesPerWrite;
    const entSlot = this.entSlot;
    const entLen = this.entLen;
    const entHash = this.entHash;
    const slotBits = this.slotBits;
    slotBits.fill(0);
    // Overlay runs of every version in the union (positions only; values on demand).
    for (let k = 0; k < nVersions; k++) {
      const u = k < n1 ? lo1 + k : lo2 + (k - n1);
      const vKey = content.versionKey(pageKey, u);
      const base = k * runs;
      for (let r = 0; r < runs; r++) {
        const h = mix32((vKey + Math.imul(r + 1, GOLDEN32)) >>> 0);
        const slot = h & SLOT_MASK;
        entSlot[base + r] = slot;
        entLen[base + r] = Math.min(total - r * 8, 8);
        entHash[base + r] = h;
        slotBits[slot >>> 5] |= 1 << (slot & 31);
      }
    }
    // Which run each version shows in every overlaid slot (oldest first, later runs win).
    const kFrom = firstFrom <= hi1 ? firstFrom - lo1 : n1 + (firstFrom - lo2);
    const kTo = firstTo <= hi1 ? firstTo - lo1 : n1 + (firstTo - lo2);
    const e0From = kFrom * runs;
    const e1From = (kFrom + from - firstFrom + 1) * runs;
    const e0To = kTo * runs;
    const e1To = (kTo + to - firstTo + 1) * runs;
    this.markSide(e0From, e1From, this.srcFrom, this.stampFrom);
    this.markSide(e0To, e1To, this.srcTo, this.stampTo);
    // Compare the two versions' 8 bytes in every candidate slot.
    const srcFrom = this.srcFrom;
    const stampFrom = this.stampFrom;
    const srcTo = this.srcTo;
    const stampTo = this.stampTo;
    const starts = this.starts;
    const ends = this.ends;
    const out = this.newBytes;
    let nRuns = 0;
    let runEnd = -1;
    const val = this.val;
    const entStamp = this.entStamp;
    const entLo = this.entLo;
    const entHi = this.entHi;
    // Candidate slots in ascending order: the set bits of the slot bitmap.
    for (let wi = 0; wi < SLOT_WORDS; wi++) {
      let bits = slotBits[wi];
      while (bits !== 0) {
        const low = bits & -bits;
        bits ^= low;
        const slot = wi * 32 + (31 - Math.clz32(low));
        const sf = stampFrom[slot] === epoch ? srcFrom[slot] : NONE;
        const st = stampTo[slot] === epoch ? srcTo[slot] : NONE;
        if (sf === st && sf !== MIXED) continue;
        let fLo: number;
        let fHi: number;
        let tLo: number;
        let tHi: number;
        if (sf >= 0 && st >= 0) {
          // Two different runs: the common case of overlapping windows.
          if (entStamp[sf] !== epoch) this.runWords(sf, epoch);
          if (entStamp[st] !== epoch) this.runWords(st, epoch);
          fLo = entLo[sf];
          fHi = entHi[sf];
          tLo = entLo[st];
          tHi = entHi[st];
        } else if (sf === NONE && st >= 0) {
          if (entStamp[st] !== epoch) this.runWords(st, epoch);
          fLo = mix32((pageKey + Math.imul(slot * 2 + 1, GOLDEN32)) >>> 0) | 0;
          fHi = mix32((pageKey + Math.imul(slot * 2 + 2, GOLDEN32)) >>> 0) | 0;
          tLo = entLo[st];
          tHi = entHi[st];
        } else if (st === NONE && sf >= 0) {
          if (entStamp[sf] !== epoch) this.runWords(sf, epoch);
          tLo = mix32((pageKey + Math.imul(slot * 2 + 1, GOLDEN32)) >>> 0) | 0;
          tHi = mix32((pageKey + Math.imul(slot * 2 + 2, GOLDEN32)) >>> 0) | 0;
          fLo = entLo[sf];
          fHi = entHi[sf];
        } else {
          this.slotValue(slot, sf, e0From, e1From, pageKey, epoch);
          fLo = val[0];
          fHi = val[1];
          this.slotValue(slot, st, e0To, e1To, pageKey, epoch);
          tLo = val[0];
          tHi = val[1];
        }
        const xLo = fLo ^ tLo;
        const xHi = fHi ^ tHi;
        if (xLo === 0 && xHi === 0) continue;
        const pos0 = slot * 8;
        for (let j = 0; j < 8; j++) {
          const shift = (j & 3) * 8;
          if ((((j < 4 ? xLo : xHi) >>> shift) & 0xff) === 0) continue;
          const pos = pos0 + j;
          out[pos] = ((j < 4 ? tLo : tHi) >>> shift) & 0xff;
          if (pos === runEnd) {
            runEnd = pos + 1;
            ends[nRuns - 1] = runEnd;
          } else {
            starts[nRuns] = pos;
            runEnd = pos + 1;
            ends[nRuns] = runEnd;
            nRuns++;
          }
        }
      }
    }
    return nRuns;
  }

  /**
   * Record, per slot, the run a version shows there: runs [e0, e1) in write order; a run of 8
   * bytes covers its slot (later runs win), a shorter one leaves it {@link MIXED}.
   */
  private markSide(e0: number, e1: number, src: Int32Array, stamp: Int32Array): void {
    const epoch = this.epoch;
    const entSlot = this.entSlot;
    const entLen = this.entLen;
    for (let e = e0; e < e1; e++) {
      const slot = entSlot[e];
      stamp[slot] = epoch;
      src[slot] = entLen[e] === 8 ? e : MIXED;
    }
  }

  /**
   * The 8 bytes of `slot` (little-endian words in `val`) for a version showing `src`
   * there: a run, the base pattern ({@link NONE}), or a mix ({@link MIXED}: the base replayed
   * with the version's runs [e0, e1) that hit the slot).
   */
  private slotValue(
    slot: number,
    src: number,
    e0: number,
    e1: number,
    pageKey: number,
    epoch: number,
  ): void {
    if (src >= 0) {
      this.runWords(src, epoch);
      this.val[0] = this.entLo[src];
      this.val[1] = this.entHi[src];
      return;
    }
    let lo = mix32((pageKey + Math.imul(slot * 2 + 1, GOLDEN32)) >>> 0) | 0;
    let hi = mix32((pageKey + Math.imul(slot * 2 + 2, GOLDEN32)) >>> 0) | 0;
    if (src === MIXED) {
      const entSlot = this.entSlot;
      const entLen = this.entLen;
      for (let e = e0; e < e1; e++) {
        if (entSlot[e] !== slot) continue;
        this.runWords(e, epoch);
        const len = entLen[e];
        if (len >= 4) {
          lo = this.entLo[e];
          const m = len === 8 ? -1 : (1 << ((len - 4) * 8)) - 1;
          hi = (hi & ~m) | (this.entHi[e] & m);
        } else {
          const m = (1 << (len * 8)) - 1;
          lo = (lo & ~m) | (this.entLo[e] & m);
        }
      }
    }
    this.val[0] = lo;
    this.val[1] = hi;
  }

  /** Compute the value words of overlay run `e` once per diff. */
  private runWords(e: number, epoch: number): void {
    if (this.entStamp[e] !== epoch) {
      this.entStamp[e] = epoch;
      const lo = mix32(this.entHash[e] ^ 0xa5a5a5a5);
      this.entLo[e] = lo;
      this.entHi[e] = mix32((lo + GOLDEN32) >>> 0);
    }
  }
}

/** Make a {@link SyntheticDiff} for the content parameters of a synthetic backend. */
export function createSyntheticDiff(
  params: SyntheticContentParams,
  maxRuns = DEFAULT_MAX_DIFF_RUNS,
): SyntheticDiff {
  return new SyntheticDiff(params, maxRuns);
}
