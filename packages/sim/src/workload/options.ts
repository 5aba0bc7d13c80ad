/**
 * Options of the `workload` CPU backend, validated with zod.
 */
import { z } from "zod";
import { InvalidArgumentError } from "@ferry/core";
import { PAGE_SIZE } from "@ferry/core";

/** A byte count that is a positive multiple of PAGE_SIZE. */
const pageBytes = z
  .number()
  .int()
  .positive()
  .refine((n) => n % PAGE_SIZE === 0, { message: `must be a multiple of ${PAGE_SIZE} bytes` });

/** Page-selection distribution of the synthetic writes (all over `[0, footprint)` of the region). */
export const workloadDistributionSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("uniform"),
    /** Bytes of the region the writes land in (from offset 0). Default: the whole region. */
    footprintBytes: pageBytes.optional(),
  }),
  z.strictObject({
    kind: z.literal("hot-cold"),
    /** Size of the hot set (the first `hotBytes` of the footprint). */
    hotBytes: pageBytes,
    /** Share (0..1) of writes that land in the hot set. */
    hotShare: z.number().min(0).max(1),
    /** Hot + cold bytes (from offset 0). Default: the whole region. */
    footprintBytes: pageBytes.optional(),
  }),
  z.strictObject({
    kind: z.literal("zipf"),
    /** Zipf exponent: page of rank r (0-based, page r) is written with weight (r + 1)^-s. */
    s: z.number().min(0).max(16),
    /** Bytes of the region the writes land in (from offset 0). */
    footprintBytes: pageBytes,
  }),
  z.strictObject({
    kind: z.literal("sequential"),
    /** Bytes swept (from offset 0), wrapping around. */
    footprintBytes: pageBytes,
    /** Distance between consecutive writes in bytes. Default PAGE_SIZE (one write per page). */
    strideBytes: z.number().int().positive().optional(),
  }),
]);

/** Options of the `workload` backend as written in a config (before defaults). */
export const workloadOptionsSchema = z.strictObject({
  /** Seed of the per-vCPU PRNG streams (each vCPU derives its own from (seed, hartId)). */
  seed: z.number().int().min(0).max(0xffffffff),
  /** Page writes per second per vCPU while busy and unthrottled. */
  writesPerSecond: z.number().min(0).max(1e9),
  /** Reads per write (counted as operations; they do not touch memory). Default 0. */
  readsPerWrite: z.number().min(0).max(1e6).default(0),
  /**
   * Reads per second per vCPU while busy, independent of writes (operations that do not touch
   * memory: a vCPU that only computes or reads). Default 0.
   */
  readsPerSecond: z.number().min(0).max(1e9).default(0),
  /**
   * Per-vCPU write rates overriding `writesPerSecond` for the vCPUs listed (index = hart id;
   * vCPUs past the end use `writesPerSecond`). `[0, …]` makes vCPU 0 a reader only.
   */
  vcpuWritesPerSecond: z.array(z.number().min(0).max(1e9)).max(1024).optional(),
  /** Share (0..1) of time the vCPU is busy: the write rate is scaled by it. */
  busyShare: z.number().min(0).max(1),
  /** Which pages are written. */
  distribution: workloadDistributionSchema,
  /** Bytes stored per write on a dense (`array`/`shared`) RAM backend. Default 8. */
  bytesPerWrite: z.number().int().min(1).max(PAGE_SIZE).default(8),
  /** Name of the RAM region written. Default: the first RAM region. */
  region: z.string().min(1).optional(),
});

/** Options accepted by {@link parseWorkloadOptions} (defaults may be omitted). */
export type WorkloadOptionsInput = z.input<typeof workloadOptionsSchema>;
/** Validated options with defaults applied. */
export type WorkloadOptions = z.output<typeof workloadOptionsSchema>;
/** One of the page-selection distributions. */
export type WorkloadDistribution = z.output<typeof workloadDistributionSchema>;

/** Validate workload options; throws {@link InvalidArgumentError} saying what is wrong. */
export function parseWorkloadOptions(input: unknown): WorkloadOptions {
  const result = workloadOptionsSchema.safeParse(input);
  if (!result.success) {
    throw new InvalidArgumentError(`invalid workload options:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}
