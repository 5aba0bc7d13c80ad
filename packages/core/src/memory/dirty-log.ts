/**
 * The `bitmap` dirty tracker of one RAM region (KVM's dirty log, `KVM_GET_DIRTY_LOG`).
 */
import { InvalidArgumentError, hex } from "../errors";
import { checkPageCount } from "./bitmap";
import { DirtyOwnerSet } from "./dirty-owners";
import { PAGE_SIZE, type DirtyBitmap, type DirtyLog, type DirtyLogOwner } from "./types";

const TWO_POW_32 = 4294967296;

/** SWAR popcount, local so the hot sync loop does not go through a module binding. */
function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Dirty log: a page bitmap written while `logging` is true. `words` never changes identity. */
class PageDirtyLog implements DirtyLog {
  readonly kind = "bitmap" as const;
  readonly pageCount: number;
  readonly words: Uint32Array;
  logging = false;
  private readonly holders = new DirtyOwnerSet();
  /** Pages `sync` returned since logging turned on. */
  private synced = 0;

  constructor(pageCount: number) {
    this.pageCount = pageCount;
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
  }

  get owners(): DirtyLogOwner[] {
    return this.holders.list();
  }

  start(owner: DirtyLogOwner = "migration"): void {
    if (!this.holders.take(owner)) return;
    this.words.fill(0);
    this.synced = 0;
    this.logging = true;
  }

  stop(owner: DirtyLogOwner = "migration"): void {
    if (!this.holders.release(owner)) return;
    this.logging = false;
    this.synced = 0;
    this.words.fill(0);
  }

  dirtiedPages(): number {
    let n = this.synced;
    const words = this.words;
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) n += popcount32(words[i]);
    return n;
  }

  markPage(page: number): void {
    if (!this.logging) return;
    if (!(page >= 0 && page < this.pageCount) || page % 1 !== 0) {
      throw new InvalidArgumentError(
        `dirty-log page ${page} is outside the region's ${this.pageCount} pages`,
      );
    }
    this.words[Math.floor(page / 32)] |= 1 << (page & 31);
  }

  markOffset(offset: number): void {
    if (!this.logging) return;
    const page = offset < TWO_POW_32 ? offset >>> 12 : Math.floor(offset / PAGE_SIZE);
    if (page >= this.pageCount || !(offset >= 0)) {
      throw new InvalidArgumentError(
        `dirty-log offset ${hex(offset)} is outside the region's ${this.pageCount} pages`,
      );
    }
    this.words[Math.floor(page / 32)] |= 1 << (page & 31);
  }

  markRange(offset: number, length: number): void {
    if (!this.logging || length <= 0) return;
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    if (!(first >= 0) || last >= this.pageCount) {
      throw new InvalidArgumentError(
        `dirty-log range [${hex(offset)}, ${hex(offset + length)}) is outside the region's ${this.pageCount} pages`,
      );
    }
    const words = this.words;
    for (let p = first; p <= last; ) {
      const bit = p & 31;
      const span = Math.min(32 - bit, last - p + 1);
      const mask = span === 32 ? -1 : ((1 << span) - 1) << bit;
      words[Math.floor(p / 32)] |= mask;
      p += span;
    }
  }

  markVcpu(_vcpu: number, page: number): boolean {
    this.words[page >>> 5] |= 1 << (page & 31);
    return false;
  }

  sync(into: DirtyBitmap): number {
    if (into.pageCount !== this.pageCount) {
      throw new InvalidArgumentError(
        `dirty-log sync needs a bitmap of ${this.pageCount} pages, got ${into.pageCount}`,
      );
    }
    const src = this.words;
    const dst = into.words;
    let n = 0;
    for (let i = 0; i < src.length; i++) {
      const w = src[i];
      if (w !== 0) {
        dst[i] |= w;
        n += popcount32(w);
        src[i] = 0;
      }
    }
    this.synced += n;
    return n;
  }
}

/** Build a `bitmap` dirty tracker of `pageCount` pages, logging off. */
export function createDirtyLog(pageCount: number): DirtyLog {
  checkPageCount(pageCount, "dirty log");
  return new PageDirtyLog(pageCount);
}
