/**
 * `multifd-compression=zlib` with Node's zlib (QEMU's multifd-zlib.c): the normal pages of a packet
 * are deflated at `multifd-zlib-level` into one zlib stream. QEMU keeps one deflate stream per
 * channel across packets (Z_SYNC_FLUSH per packet); here every packet is a complete zlib stream,
 * which costs a few bytes per packet more and lets any packet be decoded on its own.
 */
import { deflateSync, inflateSync } from "node:zlib";
import type { MultifdCompression } from "@ferry/migration";

/**
 * QEMU's `MULTIFD_FLAG_ZLIB` (the value `@ferry/migration` exports; kept here so that a multifd worker
 * thread loads this module without the framework).
 */
const MULTIFD_FLAG_ZLIB = 1 << 1;

/** Modelled sender CPU per 4 KiB page for zlib level 1 on a 2013-era core (~80 MB/s), in ns. */
export const ZLIB_PAGE_COST_NS = 50_000;

/** The zlib method. */
export const zlibCompression: MultifdCompression = {
  name: "zlib",
  flag: MULTIFD_FLAG_ZLIB,
  pageCostNs: ZLIB_PAGE_COST_NS,
  // real time: each channel's worker thread loads this module and takes this export
  worker: { url: import.meta.url, exportName: "zlibCompression" },
  createCompressor(level) {
    return { compress: (data) => deflateSync(data, { level }) };
  },
  createDecompressor() {
    return {
      decompress(data, expected) {
        try {
          return inflateSync(data, { maxOutputLength: expected });
        } catch (e) {
          throw new Error(
            `zlib data does not inflate to ${expected} bytes: ${(e as Error).message}`,
          );
        }
      },
    };
  },
};
