/**
 * @ferry/plugin-multifd — QEMU's multifd: pages in packets over several data channels (the
 * framework's multi-channel page sender), optionally compressed with zlib (Node's zlib) or zstd
 * (WebAssembly). See docs/multifd.md.
 */
export * from "./parameters";
export * from "./plugin";
export * from "./zlib";
export * from "./zstd";
