/**
 * RAM backends: byte storage behind RAM/ROM regions.
 */
import { InvalidArgumentError, MemoryAccessError, hex } from "../errors";
import { PAGE_SIZE, type RamBackend } from "./types";

/** Backends this module can build (`synthetic` is a separate, sparse backend). */
export type DenseRamBackendKind = "array" | "shared";

/** Words of 32 bits in one page. */
const PAGE_WORDS = PAGE_SIZE >>> 2;

/**
 * Dense RAM held in one `Uint8Array` over an `ArrayBuffer` (`array`) or a
 * `SharedArrayBuffer` (`shared`). Loads and stores are little-endian; loads
 * return unsigned values.
 */
class DenseRamBackend implements RamBackend {
  readonly kind: DenseRamBackendKind;
  readonly size: number;
  readonly bytes: Uint8Array;
  private readonly words: Int32Array;

  constructor(kind: DenseRamBackendKind, size: number) {
    this.kind = kind;
    this.size = size;
    let buffer: ArrayBuffer | SharedArrayBuffer;
    try {
      buffer = kind === "shared" ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    } catch (e) {
      throw new InvalidArgumentError(
        `cannot allocate ${size} bytes of ${kind} RAM: ${(e as Error).message}`,
      );
    }
    this.bytes = new Uint8Array(buffer);
    this.words = new Int32Array(buffer);
  }

  private check(offset: number, length: number, what: string): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size) || offset % 1 !== 0) {
      throw new MemoryAccessError(
        `${what} of ${length} byte(s) at offset ${hex(offset)} is outside RAM of ${hex(this.size)} bytes`,
      );
    }
  }

  read(offset: number, out: Uint8Array): void {
    this.check(offset, out.length, "read");
    out.set(this.bytes.subarray(offset, offset + out.length));
  }

  write(offset: number, src: Uint8Array): void {
    this.check(offset, src.length, "write");
    this.bytes.set(src, offset);
  }

  isZeroPage(page: number): boolean {
    if (!(page >= 0 && page < this.size / PAGE_SIZE) || page % 1 !== 0) {
      throw new MemoryAccessError(
        `page ${page} is outside RAM of ${this.size / PAGE_SIZE} pages (expected 0..${this.size / PAGE_SIZE - 1})`,
      );
    }
    const w = this.words;
    const start = page * PAGE_WORDS;
    const end = start + PAGE_WORDS;
    for (let i = start; i < end; i += 8) {
      if (
        (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) !==
        0
      ) {
        return false;
      }
    }
    return true;
  }

  load(offset: number, size: 1 | 2 | 4): number {
    this.check(offset, size, "load");
    const b = this.bytes;
    if (size === 1) return b[offset];
    if (size === 2) return b[offset] | (b[offset + 1] << 8);
    return (b[offset] | (b[offset + 1] << 8) | (b[offset + 2] << 16) | (b[offset + 3] << 24)) >>> 0;
  }

  store(offset: number, size: 1 | 2 | 4, value: number): void {
    this.check(offset, size, "store");
    const b = this.bytes;
    b[offset] = value;
    if (size === 1) return;
    b[offset + 1] = value >>> 8;
    if (size === 2) return;
    b[offset + 2] = value >>> 16;
    b[offset + 3] = value >>> 24;
  }
}

/** Options of {@link createRamBackend}. */
export interface RamBackendOptions {
  /**
   * Touch every page at creation (QEMU's `-mem-prealloc`), so the operating system commits the
   * memory now rather than on the first write of each page: a migration destination then loads
   * pages without taking a page fault per page. Costs the same time up front (about 1 s per GiB
   * of 4 KiB pages) and commits all of `size` at once.
   */
  readonly prealloc?: boolean;
}

/** Write one byte per 4 KiB page so the OS backs every page (contents stay zero). */
function touchEveryPage(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i += PAGE_SIZE) bytes[i] = 0;
}

/**
 * Build a dense RAM backend of `size` bytes (a positive multiple of {@link PAGE_SIZE}).
 * `array` uses an `ArrayBuffer`, `shared` a `SharedArrayBuffer` (shareable with workers).
 * The memory starts zeroed; with `prealloc` every page is committed at once.
 */
export function createRamBackend(
  kind: DenseRamBackendKind,
  size: number,
  options: RamBackendOptions = {},
): RamBackend {
  if (kind !== "array" && kind !== "shared") {
    throw new InvalidArgumentError(
      `RAM backend kind must be "array" or "shared", got ${JSON.stringify(kind)}`,
    );
  }
  if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
    throw new InvalidArgumentError(
      `RAM size must be a positive multiple of ${PAGE_SIZE} bytes, got ${size}`,
    );
  }
  const backend = new DenseRamBackend(kind, size);
  if (options.prealloc === true) touchEveryPage(backend.bytes);
  return backend;
}
