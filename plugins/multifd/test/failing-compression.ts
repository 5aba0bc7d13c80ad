/**
 * Test fixture: a multifd compression method whose compressor fails on its third packet
 * ("injected compressor failure"), to check that a failing worker thread fails the migration.
 * Its data is the raw pages (decompression is the identity).
 */
import type { MultifdCompression } from "@ferry/migration";

/** The failing method (flag 0x3e: a compression value no real method uses). */
export const failingCompression: MultifdCompression = {
  name: "x-failing",
  flag: 0x1f << 1,
  pageCostNs: 0,
  worker: { url: import.meta.url, exportName: "failingCompression" },
  createCompressor() {
    let packets = 0;
    return {
      compress(data) {
        if (++packets === 3) throw new Error("injected compressor failure");
        return data.slice();
      },
    };
  },
  createDecompressor() {
    return { decompress: (data) => data.slice() };
  },
};
