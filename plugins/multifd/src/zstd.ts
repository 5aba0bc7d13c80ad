/**
 * `multifd-compression=zstd` (QEMU's multifd-zstd.c) with `@bokuweb/zstd-wasm`: zstd compiled to
 * WebAssembly and shipped inside its npm tarball (no native build, no download at install). The
 * normal pages of a packet are compressed at `multifd-zstd-level` into one zstd frame (QEMU keeps
 * one stream per channel; a frame per packet decodes on its own).
 */
import { compress, decompress, init } from "@bokuweb/zstd-wasm";
import type { MultifdCompression } from "@ferry/migration";

/**
 * QEMU's `MULTIFD_FLAG_ZSTD` (the value `@ferry/migration` exports; kept here so that a multifd worker
 * thread loads this module without the framework).
 */
const MULTIFD_FLAG_ZSTD = 2 << 1;

await init();

/** Modelled sender CPU per 4 KiB page for zstd level 1 on a 2013-era core (~300 MB/s), in ns. */
export const ZSTD_PAGE_COST_NS = 14_000;

/** The 4-byte zstd frame magic (little-endian 0xFD2FB528). */
const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** The frame's declared content size when present in its header, else -1. */
function contentSize(b: Uint8Array): number {
  if (b.length < 6 || MAGIC.some((m, i) => b[i] !== m)) return -2;
  const fhd = b[4];
  const fcsFlag = fhd >>> 6;
  const single = (fhd >>> 5) & 1;
  const didFlag = fhd & 3;
  const p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][didFlag];
  const n = [single ? 1 : 0, 2, 4, 8][fcsFlag];
  if (n === 0 || b.length < p + n) return -1;
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i];
  if (n === 2) v += 256;
  return v;
}

/** The zstd method. */
export const zstdCompression: MultifdCompression = {
  name: "zstd",
  flag: MULTIFD_FLAG_ZSTD,
  pageCostNs: ZSTD_PAGE_COST_NS,
  // real time: each channel's worker thread loads this module and takes this export
  worker: { url: import.meta.url, exportName: "zstdCompression" },
  createCompressor(level) {
    return { compress: (data) => compress(data, level) };
  },
  createDecompressor() {
    return {
      decompress(data, expected) {
        // Refuse before decoding a frame that does not declare exactly `expected` bytes (a hostile
        // frame could otherwise make the decoder allocate what it declares).
        const size = contentSize(data);
        if (size !== expected) {
          throw new Error(
            size === -2
              ? "zstd data does not start with a zstd frame"
              : `zstd frame declares ${size < 0 ? "no" : size} content bytes, expected ${expected}`,
          );
        }
        let out: Uint8Array;
        try {
          out = decompress(data);
        } catch (e) {
          throw new Error(`zstd data does not decode: ${(e as Error).message}`);
        }
        return out;
      },
    };
  },
};
