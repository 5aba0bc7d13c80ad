/**
 * Multifd packet compression methods (QEMU's `multifd-compression`: none, zlib, zstd). A method is
 * supplied by a plugin (`FerryPlugin.compressions`): the source compresses the normal pages of a
 * packet as one buffer, the destination decompresses it back to exactly `normal_pages × 4 KiB`.
 */

/** Source half of a method, one per channel (QEMU keeps per-channel compression state). */
export interface MultifdCompressor {
  /** Compress `data` (the packet's normal pages, back to back); the result is owned by the caller. */
  compress(data: Uint8Array): Uint8Array;
}

/** Destination half of a method, one per channel. */
export interface MultifdDecompressor {
  /**
   * Decompress `data` into exactly `expected` bytes; throw a clear `Error` when the data is corrupt
   * or does not decompress to that length.
   */
  decompress(data: Uint8Array, expected: number): Uint8Array;
}

/** A `multifd-compression` method. */
export interface MultifdCompression {
  /** The `multifd-compression` value, e.g. `zlib`. */
  readonly name: string;
  /** Its packet flag bits (QEMU's `MULTIFD_FLAG_ZLIB`, `MULTIFD_FLAG_ZSTD`). */
  readonly flag: number;
  /**
   * Modelled sender CPU time to compress one 4 KiB page in virtual time (ns), added to
   * `x-page-cost-ns` on the channel that sends it.
   */
  readonly pageCostNs: number;
  /** A compressor at `level` (the method's `multifd-…-level`). */
  createCompressor(level: number): MultifdCompressor;
  /** A decompressor. */
  createDecompressor(): MultifdDecompressor;
  /**
   * Where a worker thread finds this method (real time: the page work runs on one worker per
   * channel, which imports `url` and takes the export `exportName`, a {@link MultifdCompression}).
   * Absent: in real time the packets of this method are compressed on the migration thread.
   */
  readonly worker?: MultifdCompressionModule;
}

/** An ES module exporting a {@link MultifdCompression} (loaded by multifd worker threads). */
export interface MultifdCompressionModule {
  /** The module's URL (`import.meta.url` of the file that defines the method). */
  readonly url: string;
  /** The name of the export holding the method. */
  readonly exportName: string;
}
