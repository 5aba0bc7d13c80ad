/**
 * The multifd parameters, with QEMU's names, ranges and defaults (qapi/migration.json):
 * `multifd-channels` 1..255 (2), `multifd-compression` none | zlib | zstd (none),
 * `multifd-zlib-level` 0..9 (1), `multifd-zstd-level` 0..20 (1).
 */
import { z } from "zod";

/** QEMU's default `multifd-channels`. */
export const DEFAULT_MULTIFD_CHANNELS = 2;
/** The `multifd-compression` methods ferry implements (QEMU also has qpl, uadk, qatzip). */
export const MULTIFD_COMPRESSION_METHODS = ["none", "zlib", "zstd"] as const;
/** A `multifd-compression` value. */
export type MultifdCompressionMethod = (typeof MULTIFD_COMPRESSION_METHODS)[number];

/** The plugin's parameter schema. */
export const multifdParameters = z.object({
  "multifd-channels": z.number().int().min(1).max(255).default(DEFAULT_MULTIFD_CHANNELS),
  "multifd-compression": z.enum(MULTIFD_COMPRESSION_METHODS).default("none"),
  "multifd-zlib-level": z.number().int().min(0).max(9).default(1),
  "multifd-zstd-level": z.number().int().min(0).max(20).default(1),
});
