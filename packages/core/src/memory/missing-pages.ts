/**
 * The missing-page map of one RAM region: ferry's userfaultfd. A post-copy destination marks the
 * pages it does not have yet; a guest access (load, store, fetch, page-table walk) to such a page
 * leaves the guest with `ExitReason.PageMissing`, the vCPU loop parks that vCPU on the page and
 * tells the fault listener (the post-copy destination, which asks the source for the page), and
 * the vCPU resumes when the page lands ({@link MissingPages.arrived}).
 *
 * While nothing is missing ({@link MissingPages.count} = 0) backends keep their fast paths: the
 * map costs nothing outside post-copy.
 */
import { InvalidArgumentError } from "../errors";

/** Called once per fault: vCPU `vcpu` touched missing page `page` at virtual time `atNs`. */
export type PageFaultListener = (page: number, vcpu: number, atNs: number) => void;

/** Called when missing page `page` landed (before the vCPUs parked on it are woken). */
export type PageArrivalListener = (page: number) => void;

/** A vCPU parked on a missing page. */
interface Waiter {
  readonly page: number;
  readonly vcpu: number;
  readonly wake: () => void;
}

/** The missing pages of one RAM region (see the module comment). */
export class MissingPages {
  /** Pages covered. */
  readonly pageCount: number;
  /** Pages missing now. Backends test `count > 0` once per run before paying for any check. */
  count = 0;
  /**
   * True from {@link MissingPages.arm} to {@link MissingPages.disarm}: incoming pages are placed
   * only where a page is missing (userfaultfd's `UFFDIO_COPY` refuses a present page), so a late
   * copy never overwrites what the running guest wrote.
   */
  armed = false;
  private words: Uint32Array | null = null;
  private waiters: Waiter[] = [];
  private listener: PageFaultListener | null = null;
  private arrival: PageArrivalListener | null = null;

  /** A map of `pageCount` pages, nothing missing. */
  constructor(pageCount: number) {
    if (!Number.isSafeInteger(pageCount) || pageCount < 0) {
      throw new InvalidArgumentError(`missing-page map: page count must be >= 0, got ${pageCount}`);
    }
    this.pageCount = pageCount;
  }

  /**
   * Start post-copy on this region: incoming pages go only where a page is missing. `onFault`
   * hears every fault, `onArrival` every page that lands.
   */
  arm(onFault: PageFaultListener | null, onArrival: PageArrivalListener | null = null): void {
    this.armed = true;
    this.listener = onFault;
    this.arrival = onArrival;
    if (this.words === null) this.words = new Uint32Array(Math.ceil(this.pageCount / 32));
  }

  /** End post-copy: nothing is missing any more (the waiters, if any, stay parked). */
  disarm(): void {
    this.armed = false;
    this.listener = null;
    this.arrival = null;
  }

  /** Mark `page` missing (the region must be armed). */
  markMissing(page: number): void {
    const w = this.words;
    if (w === null || !this.armed) {
      throw new InvalidArgumentError("missing-page map: arm() it before marking pages missing");
    }
    if (!(page >= 0 && page < this.pageCount) || page % 1 !== 0) {
      throw new InvalidArgumentError(
        `missing-page map: page ${page} outside 0..${this.pageCount - 1}`,
      );
    }
    const bit = 1 << (page & 31);
    const i = page >>> 5;
    if ((w[i] & bit) === 0) {
      w[i] |= bit;
      this.count++;
    }
  }

  /** True when `page` is missing. */
  has(page: number): boolean {
    if (this.count === 0) return false;
    const w = this.words!;
    return (w[Math.floor(page / 32)] & (1 << (page & 31))) !== 0;
  }

  /**
   * Page `page` landed: clear it and wake every vCPU parked on it. Returns false when it was not
   * missing.
   */
  arrived(page: number): boolean {
    if (!this.has(page)) return false;
    const w = this.words!;
    w[Math.floor(page / 32)] &= ~(1 << (page & 31));
    this.count--;
    this.arrival?.(page);
    if (this.waiters.length > 0) {
      const still: Waiter[] = [];
      const woken: Waiter[] = [];
      for (const x of this.waiters) (x.page === page ? woken : still).push(x);
      if (woken.length > 0) {
        this.waiters = still;
        for (const x of woken) x.wake();
      }
    }
    return true;
  }

  /**
   * vCPU `vcpu` touched missing page `page` at `atNs`: park it (`wake` is called when the page
   * lands) and tell the fault listener.
   */
  fault(page: number, vcpu: number, atNs: number, wake: () => void): void {
    this.waiters.push({ page, vcpu, wake });
    this.listener?.(page, vcpu, atNs);
  }

  /** vCPUs parked now, as `{ vcpu, page }`. */
  parked(): readonly { readonly vcpu: number; readonly page: number }[] {
    return this.waiters.map((w) => ({ vcpu: w.vcpu, page: w.page }));
  }

  /** Every missing page, ascending (a fresh array; for tests and recovery). */
  missingPages(): number[] {
    const out: number[] = [];
    const w = this.words;
    if (w === null || this.count === 0) return out;
    for (let i = 0; i < w.length; i++) {
      let x = w[i];
      while (x !== 0) {
        const b = 31 - Math.clz32(x & -x);
        out.push(i * 32 + b);
        x &= x - 1;
      }
    }
    return out;
  }
}
