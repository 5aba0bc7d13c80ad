/**
 * The `synthetic` sparse RAM backend: only a 32-bit version per page is stored; the bytes are the
 * pure content function of (seed, page, version) in `./content`. A 256 GiB guest costs 256 MiB.
 */
import { FerryCoreError, InvalidArgumentError, MemoryAccessError, hex } from "@ferry/core";
import { PAGE_SIZE as PAGE_SIZE_, type RamBackend, type VersionedPages } from "@ferry/core";
import { SyntheticContent } from "./content";

/** Local binding of PAGE_SIZE (hot paths avoid module-namespace getters of module runners). */
const PAGE_SIZE = PAGE_SIZE_;

/** Largest synthetic RAM accepted: 1 TiB (2^28 pages, 1 GiB of versions). */
export const MAX_SYNTHETIC_RAM_SIZE = 2 ** 40;

/**
 * A write the synthetic backend cannot represent: it stores versions, not bytes, so only writes
 * of zeros (to whole pages, or to pages that are already zero) can be stored by `write`.
 */
export class SyntheticWriteError extends FerryCoreError {}

/** Options of {@link createSyntheticRamBackend}. */
export interface SyntheticRamOptions {
  /** Size in bytes: a positive multiple of PAGE_SIZE, at most {@link MAX_SYNTHETIC_RAM_SIZE}. */
  readonly size: number;
  /** Content seed (any safe integer; used modulo 2^32). */
  readonly seed: number;
  /** Bytes changed by one write (1..PAGE_SIZE), e.g. 64. */
  readonly bytesPerWrite: number;
  /** Share (0..1) of writes that leave the page all zero (a write of zeros). Default 0. */
  readonly zeroShare?: number;
  /**
   * How many of the latest writes a page version shows (1..MAX_DELTA_WINDOW = 64, default 1): with `w`, versions
   * `v` and `v + k` differ in at most `2 × min(k, w) × bytesPerWrite` bytes, so a page written
   * often between two migration passes has a larger XBZRLE delta. Default 1 (every version is the
   * base pattern plus its own write).
   */
  readonly deltaWindow?: number;
}

/** A sparse RAM backend whose pages are versions of a pure content function. */
export interface SyntheticRamBackend extends RamBackend, VersionedPages {
  readonly kind: "synthetic";
  readonly bytes: null;
  /** Number of pages (`size / PAGE_SIZE`). */
  readonly pageCount: number;
  /** The content seed as given. */
  readonly seed: number;
  /** Bytes changed by one write. */
  readonly bytesPerWrite: number;
  /** Share of writes that write zeros. */
  readonly zeroShare: number;
  /** Write overlays shown per version. */
  readonly deltaWindow: number;
  /**
   * The per-page versions (0 = never written = zero page). Exposed for bulk reads (the compact
   * migration path, statistics); write only through {@link SyntheticRamBackend.setPageVersion}
   * or {@link SyntheticRamBackend.bumpPage}.
   */
  readonly versions: Uint32Array;
  /** The current version of `page`. */
  pageVersion(page: number): number;
  /** Set the version of `page` (0..2^32-1): the page's content becomes that version's. */
  setPageVersion(page: number, version: number): void;
  /**
   * Hot path of one guest write: bump the page's version (wrapping 2^32-1 → 1, never to 0) and
   * return the new version. `page` must be a valid page number (not checked).
   */
  bumpPage(page: number): number;
  /** Write the PAGE_SIZE bytes of (page, version) into `out` at `outOffset` (default 0). */
  materializePage(page: number, version: number, out: Uint8Array, outOffset?: number): void;
  /** True when (page, version) is all zero bytes, whatever the page's current version. */
  isZeroVersion(page: number, version: number): boolean;
  /** Number of pages whose version is not 0 (ever written since the last reset to zero). */
  touchedPageCount(): number;
  /** The backend itself: its pages are versions (the compact record is `be32 version`). */
  readonly versioned: VersionedPages;
}

/** Make a synthetic sparse RAM backend: every page starts at version 0 (zero). */
export function createSyntheticRamBackend(options: SyntheticRamOptions): SyntheticRamBackend {
  const size = options.size;
  if (
    !Number.isSafeInteger(size) ||
    size <= 0 ||
    size % PAGE_SIZE !== 0 ||
    size > MAX_SYNTHETIC_RAM_SIZE
  ) {
    throw new InvalidArgumentError(
      `synthetic RAM size must be a positive multiple of ${PAGE_SIZE} bytes up to ` +
        `${MAX_SYNTHETIC_RAM_SIZE} (1 TiB), got ${size}`,
    );
  }
  const content = new SyntheticContent({
    seed: options.seed,
    bytesPerWrite: options.bytesPerWrite,
    zeroShare: options.zeroShare ?? 0,
    deltaWindow: options.deltaWindow ?? 1,
  });
  return new SyntheticRam(size, options, content);
}

/** Small-read threshold: spans up to this length are computed byte by byte. */
const SMALL_SPAN = 32;

class SyntheticRam implements SyntheticRamBackend {
  readonly kind = "synthetic" as const;
  readonly bytes = null;
  readonly size: number;
  readonly pageCount: number;
  readonly seed: number;
  readonly bytesPerWrite: number;
  readonly zeroShare: number;
  readonly deltaWindow: number;
  readonly versions: Uint32Array;
  private readonly content: SyntheticContent;
  private readonly scratch = new Uint8Array(PAGE_SIZE);

  constructor(size: number, options: SyntheticRamOptions, content: SyntheticContent) {
    this.size = size;
    this.pageCount = size / PAGE_SIZE;
    this.seed = options.seed;
    this.bytesPerWrite = options.bytesPerWrite;
    this.zeroShare = options.zeroShare ?? 0;
    this.deltaWindow = options.deltaWindow ?? 1;
    this.content = content;
    try {
      this.versions = new Uint32Array(this.pageCount);
    } catch (e) {
      throw new InvalidArgumentError(
        `synthetic RAM of ${size} bytes needs ${this.pageCount * 4} bytes of page versions, ` +
          `which could not be allocated (${(e as Error).message})`,
      );
    }
  }

  private checkPage(page: number): void {
    if (!(page >= 0 && page < this.pageCount) || page % 1 !== 0) {
      throw new InvalidArgumentError(
        `synthetic RAM page ${page} is out of range: expected an integer in 0..${this.pageCount - 1}`,
      );
    }
  }

  private checkSpan(offset: number, length: number, what: string): void {
    if (!(offset >= 0) || offset % 1 !== 0 || offset + length > this.size) {
      throw new MemoryAccessError(
        `synthetic RAM ${what} of ${length} bytes at offset ${hex(offset)} is outside ` +
          `the backend's ${hex(this.size)} bytes`,
      );
    }
  }

  pageVersion(page: number): number {
    this.checkPage(page);
    return this.versions[page];
  }

  setPageVersion(page: number, version: number): void {
    this.checkPage(page);
    if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) {
      throw new InvalidArgumentError(
        `synthetic RAM page version must be an integer in 0..2^32-1, got ${version}`,
      );
    }
    this.versions[page] = version;
  }

  bumpPage(page: number): number {
    const versions = this.versions;
    let v = versions[page] + 1;
    if (v > 0xffffffff) v = 1;
    versions[page] = v;
    return v;
  }

  materializePage(page: number, version: number, out: Uint8Array, outOffset = 0): void {
    this.checkPage(page);
    if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) {
      throw new InvalidArgumentError(
        `synthetic RAM page version must be an integer in 0..2^32-1, got ${version}`,
      );
    }
    this.content.fillPage(page, version, out, outOffset);
  }

  /** The compact record of a synthetic page: `be32 version` (the content function does the rest). */
  readonly compactBytes = 4;

  get versioned(): VersionedPages {
    return this;
  }

  writeCompact(_page: number, version: number, buf: Uint8Array, pos: number): void {
    buf[pos] = version >>> 24;
    buf[pos + 1] = version >>> 16;
    buf[pos + 2] = version >>> 8;
    buf[pos + 3] = version;
  }

  readCompact(page: number, buf: Uint8Array, pos: number): void {
    this.setPageVersion(
      page,
      ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0,
    );
  }

  isZeroVersion(page: number, version: number): boolean {
    this.checkPage(page);
    return this.content.isZeroVersion(page, version);
  }

  isZeroPage(page: number): boolean {
    this.checkPage(page);
    return this.content.isZeroVersion(page, this.versions[page]);
  }

  touchedPageCount(): number {
    const versions = this.versions;
    let n = 0;
    for (let i = 0; i < versions.length; i++) if (versions[i] !== 0) n++;
    return n;
  }

  read(offset: number, out: Uint8Array): void {
    const length = out.length;
    this.checkSpan(offset, length, "read");
    const versions = this.versions;
    const content = this.content;
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const page = Math.floor(at / PAGE_SIZE);
      const inPage = at - page * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, length - done);
      const version = versions[page];
      if (n === PAGE_SIZE) {
        content.fillPage(page, version, out, done);
      } else if (content.isZeroVersion(page, version)) {
        out.fill(0, done, done + n);
      } else if (n <= SMALL_SPAN) {
        for (let i = 0; i < n; i++) out[done + i] = content.byteAt(page, version, inPage + i);
      } else {
        const scratch = this.scratch;
        content.fillPage(page, version, scratch, 0);
        for (let i = 0; i < n; i++) out[done + i] = scratch[inPage + i];
      }
      done += n;
    }
  }

  /**
   * Store `src` at `offset`. Only zeros can be represented: a fully covered page becomes
   * version 0; a partly covered page must already be zero. Anything else throws
   * {@link SyntheticWriteError} (use `setPageVersion` to move content between synthetic RAMs).
   */
  write(offset: number, src: Uint8Array): void {
    const length = src.length;
    this.checkSpan(offset, length, "write");
    for (let i = 0; i < length; i++) {
      if (src[i] !== 0) {
        throw new SyntheticWriteError(
          `synthetic RAM stores page versions, not bytes: a write of ${length} bytes at ` +
            `${hex(offset)} has a non-zero byte ${hex(src[i])} at index ${i}; only zeros can be ` +
            `written (use setPageVersion to transfer synthetic content)`,
        );
      }
    }
    const versions = this.versions;
    // Check every partly covered page first so a failing write changes nothing.
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const page = Math.floor(at / PAGE_SIZE);
      const n = Math.min(PAGE_SIZE - (at - page * PAGE_SIZE), length - done);
      if (n !== PAGE_SIZE && !this.content.isZeroVersion(page, versions[page])) {
        throw new SyntheticWriteError(
          `synthetic RAM cannot write ${n} zero bytes into part of non-zero page ${page} ` +
            `(at ${hex(at)}): only whole pages can be zeroed`,
        );
      }
      done += n;
    }
    done = 0;
    while (done < length) {
      const at = offset + done;
      const page = Math.floor(at / PAGE_SIZE);
      const n = Math.min(PAGE_SIZE - (at - page * PAGE_SIZE), length - done);
      if (n === PAGE_SIZE) versions[page] = 0;
      done += n;
    }
  }

  load(offset: number, size: 1 | 2 | 4): number {
    this.checkSpan(offset, size, "load");
    let value = 0;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const page = Math.floor(at / PAGE_SIZE);
      value |= this.content.byteAt(page, this.versions[page], at - page * PAGE_SIZE) << (i * 8);
    }
    return value >>> 0;
  }

  /**
   * A store bumps the version of every page it touches; `value` itself is not retained — the
   * page content becomes that of its new version (the content function decides the bytes).
   */
  store(offset: number, size: 1 | 2 | 4, _value: number): void {
    this.checkSpan(offset, size, "store");
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + size - 1) / PAGE_SIZE);
    this.bumpPage(first);
    if (last !== first) this.bumpPage(last);
  }
}

/** True when `backend` is a {@link SyntheticRamBackend} (kind `synthetic` with version access). */
export function isSyntheticRamBackend(backend: RamBackend): backend is SyntheticRamBackend {
  return (
    backend.kind === "synthetic" &&
    typeof (backend as Partial<SyntheticRamBackend>).bumpPage === "function" &&
    (backend as Partial<SyntheticRamBackend>).versions instanceof Uint32Array
  );
}
