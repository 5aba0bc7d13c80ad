/**
 * Page-selection streams of the `workload` backend: one per vCPU, each owning its PRNG state
 * (a splitmix32 Weyl counter) and, for `sequential`, its cursor. `next()` allocates nothing.
 */
import { InvalidArgumentError } from "@ferry/core";
import { PAGE_SIZE as PAGE_SIZE_ } from "@ferry/core";
import {
  GOLDEN32 as GOLDEN32_,
  TWO_POW_32 as TWO_POW_32_,
  mix32 as mix32_,
} from "../synthetic/hash";
import type { WorkloadDistribution } from "./options";

// Local bindings: calls through an imported binding can go through module-namespace getters
// under some module runners (vitest's), which costs more than the hash itself on hot paths.
const GOLDEN32 = GOLDEN32_;
const TWO_POW_32 = TWO_POW_32_;
const mix32 = mix32_;
const PAGE_SIZE = PAGE_SIZE_;

/** Numeric distribution codes (the hot loop switches on small ints). */
export const DistributionKind = { Uniform: 0, HotCold: 1, Zipf: 2, Sequential: 3 } as const;

/** Most buckets of a zipf table. */
export const ZIPF_MAX_BUCKETS = 4096;
/** Ranks up to this are summed exactly when computing bucket masses; beyond, integrated. */
const ZIPF_EXACT_RANKS = 4096;

/**
 * Bucketed zipf sampling table over `pageCount` pages: bucket `i` covers pages
 * `[edges[i], edges[i + 1])` and `cdf[i]` is the probability of landing in buckets `0..i`.
 * Edges grow geometrically (the first buckets are single pages), so the relative density change
 * inside a bucket stays below `(P^(1/B))^s − 1`; sampling is a binary search plus a uniform draw
 * inside the bucket.
 */
export interface ZipfTable {
  readonly bucketCount: number;
  /** `bucketCount + 1` page edges, `edges[0] = 0`, `edges[bucketCount] = pageCount`. */
  readonly edges: Float64Array;
  /** Cumulative bucket probabilities; the last is exactly 1. */
  readonly cdf: Float64Array;
}

/** Sum of `r^-s` for 1-based ranks `lo..hi` (inclusive). */
function zipfMass(lo: number, hi: number, s: number): number {
  let sum = 0;
  let r = lo;
  for (; r <= hi && r <= ZIPF_EXACT_RANKS; r++) sum += r ** -s;
  if (r <= hi) {
    // Midpoint-rule integral of x^-s over [r - 0.5, hi + 0.5]: accurate for large ranks.
    const a = r - 0.5;
    const b = hi + 0.5;
    sum += s === 1 ? Math.log(b / a) : (b ** (1 - s) - a ** (1 - s)) / (1 - s);
  }
  return sum;
}

/** Build the zipf sampling table for `pageCount` pages and exponent `s`. */
export function buildZipfTable(
  pageCount: number,
  s: number,
  maxBuckets = ZIPF_MAX_BUCKETS,
): ZipfTable {
  if (!Number.isSafeInteger(pageCount) || pageCount < 1) {
    throw new InvalidArgumentError(`zipf table needs a positive page count, got ${pageCount}`);
  }
  const edgesTmp = new Float64Array(maxBuckets + 1);
  let count = 0;
  for (let i = 1; i <= maxBuckets && edgesTmp[count] < pageCount; i++) {
    const geometric = Math.round(pageCount ** (i / maxBuckets));
    const next = Math.min(pageCount, Math.max(edgesTmp[count] + 1, geometric));
    edgesTmp[++count] = next;
  }
  const edges = edgesTmp.slice(0, count + 1);
  const cdf = new Float64Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += zipfMass(edges[i] + 1, edges[i + 1], s);
    cdf[i] = total;
  }
  for (let i = 0; i < count; i++) cdf[i] /= total;
  cdf[count - 1] = 1;
  return { bucketCount: count, edges, cdf };
}

/** Static parameters of a page stream, shared by every vCPU of a backend. */
export interface PageStreamShape {
  readonly kind: number;
  /** Pages of the footprint (writes land in pages `0..footprintPages-1`). */
  readonly footprintPages: number;
  /** Hot-cold: hot pages. */
  readonly hotPages: number;
  /** Hot-cold: share of writes into the hot set. */
  readonly hotShare: number;
  /** Zipf: the sampling table (empty for other kinds). */
  readonly zipf: ZipfTable;
  /** Sequential: stride in bytes. */
  readonly strideBytes: number;
}

const EMPTY_ZIPF: ZipfTable = {
  bucketCount: 0,
  edges: new Float64Array(1),
  cdf: new Float64Array(0),
};

/** Resolve a distribution against a region of `regionSize` bytes (validates the sizes). */
export function resolveDistribution(d: WorkloadDistribution, regionSize: number): PageStreamShape {
  const footprintBytes = d.footprintBytes ?? regionSize;
  if (footprintBytes > regionSize) {
    throw new InvalidArgumentError(
      `workload ${d.kind} footprint of ${footprintBytes} bytes exceeds the RAM region's ${regionSize} bytes`,
    );
  }
  const footprintPages = Math.floor(footprintBytes / PAGE_SIZE);
  if (footprintPages < 1) {
    throw new InvalidArgumentError(
      `workload footprint must hold at least one ${PAGE_SIZE}-byte page, got ${footprintBytes} bytes`,
    );
  }
  switch (d.kind) {
    case "uniform":
      return shape(DistributionKind.Uniform, footprintPages, 0, 0, EMPTY_ZIPF, PAGE_SIZE);
    case "hot-cold": {
      if (d.hotBytes > footprintBytes) {
        throw new InvalidArgumentError(
          `workload hot set of ${d.hotBytes} bytes exceeds the footprint of ${footprintBytes} bytes`,
        );
      }
      const hotPages = d.hotBytes / PAGE_SIZE;
      // With no cold pages every write is hot, whatever hotShare says.
      const hotShare = hotPages === footprintPages ? 1 : d.hotShare;
      return shape(
        DistributionKind.HotCold,
        footprintPages,
        hotPages,
        hotShare,
        EMPTY_ZIPF,
        PAGE_SIZE,
      );
    }
    case "zipf":
      return shape(
        DistributionKind.Zipf,
        footprintPages,
        0,
        0,
        buildZipfTable(footprintPages, d.s),
        PAGE_SIZE,
      );
    case "sequential":
      return shape(
        DistributionKind.Sequential,
        footprintPages,
        0,
        0,
        EMPTY_ZIPF,
        d.strideBytes ?? PAGE_SIZE,
      );
  }
}

function shape(
  kind: number,
  footprintPages: number,
  hotPages: number,
  hotShare: number,
  zipf: ZipfTable,
  strideBytes: number,
): PageStreamShape {
  return { kind, footprintPages, hotPages, hotShare, zipf, strideBytes };
}

/**
 * One vCPU's page stream: a deterministic sequence of page numbers. Monomorphic class on the
 * hot path; `state` (PRNG) and `cursor` (sequential, in bytes) are its whole mutable state.
 */
export class PageStream {
  /** splitmix32 Weyl counter (uint32). */
  state: number;
  /** Sequential: byte offset of the next write inside the footprint. */
  cursor: number;
  private readonly kind: number;
  private readonly footprintPages: number;
  private readonly footprintBytes: number;
  private readonly hotPages: number;
  private readonly hotShare: number;
  private readonly hotScale: number;
  private readonly coldPages: number;
  private readonly coldScale: number;
  private readonly edges: Float64Array;
  private readonly cdf: Float64Array;
  private readonly buckets: number;
  private readonly strideBytes: number;

  constructor(s: PageStreamShape, state: number, cursor: number) {
    this.state = state >>> 0;
    this.cursor = cursor;
    this.kind = s.kind;
    this.footprintPages = s.footprintPages;
    this.footprintBytes = s.footprintPages * PAGE_SIZE;
    this.hotPages = s.hotPages;
    this.hotShare = s.hotShare;
    this.hotScale = s.hotShare > 0 ? s.hotPages / s.hotShare : 0;
    this.coldPages = s.footprintPages - s.hotPages;
    this.coldScale = s.hotShare < 1 ? this.coldPages / (1 - s.hotShare) : 0;
    this.edges = s.zipf.edges;
    this.cdf = s.zipf.cdf;
    this.buckets = s.zipf.bucketCount;
    this.strideBytes = s.strideBytes;
  }

  /** Next pseudo-random uint32 of this stream. */
  nextU32(): number {
    const st = (this.state + GOLDEN32) >>> 0;
    this.state = st;
    return mix32(st);
  }

  /** Next page number (0..footprintPages-1). */
  next(): number {
    switch (this.kind) {
      case DistributionKind.Uniform:
        return Math.floor((this.nextU32() / TWO_POW_32) * this.footprintPages);
      case DistributionKind.HotCold: {
        const u = this.nextU32() / TWO_POW_32;
        if (u < this.hotShare) {
          const p = Math.floor(u * this.hotScale);
          return p < this.hotPages ? p : this.hotPages - 1;
        }
        const p = Math.floor((u - this.hotShare) * this.coldScale);
        return this.hotPages + (p < this.coldPages ? p : this.coldPages - 1);
      }
      case DistributionKind.Zipf: {
        const u = this.nextU32() / TWO_POW_32;
        const cdf = this.cdf;
        let lo = 0;
        let hi = this.buckets - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (cdf[mid] > u) hi = mid;
          else lo = mid + 1;
        }
        const start = this.edges[lo];
        const width = this.edges[lo + 1] - start;
        return start + Math.floor((this.nextU32() / TWO_POW_32) * width);
      }
      default: {
        const at = this.cursor;
        let nextCursor = at + this.strideBytes;
        if (nextCursor >= this.footprintBytes) nextCursor %= this.footprintBytes;
        this.cursor = nextCursor;
        return Math.floor(at / PAGE_SIZE);
      }
    }
  }
}
