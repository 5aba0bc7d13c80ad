/**
 * The `xbzrle-cache-size` parameter (QEMU's name and rules): bytes, a power of two no less than
 * the target page size, default 64 MiB.
 */
import { PAGE_SIZE } from "@ferry/core";
import { z } from "zod";
import { PageCacheConfigError } from "./errors";

/** QEMU's parameter name. */
export const XBZRLE_CACHE_SIZE = "xbzrle-cache-size";

/** QEMU's default `xbzrle-cache-size`: 64 MiB. */
export const DEFAULT_XBZRLE_CACHE_SIZE = 64 * 1024 * 1024;

/** Largest accepted cache size: 2^30 slots of a page (the page cache's limit). */
export const MAX_XBZRLE_CACHE_SIZE = 2 ** 30 * PAGE_SIZE;

/** True when `bytes` is a usable `xbzrle-cache-size`: an integer power of two in range. */
export function isValidXbzrleCacheSize(bytes: number): boolean {
  if (!Number.isSafeInteger(bytes) || bytes < PAGE_SIZE || bytes > MAX_XBZRLE_CACHE_SIZE) {
    return false;
  }
  return 2 ** Math.round(Math.log2(bytes)) === bytes;
}

/** The message for a refused `xbzrle-cache-size` (the registry appends the value found). */
export const XBZRLE_CACHE_SIZE_MESSAGE =
  `expected a power of two of at least the page size (${PAGE_SIZE} bytes) ` +
  `and at most ${MAX_XBZRLE_CACHE_SIZE} bytes`;

/**
 * Check a cache size given in code (the factory's default).
 *
 * @throws PageCacheConfigError with the expected form and the value found
 */
export function checkXbzrleCacheSize(bytes: number): number {
  if (!isValidXbzrleCacheSize(bytes)) {
    throw new PageCacheConfigError(
      `${XBZRLE_CACHE_SIZE}: ${XBZRLE_CACHE_SIZE_MESSAGE}, got ${bytes}`,
    );
  }
  return bytes;
}

/**
 * The plugin's parameter schema. `defaultCacheSize` must itself be valid
 * (see {@link checkXbzrleCacheSize}).
 */
export function xbzrleParameters(defaultCacheSize = DEFAULT_XBZRLE_CACHE_SIZE) {
  checkXbzrleCacheSize(defaultCacheSize);
  return z.object({
    [XBZRLE_CACHE_SIZE]: z
      .number()
      .refine(isValidXbzrleCacheSize, { message: XBZRLE_CACHE_SIZE_MESSAGE })
      .default(defaultCacheSize),
  });
}
