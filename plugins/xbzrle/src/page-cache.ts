/**
 * The XBZRLE page cache, with the behaviour of QEMU's migration/page_cache.c: direct-mapped,
 * one way, `slot = pageIndex & (slots - 1)`, entries tagged with the page and the generation
 * (dirty-sync count) they were last inserted or hit in.
 */

import { PageCacheConfigError, XbzrleArgumentError } from "./errors";

/** A slot holding another page is not replaced until it is this many generations old. */
export const CACHED_PAGE_LIFETIME = 2;

/** Counters of a {@link PageCache} since creation or the last resize. */
export interface PageCacheCounts {
  /** Number of slots (cache size / page size). */
  readonly slots: number;
  /** Slots that hold a page. */
  readonly used: number;
  /** `lookup` calls that found the page. */
  readonly hits: number;
  /** `lookup` calls that did not. */
  readonly misses: number;
  /** Successful inserts (including zero-page inserts). */
  readonly inserts: number;
  /** Inserts refused because the slot held another, still fresh page. */
  readonly refused: number;
}

/** A direct-mapped page cache. Page numbers are global page indexes (`ram_addr / pageSize`). */
export interface PageCache {
  /** Bytes per page. */
  readonly pageSize: number;
  /** Configured size in bytes (`slots * pageSize`). */
  readonly cacheSize: number;
  /** Number of slots, a power of two. */
  readonly slots: number;
  /**
   * Backing store of all slots: slot `s` occupies `[s * pageSize, (s + 1) * pageSize)`.
   * Empty until the first insert; replaced by `resize`.
   */
  readonly store: Uint8Array;
  /**
   * Looks up `page`. On a hit the slot's age becomes `generation` (QEMU's `cache_is_cached`).
   * For a slot filled by {@link PageCache.insertVersion} the bytes are meaningless: use
   * {@link PageCache.lookupOffset} and {@link PageCache.versionAt}.
   *
   * @returns a view of the cached copy (stable per slot, no allocation per call), or null
   */
  lookup(page: number, generation: number): Uint8Array | null;
  /**
   * Like {@link PageCache.lookup} but returns the cached copy's offset in {@link PageCache.store},
   * or -1 on a miss.
   */
  lookupOffset(page: number, generation: number): number;
  /** True when `page` is cached; changes no age and no counter. */
  has(page: number): boolean;
  /**
   * Copies `pageSize` bytes of `data` from `dataOff` into `page`'s slot with age `generation`.
   * Refused (false) when the slot holds a different page with
   * `age + CACHED_PAGE_LIFETIME > generation` (QEMU's `cache_insert` returning -1).
   */
  insert(page: number, data: Uint8Array, generation: number, dataOff?: number): boolean;
  /**
   * Caches `page` as a synthetic page *version* instead of bytes (the version path for synthetic
   * RAM: the copy is the content function's page at that version). Same slot, age and freshness
   * rule as {@link PageCache.insert}; allocates no byte store.
   *
   * @param version the page version, 0..2^32-1
   * @throws XbzrleArgumentError if `version` is not a uint32
   */
  insertVersion(page: number, version: number, generation: number): boolean;
  /**
   * The version cached in the slot at store offset `offset` (as returned by
   * {@link PageCache.lookupOffset}), or -1 when the slot holds bytes.
   */
  versionAt(offset: number): number;
  /**
   * Makes `page`'s cached copy a zero page (what QEMU does when it sends a zero page), with
   * the same freshness rule as {@link PageCache.insert}.
   */
  clearSlotToZero(page: number, generation: number): boolean;
  /**
   * Drops `page` from the cache when its slot holds it (the slot becomes empty); changes no
   * counter. Used when the receiver's copy moves on without the cache following it.
   *
   * @returns true when the page was cached
   */
  invalidate(page: number): boolean;
  /**
   * Changes the size. A different size drops every entry and the counters (as QEMU's
   * `xbzrle_cache_resize`); the same size keeps them. Callers must not resize while a
   * migration uses the cache.
   *
   * @throws PageCacheConfigError as {@link createPageCache}
   */
  resize(cacheSizeBytes: number): void;
  /** Current counters. */
  counts(): PageCacheCounts;
}

/**
 * Checks a cache configuration and returns the slot count.
 *
 * @throws PageCacheConfigError unless `pageSize` is a positive integer and `cacheSizeBytes` a
 *   whole number of pages, at least one, whose page count is a power of two
 */
export function pageCacheSlots(cacheSizeBytes: number, pageSize: number): number {
  if (!Number.isSafeInteger(pageSize) || pageSize <= 0) {
    throw new PageCacheConfigError(`page size: expected a positive integer, got ${pageSize}`);
  }
  if (!Number.isSafeInteger(cacheSizeBytes) || cacheSizeBytes < pageSize) {
    throw new PageCacheConfigError(
      `cache size: expected an integer of at least one page (${pageSize} bytes), got ${cacheSizeBytes}`,
    );
  }
  if (cacheSizeBytes % pageSize !== 0) {
    throw new PageCacheConfigError(
      `cache size: expected a multiple of the page size ${pageSize}, got ${cacheSizeBytes}`,
    );
  }
  const slots = cacheSizeBytes / pageSize;
  if (slots > 0x40000000 || (slots & (slots - 1)) !== 0) {
    throw new PageCacheConfigError(
      `cache size: the number of pages must be a power of two, got ${slots} pages ` +
        `(${cacheSizeBytes} bytes / ${pageSize})`,
    );
  }
  return slots;
}

const EMPTY = new Uint8Array(0);
const EMPTY_VERSIONS = new Float64Array(0);

class DirectMappedPageCache implements PageCache {
  readonly pageSize: number;
  cacheSize: number;
  slots: number;
  store: Uint8Array = EMPTY;
  private mask: number;
  /** Page number held by each slot, -1 when empty. */
  private addr: Float64Array;
  /** Generation of each slot's last insert or hit. */
  private age: Float64Array;
  private views: (Uint8Array | undefined)[];
  /** Version held by each slot (-1: the slot holds bytes); allocated on the first version insert. */
  private slotVersion: Float64Array = EMPTY_VERSIONS;
  private used = 0;
  private hits = 0;
  private misses = 0;
  private inserts = 0;
  private refused = 0;

  private readonly allocateStore: (bytes: number) => Uint8Array;

  constructor(
    cacheSizeBytes: number,
    pageSize: number,
    allocateStore: (bytes: number) => Uint8Array,
  ) {
    const slots = pageCacheSlots(cacheSizeBytes, pageSize);
    this.allocateStore = allocateStore;
    this.pageSize = pageSize;
    this.cacheSize = cacheSizeBytes;
    this.slots = slots;
    this.mask = slots - 1;
    this.addr = new Float64Array(slots).fill(-1);
    this.age = new Float64Array(slots);
    this.views = new Array<Uint8Array | undefined>(slots);
  }

  private slotOf(page: number): number {
    if (!(page >= 0) || !Number.isSafeInteger(page)) {
      throw new XbzrleArgumentError(`page: expected a non-negative integer index, got ${page}`);
    }
    // `page & mask` is wrong above 2^31; the modulo of a safe integer by a power of two is exact.
    return page < 0x80000000 ? page & this.mask : page % this.slots;
  }

  lookupOffset(page: number, generation: number): number {
    const slot = this.slotOf(page);
    if (this.addr[slot] === page) {
      this.age[slot] = generation;
      this.hits++;
      return slot * this.pageSize;
    }
    this.misses++;
    return -1;
  }

  lookup(page: number, generation: number): Uint8Array | null {
    const off = this.lookupOffset(page, generation);
    if (off < 0) {
      return null;
    }
    return this.viewOf(off / this.pageSize);
  }

  has(page: number): boolean {
    return this.addr[this.slotOf(page)] === page;
  }

  private viewOf(slot: number): Uint8Array {
    let v = this.views[slot];
    if (v === undefined) {
      // A slot holding a version has no bytes yet: give its view a real (zero) store.
      if (this.store.length === 0) {
        this.store = this.allocateStore(this.cacheSize);
      }
      const off = slot * this.pageSize;
      v = this.store.subarray(off, off + this.pageSize);
      this.views[slot] = v;
    }
    return v;
  }

  /** Claims `page`'s slot if allowed; returns its store offset or -1 when refused. */
  private claim(page: number, generation: number): number {
    const slot = this.slotOf(page);
    const held = this.addr[slot];
    if (held !== -1 && held !== page && this.age[slot] + CACHED_PAGE_LIFETIME > generation) {
      this.refused++;
      return -1;
    }
    if (held === -1) {
      this.used++;
    }
    this.addr[slot] = page;
    this.age[slot] = generation;
    this.inserts++;
    return slot * this.pageSize;
  }

  insert(page: number, data: Uint8Array, generation: number, dataOff = 0): boolean {
    const ps = this.pageSize;
    if (!Number.isInteger(dataOff) || dataOff < 0 || dataOff + ps > data.length) {
      throw new XbzrleArgumentError(
        `insert: expected ${ps} bytes at offset ${dataOff} within a buffer of ${data.length} bytes`,
      );
    }
    const off = this.claimBytes(page, generation);
    if (off < 0) {
      return false;
    }
    if (dataOff === 0 && data.length === ps) {
      this.store.set(data, off);
    } else {
      this.store.set(data.subarray(dataOff, dataOff + ps), off);
    }
    return true;
  }

  /** Claims a slot for bytes: allocates the store on first use and marks the slot as bytes. */
  private claimBytes(page: number, generation: number): number {
    const off = this.claim(page, generation);
    if (off < 0) {
      return -1;
    }
    if (this.store.length === 0) {
      this.store = this.allocateStore(this.cacheSize);
    }
    if (this.slotVersion.length !== 0) {
      this.slotVersion[off / this.pageSize] = -1;
    }
    return off;
  }

  insertVersion(page: number, version: number, generation: number): boolean {
    if (!(version >= 0 && version <= 0xffffffff) || version % 1 !== 0) {
      throw new XbzrleArgumentError(
        `insertVersion: expected a page version in 0..4294967295, got ${version}`,
      );
    }
    const off = this.claim(page, generation);
    if (off < 0) {
      return false;
    }
    if (this.slotVersion.length === 0) {
      this.slotVersion = new Float64Array(this.slots).fill(-1);
    }
    this.slotVersion[off / this.pageSize] = version;
    return true;
  }

  versionAt(offset: number): number {
    const v = this.slotVersion;
    return v.length === 0 ? -1 : v[offset / this.pageSize];
  }

  clearSlotToZero(page: number, generation: number): boolean {
    const off = this.claimBytes(page, generation);
    if (off < 0) {
      return false;
    }
    this.store.fill(0, off, off + this.pageSize);
    return true;
  }

  invalidate(page: number): boolean {
    const slot = this.slotOf(page);
    if (this.addr[slot] !== page) {
      return false;
    }
    this.addr[slot] = -1;
    this.used--;
    return true;
  }

  resize(cacheSizeBytes: number): void {
    const slots = pageCacheSlots(cacheSizeBytes, this.pageSize);
    if (cacheSizeBytes === this.cacheSize) {
      return;
    }
    this.cacheSize = cacheSizeBytes;
    this.slots = slots;
    this.mask = slots - 1;
    this.addr = new Float64Array(slots).fill(-1);
    this.age = new Float64Array(slots);
    this.views = new Array<Uint8Array | undefined>(slots);
    this.store = EMPTY;
    this.slotVersion = EMPTY_VERSIONS;
    this.used = 0;
    this.hits = 0;
    this.misses = 0;
    this.inserts = 0;
    this.refused = 0;
  }

  counts(): PageCacheCounts {
    return {
      slots: this.slots,
      used: this.used,
      hits: this.hits,
      misses: this.misses,
      inserts: this.inserts,
      refused: this.refused,
    };
  }
}

/**
 * Creates an empty page cache of `cacheSizeBytes` (QEMU's `xbzrle-cache-size`, default 64 MiB)
 * for pages of `pageSize` bytes. The backing store is allocated on the first insert.
 *
 * @param allocateStore allocates the zero-filled backing store (default: a plain `Uint8Array`);
 *   the XBZRLE encoder places it in its WebAssembly kernel's memory, so the cached copies are
 *   compared without being copied first
 * @throws PageCacheConfigError unless the size is a power-of-two number of pages, at least one
 */
export function createPageCache(
  cacheSizeBytes: number,
  pageSize: number,
  allocateStore: (bytes: number) => Uint8Array = allocatePlain,
): PageCache {
  return new DirectMappedPageCache(cacheSizeBytes, pageSize, allocateStore);
}

function allocatePlain(bytes: number): Uint8Array {
  return new Uint8Array(bytes);
}
