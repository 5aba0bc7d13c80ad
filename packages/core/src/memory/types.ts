/**
 * Guest-physical memory contracts: RAM backends, regions, the address space,
 * the dirty log, and MMIO devices.
 */

import type { MissingPages } from "./missing-pages";

/** Target page size in bytes (dirty-log and migration granularity). */
export const PAGE_SIZE = 4096;
/** log2(PAGE_SIZE). */
export const PAGE_SHIFT = 12;

/** Where a RAM region's bytes live. */
export type RamBackendKind = "array" | "shared" | "synthetic";

/**
 * Pages kept as versions of a pure content function instead of bytes (the simulator's synthetic
 * RAM, `@ferry/sim`, implements it; core defines only the shape). A backend offering it lets a
 * migration read a page's version without its bytes, materialize the bytes only when needed, and
 * carry a page in its compact form on a compact link (`RamFlag.COMPACT` records): the form's bytes
 * are the backend's business, the framework only copies `compactBytes` of them.
 */
export interface VersionedPages {
  /** The per-page versions (read on the migration hot path; write through `readCompact`). */
  readonly versions: Uint32Array;
  /** True when (page, version) is all zero bytes. */
  isZeroVersion(page: number, version: number): boolean;
  /** Write the PAGE_SIZE bytes of (page, version) into `out` at `outOffset` (default 0). */
  materializePage(page: number, version: number, out: Uint8Array, outOffset?: number): void;
  /** Length of a page's compact form in bytes (at most 64). */
  readonly compactBytes: number;
  /** Write the compact form of (page, version) at `buf[pos]` (`compactBytes` bytes). */
  writeCompact(page: number, version: number, buf: Uint8Array, pos: number): void;
  /** Apply the compact form at `buf[pos]` to `page` (throw a clear error on a bad form). */
  readCompact(page: number, buf: Uint8Array, pos: number): void;
}

/**
 * Storage behind a RAM/ROM region. `array` and `shared` expose `bytes` for
 * direct (fast-path) access; `synthetic` (sparse) has `bytes === null` and is
 * accessed only through the methods.
 */
export interface RamBackend {
  readonly kind: RamBackendKind;
  /** Size in bytes (a multiple of PAGE_SIZE). */
  readonly size: number;
  /** The bytes, for backends that store them; null for sparse backends. */
  readonly bytes: Uint8Array | null;
  /** Copy `out.length` bytes starting at `offset` into `out`. */
  read(offset: number, out: Uint8Array): void;
  /** Copy `src` into the backend at `offset` (no dirty marking: the region does that). */
  write(offset: number, src: Uint8Array): void;
  /** True when the page is all zero bytes. */
  isZeroPage(page: number): boolean;
  /** Little-endian loads/stores (used when `bytes` is null). */
  load(offset: number, size: 1 | 2 | 4): number;
  store(offset: number, size: 1 | 2 | 4, value: number): void;
  /** Present when the backend keeps pages as versions (see {@link VersionedPages}). */
  readonly versioned?: VersionedPages;
}

/** How a RAM region's dirty pages are tracked: a KVM dirty bitmap, or KVM's per-vCPU dirty ring. */
export type DirtyTrackingKind = "bitmap" | "ring";

/**
 * Who holds a dirty log on, QEMU's `GLOBAL_DIRTY_*` flags: a migration (`GLOBAL_DIRTY_MIGRATION`),
 * a dirty-rate measurement (`GLOBAL_DIRTY_DIRTY_RATE`) or the dirty-limit throttle
 * (`GLOBAL_DIRTY_LIMIT`). Logging stays on while any of them holds it, so ending one never turns
 * tracking off under another (a migration's pages dirtied meanwhile would never be resent).
 */
export type DirtyLogOwner = "migration" | "dirty-rate" | "dirty-limit";

/** Every {@link DirtyLogOwner}, in the order `DirtyLog.owners` lists them. */
export const DIRTY_LOG_OWNERS: readonly DirtyLogOwner[] = [
  "migration",
  "dirty-rate",
  "dirty-limit",
];

/**
 * The dirty tracker of one RAM region (KVM's dirty log, pluggable): one bit per 4 KiB page in
 * `words`, tested by every guest store while logging is on. Two implementations:
 *
 * - `bitmap` (`KVM_GET_DIRTY_LOG`): a store sets the page's bit; `sync` fetches and clears it.
 * - `ring` (`KVM_CAP_DIRTY_LOG_RING`): the bit means "dirtied since last reset"; the first store
 *   to a clear page also pushes a (region, page) entry onto the storing vCPU's ring, and a full
 *   ring makes that vCPU leave the guest (`ExitReason.DirtyRingFull`) until it is harvested
 *   and reset (see {@link DirtyRings}).
 *
 * CPU backends mark a store with the same test-and-set on both: if the page's bit is clear,
 * call {@link DirtyLog.markVcpu}; it returns true when the vCPU must exit.
 */
export interface DirtyLog {
  /** Which tracker this is. */
  readonly kind: DirtyTrackingKind;
  /** Pages covered. */
  readonly pageCount: number;
  /**
   * The raw bitmap words (bit `p & 31` of word `p >>> 5` is page `p`). Stable identity: backends
   * cache it. A set bit means the page needs no further marking until the next sync/reset.
   */
  readonly words: Uint32Array;
  /** True while logging is on (some owner holds it). */
  readonly logging: boolean;
  /** Who holds logging on, in {@link DIRTY_LOG_OWNERS} order (empty when it is off). */
  readonly owners: readonly DirtyLogOwner[];
  /**
   * `owner` (default `"migration"`) holds logging on. When logging was off it turns on with a clean
   * bitmap; when another owner already holds it nothing pending is dropped (that owner's next
   * `sync` still returns it). Idempotent per owner.
   */
  start(owner?: DirtyLogOwner): void;
  /**
   * `owner` (default `"migration"`) lets go; logging turns off, and the bitmap is cleared, only
   * when no owner is left (QEMU's `global_dirty_log_change`). A no-op for an owner not holding it.
   */
  stop(owner?: DirtyLogOwner): void;
  /**
   * Pages newly dirtied since logging last turned on (0 while it is off): every page `sync`
   * returned plus those pending now. Counting takes nothing away (the owner that syncs still gets
   * every page): this is how a dirty-rate measurement shares the log with a migration.
   */
  dirtiedPages(): number;
  /** Mark page `page` (no-op when logging is off). Works for regions larger than 4 GiB. */
  markPage(page: number): void;
  /** Mark the page holding byte `offset` (no-op when logging is off). Offsets may exceed 2^32 (use division, not shifts). */
  markOffset(offset: number): void;
  /** Mark every page touching `[offset, offset + length)` (no-op when logging is off). */
  markRange(offset: number, length: number): void;
  /**
   * A store by vCPU `vcpu` dirtied page `page` whose bit in `words` the caller found clear (the
   * fast path is `if ((words[p >>> 5] & (1 << (p & 31))) === 0 && log.markVcpu(v, p)) exit`).
   * Sets the bit; the ring tracker also pushes an entry onto the vCPU's ring. Returns true when
   * that ring is now full: the vCPU must leave the guest with `ExitReason.DirtyRingFull`. The
   * caller checks `logging` first; the page must be in range (not checked: hot path).
   */
  markVcpu(vcpu: number, page: number): boolean;
  /**
   * Fetch-and-clear: OR the log into `into` and clear the log. Returns how many
   * pages were dirtied in the period (set in the log), KVM_GET_DIRTY_LOG style.
   */
  sync(into: DirtyBitmap): number;
}

/** A word-array page bitmap with fast scans (Math.clz32-style, never per-bit loops over clean words). */
export interface DirtyBitmap {
  readonly pageCount: number;
  readonly words: Uint32Array;
  get(page: number): boolean;
  set(page: number): void;
  clear(page: number): void;
  /** Set every page. */
  setAll(): void;
  /** Clear every page. */
  clearAll(): void;
  /** Number of set pages. */
  count(): number;
  /** First set page at or after `from`, or -1. */
  nextSet(from: number): number;
}

/** Context given to an MMIO access. */
export interface MmioAccess {
  /** vCPU index doing the access, or -1 for the VMM. */
  readonly hartId: number;
  /** Virtual time of the access (ns). */
  readonly nowNs: number;
}

/** Plain-data device state (JSON-compatible), migrated in device sections. */
export type DeviceState = Record<string, unknown>;

/** A memory-mapped device. Offsets are relative to the region base. */
export interface MmioDevice {
  /** Unique id, also its migration section id (e.g. `uart0`). */
  readonly id: string;
  read(offset: number, size: 1 | 2 | 4, access: MmioAccess): number;
  write(offset: number, size: 1 | 2 | 4, value: number, access: MmioAccess): void;
  /** Save state as plain data. */
  saveState(): DeviceState;
  /** Restore from `saveState` output (validates; throws a clear error). */
  loadState(state: DeviceState): void;
}

/** A RAM or ROM region. ROM is RAM the guest cannot store to. */
export interface RamRegion {
  readonly kind: "ram";
  /** Block id (QEMU's idstr), e.g. `ram`. Unique in the address space. */
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly readonly: boolean;
  readonly backend: RamBackend;
  readonly dirty: DirtyLog;
  /**
   * Pages this region does not have yet (a post-copy destination; see `MissingPages`). Regions
   * made by `addRam` always have one (empty); absent on hand-made regions.
   */
  readonly missing?: MissingPages;
}

/** An MMIO region routed to a device. */
export interface MmioRegion {
  readonly kind: "mmio";
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

export type MemoryRegion = RamRegion | MmioRegion;

/** The guest-physical address space. Addresses are unsigned 32-bit numbers (0..2^32-1) for RV32 guests, larger for synthetic RAM. */
export interface AddressSpace {
  /** All regions sorted by base. */
  readonly regions: readonly MemoryRegion[];
  /** RAM/ROM regions in map order (migration iterates these). */
  readonly ramRegions: readonly RamRegion[];
  /** Region containing `addr`, or undefined. Fast (cached last hit, then binary search). */
  find(addr: number): MemoryRegion | undefined;
  /** VMM read of guest RAM (throws a clear error outside RAM). */
  readBytes(addr: number, out: Uint8Array): void;
  /** VMM write into guest RAM/ROM (marks the dirty log; throws a clear error outside RAM). */
  writeBytes(addr: number, src: Uint8Array): void;
}
