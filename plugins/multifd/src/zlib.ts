/**
 * `multifd-compression=zlib` with Node's zlib (QEMU's multifd-zlib.c): the normal pages of a packet
 * are deflated at `multifd-zlib-level` into one zlib stream. QEMU keeps one deflate stream per
 * channel across packets (Z_SYNC_FLUSH per packet); here every packet is a complete zlib stream,
 * which costs a few bytes per packet more and lets any packet be decoded on its own.
 */
import { deflateSync, inflateSync } from "node:zlib";
import { MULTIFD_FLAG_ZLIB, type MultifdCompression } from "@ferry/migration";

/** Modelled sender CPU per 4 KiB page for zlib level 1 on a 2013-era core (~80 MB/s), in ns. */
export const ZLIB_PAGE_COST_NS = 50_000;

/** The zlib method. */
export const zlibCompression: MultifdCompression = {
  name: "zlib",
  flag: MULTIFD_FLAG_ZLIB,
  pageCostNs: ZLIB_PAGE_COST_NS,
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
