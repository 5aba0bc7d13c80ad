/**
 * Whole-RAM operations done in bounded chunks, so that they work up to the largest RAM a config
 * accepts (2 GiB dense, 1 TiB synthetic): Node refuses single buffers of 2^31 bytes or more
 * ("data is too long"), so nothing here hands a whole RAM to one call.
 */
import { createHash } from "node:crypto";
import { PAGE_SIZE, type RamRegion } from "@ferry/core";
import { isSyntheticRamBackend } from "@ferry/sim";

/** Bytes handed to one hash update or compared in one step (64 MiB). */
export const RAM_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * Call `visit` with consecutive views of `bytes`, each at most `chunk` bytes long, in order.
 * The views share `bytes`' memory (no copy).
 */
export function forEachChunk(
  bytes: Uint8Array,
  visit: (view: Uint8Array) => void,
  chunk: number = RAM_CHUNK_BYTES,
): void {
  if (!(chunk > 0)) throw new RangeError(`forEachChunk: chunk must be positive, got ${chunk}`);
  for (let off = 0; off < bytes.length; off += chunk) {
    visit(bytes.subarray(off, Math.min(bytes.length, off + chunk)));
  }
}

/** The bytes of a typed array as a Uint8Array view (no copy). */
function asBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Call `visit` with the content of `ram` in chunks: the bytes of a dense backend, the page
 * versions (little-endian u32) of a synthetic one, or page copies read through the backend for
 * any other backend without `bytes`.
 */
export function forEachRamChunk(ram: RamRegion, visit: (view: Uint8Array) => void): void {
  const b = ram.backend;
  if (isSyntheticRamBackend(b)) {
    forEachChunk(asBytes(b.versions), visit);
    return;
  }
  if (b.bytes !== null) {
    forEachChunk(b.bytes, visit);
    return;
  }
  const pages = Math.max(1, Math.min(RAM_CHUNK_BYTES, ram.size) / PAGE_SIZE);
  const buf = new Uint8Array(pages * PAGE_SIZE);
  for (let off = 0; off < ram.size; off += buf.length) {
    const view = buf.subarray(0, Math.min(buf.length, ram.size - off));
    b.read(off, view);
    visit(view);
  }
}

/**
 * sha256 (hex) of a RAM region's content: the bytes of a dense backend, the version array of a
 * synthetic one (same seed and parameters ⇒ same versions ⇔ same bytes). Chunked: works for
 * every RAM size a config accepts.
 */
export function ramHash(ram: RamRegion): string {
  const h = createHash("sha256");
  forEachRamChunk(ram, (view) => {
    h.update(view);
  });
  return h.digest("hex");
}

/** sha256 (hex) of `bytes`, fed to the hash in chunks of at most `chunk` bytes. */
export function chunkedSha256(bytes: Uint8Array, chunk: number = RAM_CHUNK_BYTES): string {
  const h = createHash("sha256");
  forEachChunk(bytes, (view) => h.update(view), chunk);
  return h.digest("hex");
}

/**
 * Byte offset of the first difference between `a` and `b`, or -1 when they are equal (a length
 * difference counts as a difference at the shorter length). Compares in chunks with
 * `Buffer.compare`, then narrows down inside the first differing chunk.
 */
export function firstDifference(
  a: Uint8Array,
  b: Uint8Array,
  chunk: number = RAM_CHUNK_BYTES,
): number {
  const n = Math.min(a.length, b.length);
  for (let off = 0; off < n; off += chunk) {
    const end = Math.min(n, off + chunk);
    const x = Buffer.from(a.buffer, a.byteOffset + off, end - off);
    const y = Buffer.from(b.buffer, b.byteOffset + off, end - off);
    if (x.compare(y) !== 0) {
      for (let i = off; i < end; i++) if (a[i] !== b[i]) return i;
    }
  }
  return a.length === b.length ? -1 : n;
}

/** True when two RAM regions have the same size and content (see {@link forEachRamChunk}). */
export function ramEqual(a: RamRegion, b: RamRegion): boolean {
  if (a.size !== b.size) return false;
  const x = a.backend.bytes;
  const y = b.backend.bytes;
  if (x !== null && y !== null) return firstDifference(x, y) === -1;
  return ramHash(a) === ramHash(b);
}
