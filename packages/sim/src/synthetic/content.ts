/**
 * The synthetic page-content function: the bytes of page `page` at version `version` are a pure
 * function of (seed, page, version) and the content parameters. See `docs/synthetic.md`.
 *
 * - version 0 is the all-zero page (never written);
 * - a version `v ≥ 1` is all zero when its "zero flag" hash falls under `zeroShare` (a write of
 *   zeros);
 * - otherwise it is the page's base pattern (pseudo-random little-endian 32-bit words, a hash of
 *   (seed, page, word index)) overlaid, oldest first, with the write overlays of versions
 *   `max(1, v − deltaWindow + 1) … v`. The overlay of version `u` is `bytesPerWrite` bytes laid out
 *   as runs of up to 8 bytes at 8-byte aligned slots, positions and values chosen by
 *   hash(seed, page, u) — like the 64-bit stores of a real write.
 *
 * Consequently two non-zero versions `v < w` differ in at most `2 × min(w − v, deltaWindow) ×
 * bytesPerWrite` bytes, which gives XBZRLE realistic deltas.
 */
import { InvalidArgumentError } from "@ferry/core";
import { PAGE_SIZE as PAGE_SIZE_ } from "@ferry/core";
import { GOLDEN32 as GOLDEN32_, TWO_POW_32 as TWO_POW_32_, mix32 as mix32_ } from "./hash";

// Local bindings: calls through an imported binding can go through module-namespace getters
// under some module runners (vitest's), which costs more than the hash itself on hot paths.
const GOLDEN32 = GOLDEN32_;
const TWO_POW_32 = TWO_POW_32_;
const mix32 = mix32_;
const PAGE_SIZE = PAGE_SIZE_;

/** Words per page. */
const PAGE_WORDS = PAGE_SIZE / 4;
/** 8-byte slots per page (an overlay run starts at `slot * 8`). */
const SLOT_MASK = PAGE_SIZE / 8 - 1;
/** Largest accepted `deltaWindow`. */
export const MAX_DELTA_WINDOW = 64;

/** True when the host stores typed-array words little-endian (every platform Node ships on). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Parameters of the content function (all part of a synthetic backend's identity). */
export interface SyntheticContentParams {
  /** Content seed (an integer; used modulo 2^32). */
  readonly seed: number;
  /** Bytes changed by one write (1..PAGE_SIZE). */
  readonly bytesPerWrite: number;
  /** Share (0..1) of writes that write a whole page of zeros. */
  readonly zeroShare: number;
  /** How many of the latest write overlays a version shows (1..{@link MAX_DELTA_WINDOW}). */
  readonly deltaWindow: number;
}

/** Validate content parameters, throwing {@link InvalidArgumentError} on bad input. */
export function checkContentParams(p: SyntheticContentParams): void {
  if (!Number.isSafeInteger(p.seed)) {
    throw new InvalidArgumentError(`synthetic RAM seed must be an integer, got ${p.seed}`);
  }
  if (!Number.isInteger(p.bytesPerWrite) || p.bytesPerWrite < 1 || p.bytesPerWrite > PAGE_SIZE) {
    throw new InvalidArgumentError(
      `synthetic RAM bytesPerWrite must be an integer in 1..${PAGE_SIZE}, got ${p.bytesPerWrite}`,
    );
  }
  if (!(p.zeroShare >= 0 && p.zeroShare <= 1)) {
    throw new InvalidArgumentError(
      `synthetic RAM zeroShare must be a number in 0..1, got ${p.zeroShare}`,
    );
  }
  if (!Number.isInteger(p.deltaWindow) || p.deltaWindow < 1 || p.deltaWindow > MAX_DELTA_WINDOW) {
    throw new InvalidArgumentError(
      `synthetic RAM deltaWindow must be an integer in 1..${MAX_DELTA_WINDOW}, got ${p.deltaWindow}`,
    );
  }
}

/**
 * Evaluator of the content function. A class with a monomorphic shape and its own scratch page,
 * so materializing a page allocates nothing.
 */
export class SyntheticContent {
  /** Seed reduced to uint32. */
  readonly seed32: number;
  /** Bytes changed per write. */
  readonly bytesPerWrite: number;
  /** Overlay runs per write: `ceil(bytesPerWrite / 8)`. */
  readonly runs: number;
  /** Zero-flag threshold: version hash `< zeroThreshold` ⇒ zero page (0 disables). */
  readonly zeroThreshold: number;
  /** Overlays shown per version. */
  readonly deltaWindow: number;
  private readonly scratchWords = new Uint32Array(PAGE_WORDS);
  private readonly scratchBytes = new Uint8Array(this.scratchWords.buffer);

  constructor(params: SyntheticContentParams) {
    checkContentParams(params);
    this.seed32 = params.seed >>> 0;
    this.bytesPerWrite = params.bytesPerWrite;
    this.runs = Math.ceil(params.bytesPerWrite / 8);
    this.zeroThreshold = Math.floor(params.zeroShare * TWO_POW_32);
    this.deltaWindow = params.deltaWindow;
  }

  /** Key of a page's base pattern: hash(seed, page). */
  pageKey(page: number): number {
    return mix32(this.seed32 ^ mix32((page + 0x632be5ab) >>> 0));
  }

  /** Key of version `version`'s write overlay on a page with key `pageKey`. */
  versionKey(pageKey: number, version: number): number {
    return mix32(pageKey ^ mix32((Math.imul(version, 0x85ebca6b) + 0x27d4eb2f) >>> 0));
  }

  /** True when version `version` of page `page` is all zero bytes. */
  isZeroVersion(page: number, version: number): boolean {
    if (version === 0) return true;
    if (this.zeroThreshold === 0) return false;
    return this.zeroFlag(this.versionKey(this.pageKey(page), version));
  }

  private zeroFlag(vKey: number): boolean {
    return mix32(vKey ^ 0x5bd1e995) < this.zeroThreshold;
  }

  /**
   * Write the PAGE_SIZE bytes of (page, version) into `out` at `outOffset`.
   * `out` must have room for a whole page there.
   */
  fillPage(page: number, version: number, out: Uint8Array, outOffset: number): void {
    if (!(outOffset >= 0 && outOffset + PAGE_SIZE <= out.length)) {
      throw new InvalidArgumentError(
        `materializing a page needs ${PAGE_SIZE} bytes at offset ${outOffset}, ` +
          `the output has ${out.length}`,
      );
    }
    if (version === 0) {
      out.fill(0, outOffset, outOffset + PAGE_SIZE);
      return;
    }
    const pageKey = this.pageKey(page);
    if (this.zeroThreshold !== 0 && this.zeroFlag(this.versionKey(pageKey, version))) {
      out.fill(0, outOffset, outOffset + PAGE_SIZE);
      return;
    }
    const words = this.scratchWords;
    for (let i = 0; i < PAGE_WORDS; i++) {
      words[i] = mix32((pageKey + Math.imul(i + 1, GOLDEN32)) >>> 0);
    }
    if (!HOST_LITTLE_ENDIAN) {
      for (let i = 0; i < PAGE_WORDS; i++) {
        const w = words[i];
        words[i] = (w >>> 24) | ((w >>> 8) & 0xff00) | ((w & 0xff00) << 8) | (w << 24);
      }
    }
    const bytes = this.scratchBytes;
    const first = Math.max(version - this.deltaWindow + 1, 1);
    const runs = this.runs;
    const total = this.bytesPerWrite;
    for (let u = first; u <= version; u++) {
      const vKey = this.versionKey(pageKey, u);
      for (let r = 0; r < runs; r++) {
        const h = mix32((vKey + Math.imul(r + 1, GOLDEN32)) >>> 0);
        const pos = (h & SLOT_MASK) * 8;
        const len = Math.min(total - r * 8, 8);
        const lo = mix32(h ^ 0xa5a5a5a5);
        const hi = mix32((lo + GOLDEN32) >>> 0);
        for (let j = 0; j < len; j++) {
          bytes[pos + j] = j < 4 ? lo >>> (j * 8) : hi >>> ((j - 4) * 8);
        }
      }
    }
    out.set(bytes, outOffset);
  }

  /** The byte at `pos` (0..PAGE_SIZE-1) of (page, version), without materializing the page. */
  byteAt(page: number, version: number, pos: number): number {
    if (version === 0) return 0;
    const pageKey = this.pageKey(page);
    const newestKey = this.versionKey(pageKey, version);
    if (this.zeroThreshold !== 0 && this.zeroFlag(newestKey)) return 0;
    const first = Math.max(version - this.deltaWindow + 1, 1);
    const slot = pos >>> 3;
    const j = pos & 7;
    const total = this.bytesPerWrite;
    for (let u = version; u >= first; u--) {
      const vKey = u === version ? newestKey : this.versionKey(pageKey, u);
      for (let r = this.runs - 1; r >= 0; r--) {
        const h = mix32((vKey + Math.imul(r + 1, GOLDEN32)) >>> 0);
        if ((h & SLOT_MASK) !== slot) continue;
        const len = Math.min(total - r * 8, 8);
        if (j >= len) continue;
        const lo = mix32(h ^ 0xa5a5a5a5);
        if (j < 4) return (lo >>> (j * 8)) & 0xff;
        const hi = mix32((lo + GOLDEN32) >>> 0);
        return (hi >>> ((j - 4) * 8)) & 0xff;
      }
    }
    const w = mix32((pageKey + Math.imul((pos >>> 2) + 1, GOLDEN32)) >>> 0);
    return (w >>> ((pos & 3) * 8)) & 0xff;
  }
}
