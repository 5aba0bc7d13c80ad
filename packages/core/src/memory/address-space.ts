/**
 * The guest-physical address space: RAM/ROM and MMIO regions at fixed bases.
 */
import { InvalidArgumentError, MemoryAccessError, hex } from "../errors";
import { createDirtyLog } from "./dirty-log";
import { MissingPages } from "./missing-pages";
import {
  PAGE_SIZE,
  type AddressSpace,
  type DirtyLog,
  type MemoryRegion,
  type MmioDevice,
  type MmioRegion,
  type RamBackend,
  type RamRegion,
} from "./types";

/** Options of {@link MutableAddressSpace.addRam}. */
export interface AddRamOptions {
  /** Unique block id (QEMU's idstr), e.g. `ram`. */
  readonly name: string;
  /** Guest-physical base (page aligned). */
  readonly base: number;
  /** Size in bytes; must equal `backend.size`. */
  readonly size: number;
  readonly backend: RamBackend;
  /** ROM: the guest cannot store to it (VMM writes still work). Default false. */
  readonly readonly?: boolean;
  /**
   * The region's dirty tracker (`size / PAGE_SIZE` pages, logging off), e.g. one made by
   * `DirtyRings.createTracker`. Default: a `bitmap` tracker.
   */
  readonly dirty?: DirtyLog;
}

/** Options of {@link MutableAddressSpace.addMmio}. */
export interface AddMmioOptions {
  /** Unique region name. */
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

/**
 * An {@link AddressSpace} that regions can be added to.
 *
 * **Guest access contract.** A CPU backend may read and write
 * `ramRegion.backend.bytes` directly (when it is not null). After a direct store at
 * region offset `off` it must mark the page dirty **only when `ramRegion.dirty.logging`
 * is true**, with the tracker's test-and-set: when bit `(off >>> 12) & 31` of
 * `dirty.words[off >>> 17]` is clear, call `dirty.markVcpu(hartId, off >>> 12)`, and leave the
 * guest with `ExitReason.DirtyRingFull` when it returns true (a dirty-ring tracker whose ring
 * is full). A backend may cache `dirty.words` (its identity never changes) and read
 * `dirty.logging` once at the start of each `VcpuCore.run`: logging is never switched on or
 * off during a run. (Setting the bit inline without `markVcpu` still records the page for
 * `sync` on both trackers, but a ring tracker then gets no ring entry for it.)
 * Stores to a `readonly` region must not change the bytes. Accesses to MMIO regions
 * leave the run with an `Mmio` exit; the vCPU loop routes them to the region's device.
 */
export interface MutableAddressSpace extends AddressSpace {
  /** Map a RAM/ROM region and give it a dirty log (logging off). */
  addRam(opts: AddRamOptions): RamRegion;
  /** Map an MMIO region routed to `device`. */
  addMmio(opts: AddMmioOptions): MmioRegion;
  /** The RAM region named `name`, or undefined. */
  ramByName(name: string): RamRegion | undefined;
}

function checkName(name: string, regions: readonly MemoryRegion[]): void {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidArgumentError(
      `region name must be a non-empty string, got ${JSON.stringify(name)}`,
    );
  }
  if (regions.some((r) => r.name === name)) {
    throw new InvalidArgumentError(`region name "${name}" is already used in the address space`);
  }
}

function checkSpan(name: string, base: number, size: number): void {
  if (!Number.isSafeInteger(base) || base < 0) {
    throw new InvalidArgumentError(
      `region "${name}": base must be a non-negative integer, got ${base}`,
    );
  }
  if (!Number.isSafeInteger(size) || size <= 0 || !Number.isSafeInteger(base + size)) {
    throw new InvalidArgumentError(
      `region "${name}": size must be a positive integer, got ${size}`,
    );
  }
}

class AddressSpaceImpl implements MutableAddressSpace {
  regions: MemoryRegion[] = [];
  ramRegions: RamRegion[] = [];
  private bases: number[] = [];
  private ends: number[] = [];
  private last = -1;

  private insert(region: MemoryRegion): void {
    const end = region.base + region.size;
    for (const r of this.regions) {
      if (region.base < r.base + r.size && r.base < end) {
        throw new InvalidArgumentError(
          `region "${region.name}" [${hex(region.base)}, ${hex(end)}) overlaps region "${r.name}" [${hex(r.base)}, ${hex(r.base + r.size)})`,
        );
      }
    }
    this.regions = [...this.regions, region].sort((a, b) => a.base - b.base);
    this.bases = this.regions.map((r) => r.base);
    this.ends = this.regions.map((r) => r.base + r.size);
    this.last = -1;
    if (region.kind === "ram") this.ramRegions = [...this.ramRegions, region];
  }

  addRam(opts: AddRamOptions): RamRegion {
    const { name, base, size, backend } = opts;
    checkName(name, this.regions);
    checkSpan(name, base, size);
    if (base % PAGE_SIZE !== 0) {
      throw new InvalidArgumentError(
        `RAM region "${name}": base must be ${PAGE_SIZE}-byte aligned, got ${hex(base)}`,
      );
    }
    if (!backend || backend.size !== size) {
      throw new InvalidArgumentError(
        `RAM region "${name}": size ${size} must equal the backend size ${backend?.size}`,
      );
    }
    if (opts.dirty !== undefined && opts.dirty.pageCount !== size / PAGE_SIZE) {
      throw new InvalidArgumentError(
        `RAM region "${name}": dirty tracker covers ${opts.dirty.pageCount} pages, the region ${size / PAGE_SIZE}`,
      );
    }
    const region: RamRegion = {
      kind: "ram",
      name,
      base,
      size,
      readonly: opts.readonly === true,
      backend,
      dirty: opts.dirty ?? createDirtyLog(size / PAGE_SIZE),
      missing: new MissingPages(size / PAGE_SIZE),
    };
    this.insert(region);
    return region;
  }

  addMmio(opts: AddMmioOptions): MmioRegion {
    const { name, base, size, device } = opts;
    checkName(name, this.regions);
    checkSpan(name, base, size);
    if (!device || typeof device.read !== "function" || typeof device.write !== "function") {
      throw new InvalidArgumentError(`MMIO region "${name}": device must be an MmioDevice`);
    }
    const region: MmioRegion = { kind: "mmio", name, base, size, device };
    this.insert(region);
    return region;
  }

  ramByName(name: string): RamRegion | undefined {
    return this.ramRegions.find((r) => r.name === name);
  }

  find(addr: number): MemoryRegion | undefined {
    const last = this.last;
    if (last >= 0 && addr >= this.bases[last] && addr < this.ends[last]) return this.regions[last];
    const bases = this.bases;
    let lo = 0;
    let hi = bases.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (bases[mid] <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    // hi: last region with base <= addr
    if (hi >= 0 && addr < this.ends[hi]) {
      this.last = hi;
      return this.regions[hi];
    }
    return undefined;
  }

  private ramSpan(addr: number, length: number, what: string): RamRegion {
    const r = this.find(addr);
    if (r === undefined || r.kind !== "ram") {
      throw new MemoryAccessError(
        `${what} at ${hex(addr)}: expected guest RAM, found ${r === undefined ? "nothing mapped" : `MMIO region "${r.name}"`}`,
      );
    }
    if (addr + length > r.base + r.size) {
      throw new MemoryAccessError(
        `${what} [${hex(addr)}, ${hex(addr + length)}) runs past the end of RAM region "${r.name}" at ${hex(r.base + r.size)}`,
      );
    }
    return r;
  }

  readBytes(addr: number, out: Uint8Array): void {
    const r = this.ramSpan(addr, out.length, "readBytes");
    r.backend.read(addr - r.base, out);
  }

  writeBytes(addr: number, src: Uint8Array): void {
    const r = this.ramSpan(addr, src.length, "writeBytes");
    r.backend.write(addr - r.base, src);
    r.dirty.markRange(addr - r.base, src.length);
  }
}

/** Build an empty address space. */
export function createAddressSpace(): MutableAddressSpace {
  return new AddressSpaceImpl();
}
