/**
 * The `xbzrle()` plugin factory: capability `xbzrle`, parameter `xbzrle-cache-size`, the XBZRLE
 * page codec (order 100, after the zero-page codec) and the XBZRLE record type.
 */
import { PAGE_SIZE } from "@ferry/core";
import { type FerryPlugin, type MigrationContext, PageCodec } from "@ferry/migration";
import { createXbzrleEncoder } from "./encoder";
import { DEFAULT_XBZRLE_CACHE_SIZE, XBZRLE_CACHE_SIZE, xbzrleParameters } from "./parameters";
import { xbzrleRecord } from "./record";

/** The capability name (QEMU's). */
export const XBZRLE_CAPABILITY = "xbzrle";

/** Position of the XBZRLE codec in the chain (the zero-page codec is 0). */
export const XBZRLE_CODEC_ORDER = 100;

/** Options of {@link xbzrle}. */
export interface XbzrleOptions {
  /** Default of `xbzrle-cache-size` in bytes (a power of two ≥ 4096; default 64 MiB). */
  readonly cacheSize?: number;
  /** Position in the codec chain (default {@link XBZRLE_CODEC_ORDER}). */
  readonly order?: number;
  /**
   * Encode synthetic pages from their versions (default true). False forces the byte path for
   * every page (synthetic pages are then materialized by the framework): the reference the
   * version path is checked against, and slower.
   */
  readonly versionPath?: boolean;
}

/**
 * The XBZRLE page codec part, enabled by the `xbzrle` capability.
 *
 * @param order position in the codec chain
 * @param versionPath encode synthetic pages from versions (see {@link XbzrleOptions.versionPath})
 */
export function xbzrleCodec(order = XBZRLE_CODEC_ORDER, versionPath = true): PageCodec {
  return {
    name: "xbzrle",
    capability: XBZRLE_CAPABILITY,
    order,
    counts: "other",
    // Byte-backed pages always carry their bytes; synthetic pages take the version path (the
    // encoder computes deltas from versions), so the framework need not materialize them.
    readsBytes: !versionPath,
    createEncoder(ctx: MigrationContext) {
      let bytes = 0;
      for (const b of ctx.blocks) bytes += b.size;
      return createXbzrleEncoder({
        machine: ctx.machine,
        cacheSize: ctx.parameters[XBZRLE_CACHE_SIZE] as number,
        totalPages: Math.ceil(bytes / PAGE_SIZE),
        ...(versionPath ? { blocks: ctx.blocks } : {}),
      });
    },
  };
}

/**
 * The XBZRLE plugin. Off by default (QEMU's capability default); turn it on with
 * `mgr.setCapabilities({ xbzrle: true })`. Destinations decode XBZRLE records whenever the plugin
 * is loaded, whatever the capability says (as QEMU does).
 *
 * @throws PageCacheConfigError when `options.cacheSize` is not a valid cache size
 */
export function xbzrle(options: XbzrleOptions = {}): FerryPlugin {
  const parameters = xbzrleParameters(options.cacheSize ?? DEFAULT_XBZRLE_CACHE_SIZE);
  const codec = xbzrleCodec(options.order, options.versionPath ?? true);
  return {
    name: "xbzrle",
    capabilities: [
      {
        name: XBZRLE_CAPABILITY,
        description:
          "Send re-dirtied pages as XBZRLE deltas against a cache of the pages sent before",
        default: false,
      },
    ],
    parameters,
    records: [xbzrleRecord],
    register(container) {
      container.register(PageCodec, { useValue: codec });
    },
  };
}
