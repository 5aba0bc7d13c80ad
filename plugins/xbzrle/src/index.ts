/**
 * @ferry/plugin-xbzrle — QEMU-compatible XBZRLE for ferry migrations: the codec, page cache and
 * statistics (see `codec.ts`), and the plugin glue: the `xbzrle()` factory with its capability,
 * `xbzrle-cache-size` parameter, page encoder and record type.
 */
export * from "./codec";
export * from "./encoder";
export * from "./parameters";
export * from "./plugin";
export * from "./record";
