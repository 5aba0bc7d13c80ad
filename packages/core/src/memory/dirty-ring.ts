/**
 * KVM's dirty ring (`KVM_CAP_DIRTY_LOG_RING`): one ring of dirty-page entries per vCPU, shared by
 * every RAM region of a machine, and the `ring` dirty tracker of each region.
 *
 * A page's bit in its region's `words` means "dirtied since it was last reset" (KVM: the page is
 * write-enabled). The first store to a page whose bit is clear sets the bit and pushes a
 * (slot, page) entry onto the storing vCPU's ring. When the ring holds `size` entries the vCPU
 * must leave the guest (`ExitReason.DirtyRingFull`) and stays out until the ring has room.
 * A consumer **harvests** entries (KVM: marks them collected; here they are also recorded in
 * their region's pending set, which the next `sync` returns, so the migration never misses a
 * page) and then **resets** the rings (`KVM_RESET_DIRTY_RINGS`): harvested entries are freed
 * and their pages re-armed, so the next store to them pushes a new entry.
 */
import { InvalidArgumentError } from "../errors";
import { checkPageCount, popcount32 } from "./bitmap";
import { DirtyOwnerSet } from "./dirty-owners";
import { PAGE_SIZE, type DirtyBitmap, type DirtyLog, type DirtyLogOwner } from "./types";

/** Largest ring size, in entries (KVM's dirty rings are at most 64 Ki entries in QEMU). */
export const MAX_DIRTY_RING_SIZE = 65536;
/** QEMU's recommended `dirty-ring-size` (entries). */
export const DEFAULT_DIRTY_RING_SIZE = 4096;

/** Called with the vCPU index whenever a reset frees room in that vCPU's full ring. */
export type DirtyRingSpaceListener = (vcpu: number) => void;

/** Visits one harvested entry: the region's tracker and the page within it. */
export type DirtyRingVisitor = (log: DirtyLog, page: number) => void;

/** The per-vCPU dirty rings of one machine (KVM's per-VM set of `kvm_dirty_ring`s). */
export interface DirtyRings {
  /** Capacity of each ring, in entries. */
  readonly size: number;
  /** Number of vCPUs (rings). */
  readonly vcpuCount: number;
  /** Entries in `vcpu`'s ring that a reset has not freed yet (harvested or not). */
  count(vcpu: number): number;
  /** True when `vcpu`'s ring holds `size` entries: the vCPU may not enter the guest. */
  isFull(vcpu: number): boolean;
  /** Entries ever pushed onto `vcpu`'s ring (monotonic: dirty-rate estimators difference it). */
  pushed(vcpu: number): number;
  /** Ring-full events of `vcpu` so far (pushes that filled its ring). */
  fullEvents(vcpu: number): number;
  /**
   * Harvest `vcpu`'s not-yet-harvested entries, oldest first: each is recorded in its region's
   * pending set (returned by the next `sync`) and passed to `visit`. Returns how many. The
   * entries keep their ring slots until {@link DirtyRings.reset}.
   */
  harvest(vcpu: number, visit?: DirtyRingVisitor): number;
  /**
   * `KVM_RESET_DIRTY_RINGS`: free every harvested entry of every ring and re-arm its page (clear
   * its bit), then tell the space listener about each vCPU whose full ring now has room.
   * Returns the number of entries freed.
   */
  reset(): number;
  /** Harvest every ring, then reset (QEMU's `kvm_dirty_ring_reap`). Returns entries harvested. */
  reap(): number;
  /** Set the listener told when a full ring gets room (the vCPU loop's wake-up); null removes it. */
  setSpaceListener(vcpu: number, listener: DirtyRingSpaceListener | null): void;
  /** Build the `ring` dirty tracker of a region of `pageCount` pages (logging off). */
  createTracker(pageCount: number): DirtyLog;
}

/** Options of {@link createDirtyRings}. */
export interface DirtyRingsOptions {
  /** Number of vCPUs (one ring each), 1..1024. */
  readonly vcpuCount: number;
  /** Entries per ring, a power of two in 1..{@link MAX_DIRTY_RING_SIZE}. Default {@link DEFAULT_DIRTY_RING_SIZE}. */
  readonly size?: number;
}

/** Check a ring size: a power of two in 1..MAX_DIRTY_RING_SIZE. */
export function checkDirtyRingSize(size: number): void {
  if (
    !Number.isInteger(size) ||
    size < 1 ||
    size > MAX_DIRTY_RING_SIZE ||
    (size & (size - 1)) !== 0
  ) {
    throw new InvalidArgumentError(
      `dirty ring size must be a power of two in 1..${MAX_DIRTY_RING_SIZE} entries, got ${size}`,
    );
  }
}

/** One vCPU's ring: entries `[head, tail)` are live, `[head, harvested)` are harvested. Monotonic indices. */
interface Ring {
  readonly slot: Int32Array;
  readonly page: Int32Array;
  head: number;
  harvested: number;
  tail: number;
  fulls: number;
  listener: DirtyRingSpaceListener | null;
}

class DirtyRingSet implements DirtyRings {
  readonly size: number;
  readonly vcpuCount: number;
  private readonly mask: number;
  private readonly rings: Ring[];
  /** Trackers by slot id (entries name their region by slot). */
  readonly trackers: RingDirtyLog[] = [];

  constructor(vcpuCount: number, size: number) {
    this.size = size;
    this.vcpuCount = vcpuCount;
    this.mask = size - 1;
    this.rings = [];
    for (let i = 0; i < vcpuCount; i++) {
      this.rings.push({
        slot: new Int32Array(size),
        page: new Int32Array(size),
        head: 0,
        harvested: 0,
        tail: 0,
        fulls: 0,
        listener: null,
      });
    }
  }

  private ring(vcpu: number): Ring {
    const r = this.rings[vcpu];
    if (r === undefined) {
      throw new InvalidArgumentError(
        `dirty ring of vCPU ${vcpu} does not exist: expected 0..${this.vcpuCount - 1}`,
      );
    }
    return r;
  }

  count(vcpu: number): number {
    const r = this.ring(vcpu);
    return r.tail - r.head;
  }

  isFull(vcpu: number): boolean {
    const r = this.ring(vcpu);
    return r.tail - r.head >= this.size;
  }

  pushed(vcpu: number): number {
    return this.ring(vcpu).tail;
  }

  fullEvents(vcpu: number): number {
    return this.ring(vcpu).fulls;
  }

  /**
   * Push (slot, page) onto `vcpu`'s ring. Returns true when the ring is full afterwards. A push
   * onto a ring that is already full (a backend that did not exit) cannot be stored: the page
   * goes straight to its region's pending set, so it is never lost.
   */
  push(vcpu: number, tracker: RingDirtyLog, page: number): boolean {
    const r = this.rings[vcpu];
    if (r === undefined) {
      throw new InvalidArgumentError(
        `dirty ring of vCPU ${vcpu} does not exist: expected 0..${this.vcpuCount - 1}`,
      );
    }
    if (r.tail - r.head >= this.size) {
      tracker.pending[page >>> 5] |= 1 << (page & 31);
      return true;
    }
    const i = r.tail & this.mask;
    r.slot[i] = tracker.slotId;
    r.page[i] = page;
    r.tail++;
    if (r.tail - r.head >= this.size) {
      r.fulls++;
      return true;
    }
    return false;
  }

  harvest(vcpu: number, visit?: DirtyRingVisitor): number {
    const r = this.ring(vcpu);
    const trackers = this.trackers;
    const mask = this.mask;
    const n = r.tail - r.harvested;
    for (let k = r.harvested; k < r.tail; k++) {
      const i = k & mask;
      const t = trackers[r.slot[i]];
      const p = r.page[i];
      t.pending[p >>> 5] |= 1 << (p & 31);
      if (visit !== undefined) visit(t, p);
    }
    r.harvested = r.tail;
    return n;
  }

  reset(): number {
    const trackers = this.trackers;
    const mask = this.mask;
    let freed = 0;
    for (let v = 0; v < this.rings.length; v++) {
      const r = this.rings[v];
      if (r.harvested === r.head) continue;
      const wasFull = r.tail - r.head >= this.size;
      for (let k = r.head; k < r.harvested; k++) {
        const i = k & mask;
        const p = r.page[i];
        trackers[r.slot[i]].words[p >>> 5] &= ~(1 << (p & 31));
      }
      freed += r.harvested - r.head;
      r.head = r.harvested;
      if (wasFull && r.listener !== null) r.listener(v);
    }
    return freed;
  }

  reap(): number {
    let n = 0;
    for (let v = 0; v < this.rings.length; v++) n += this.harvest(v);
    this.reset();
    return n;
  }

  setSpaceListener(vcpu: number, listener: DirtyRingSpaceListener | null): void {
    this.ring(vcpu).listener = listener;
  }

  createTracker(pageCount: number): DirtyLog {
    checkPageCount(pageCount, "dirty ring tracker");
    const t = new RingDirtyLog(this, this.trackers.length, pageCount);
    this.trackers.push(t);
    return t;
  }
}

/**
 * The `ring` tracker of one region. `words`: pages dirtied since their last reset (a ring entry
 * exists or existed for each, or a backend marked the bit inline). `pending`: pages harvested from
 * rings or marked by the VMM, which the next `sync` returns.
 */
class RingDirtyLog implements DirtyLog {
  readonly kind = "ring" as const;
  readonly pageCount: number;
  readonly words: Uint32Array;
  readonly pending: Uint32Array;
  readonly slotId: number;
  logging = false;
  private readonly rings: DirtyRingSet;

  constructor(rings: DirtyRingSet, slotId: number, pageCount: number) {
    this.rings = rings;
    this.slotId = slotId;
    this.pageCount = pageCount;
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
    this.pending = new Uint32Array(this.words.length);
  }

  private clear(): void {
    // Entries of this region still in rings are harvested (and freed) first, so none is left
    // to re-arm a page of the new logging period.
    this.rings.reap();
    this.words.fill(0);
    this.pending.fill(0);
  }

  private readonly holders = new DirtyOwnerSet();
  /** Pages `sync` returned since logging turned on. */
  private synced = 0;

  get owners(): DirtyLogOwner[] {
    return this.holders.list();
  }

  start(owner: DirtyLogOwner = "migration"): void {
    if (!this.holders.take(owner)) return;
    this.clear();
    this.synced = 0;
    this.logging = true;
  }

  stop(owner: DirtyLogOwner = "migration"): void {
    if (!this.holders.release(owner)) return;
    this.logging = false;
    this.synced = 0;
    this.clear();
  }

  dirtiedPages(): number {
    // Ring entries move to `pending` (nothing is lost: the next sync returns them).
    this.rings.reap();
    let n = this.synced;
    const words = this.words;
    const pending = this.pending;
    for (let i = 0; i < words.length; i++) {
      const w = words[i] | pending[i];
      if (w !== 0) n += popcount32(w);
    }
    return n;
  }

  private checkPage(page: number, what: string): void {
    if (!(page >= 0 && page < this.pageCount) || page % 1 !== 0) {
      throw new InvalidArgumentError(
        `dirty-ring ${what} page ${page} is outside the region's ${this.pageCount} pages`,
      );
    }
  }

  markPage(page: number): void {
    if (!this.logging) return;
    this.checkPage(page, "mark");
    this.pending[Math.floor(page / 32)] |= 1 << (page & 31);
  }

  markOffset(offset: number): void {
    if (!this.logging) return;
    if (!(offset >= 0)) this.checkPage(-1, "mark");
    this.markPage(Math.floor(offset / PAGE_SIZE));
  }

  markRange(offset: number, length: number): void {
    if (!this.logging || length <= 0) return;
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    this.checkPage(first, "range");
    this.checkPage(last, "range");
    for (let p = first; p <= last; p++) this.pending[Math.floor(p / 32)] |= 1 << (p & 31);
  }

  markVcpu(vcpu: number, page: number): boolean {
    this.words[page >>> 5] |= 1 << (page & 31);
    return this.rings.push(vcpu, this, page);
  }

  sync(into: DirtyBitmap): number {
    if (into.pageCount !== this.pageCount) {
      throw new InvalidArgumentError(
        `dirty-ring sync needs a bitmap of ${this.pageCount} pages, got ${into.pageCount}`,
      );
    }
    // Every ring is harvested and reset: each entry is now in its region's pending set and its
    // page re-armed. A bit still set in `words` was marked inline without a ring entry: it is
    // dirty too, and is re-armed here.
    this.rings.reap();
    const words = this.words;
    const pending = this.pending;
    const dst = into.words;
    let n = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i] | pending[i];
      if (w !== 0) {
        dst[i] |= w;
        n += popcount32(w);
        words[i] = 0;
        pending[i] = 0;
      }
    }
    this.synced += n;
    return n;
  }
}

/** Build the dirty rings of a machine with `vcpuCount` vCPUs (all empty). */
export function createDirtyRings(options: DirtyRingsOptions): DirtyRings {
  const { vcpuCount } = options;
  const size = options.size ?? DEFAULT_DIRTY_RING_SIZE;
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > 1024) {
    throw new InvalidArgumentError(`dirty rings need 1..1024 vCPUs, got ${vcpuCount}`);
  }
  checkDirtyRingSize(size);
  return new DirtyRingSet(vcpuCount, size);
}
