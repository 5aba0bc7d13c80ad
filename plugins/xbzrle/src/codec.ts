/**
 * Public API of the XBZRLE codec and page cache (the pure parts of @ferry/plugin-xbzrle).
 * The plugin glue imports from here.
 */

export { XbzrleArgumentError, XbzrleDecodeError, PageCacheConfigError } from "./errors";
export {
  ULEB128_SMALL_MAX,
  Uleb128RangeError,
  uleb128EncodeSmall,
  uleb128DecodeSmall,
  uleb128SmallSize,
} from "./uleb128";
export {
  xbzrleEncode,
  xbzrleEncodeJs,
  xbzrleEncodeWasm,
  createXbzrleWasmKernel,
  XBZRLE_ENCODER,
  XBZRLE_UNCHANGED,
  XBZRLE_OVERFLOW,
} from "./encode";
export type { XbzrleEncodeFn, XbzrleWasmKernel } from "./encode";
export { xbzrleEncodeRuns } from "./encode-runs";
export { xbzrleDecode } from "./decode";
export { CACHED_PAGE_LIFETIME, createPageCache, pageCacheSlots } from "./page-cache";
export type { PageCache, PageCacheCounts } from "./page-cache";
export {
  XBZRLE_RECORD_PREFIX_BYTES,
  XBZRLE_UNCOUNTED_HEADER_BYTES,
  createXbzrleStats,
  xbzrleStatsToQmp,
} from "./stats";
export type { XbzrleCacheQmp, XbzrleStats, XbzrleStatsSnapshot } from "./stats";
