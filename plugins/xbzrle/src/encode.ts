/**
 * The XBZRLE encoder entry point: the WebAssembly SIMD encoder where the runtime supports it,
 * otherwise the JavaScript one. Both give byte-identical results (QEMU's scalar
 * `xbzrle_encode_buffer`, migration/xbzrle.c).
 *
 * Body: repeated `zrun_len, nzrun_len, nzrun bytes` where a zrun is a run of bytes equal in the
 * old and new page, an nzrun a run of differing bytes (sent as the NEW bytes). Lengths are small
 * ULEB128. The first zrun may be 0; the trailing zrun is omitted.
 *
 * Setting the environment variable `FERRY_XBZRLE_WASM=0` selects the JavaScript encoder.
 */
import { xbzrleEncodeJs } from "./encode-js";
import { type XbzrleEncodeFn, xbzrleEncodeWasm } from "./encode-wasm";

export { xbzrleEncodeJs } from "./encode-js";
export { createXbzrleWasmKernel, xbzrleEncodeWasm } from "./encode-wasm";
export type { XbzrleEncodeFn, XbzrleWasmKernel } from "./encode-wasm";

/** Encoder result: the new page equals the old one; nothing needs to be sent. */
export const XBZRLE_UNCHANGED = 0;
/** Encoder result: the encoding would not fit in `outLimit` bytes (QEMU's -1). */
export const XBZRLE_OVERFLOW = -1;

function wasmDisabled(): boolean {
  return typeof process === "object" && process.env?.FERRY_XBZRLE_WASM === "0";
}

/** Which encoder {@link xbzrleEncode} is: `"wasm"` or `"js"`. */
export const XBZRLE_ENCODER: "wasm" | "js" =
  xbzrleEncodeWasm !== null && !wasmDisabled() ? "wasm" : "js";

/**
 * Encodes the difference between the old page `old[oldOff .. oldOff+pageSize)` and the new page
 * `neu[newOff .. newOff+pageSize)` into `out[outOff ..]`, writing at most `outLimit` bytes.
 *
 * QEMU's rules, with `dlen = outLimit` and `d` the bytes written so far: before each run pair
 * and again after writing its zero-run length, `d + 2 > dlen` is an overflow; after writing
 * the changed-run length, `d + nzrun_len > dlen` is an overflow. So an identical page still
 * returns -1 when `outLimit < 2`. A run longer than 0x3fff bytes (only possible with
 * pages larger than 16 KiB, where QEMU would abort on an assertion) also returns -1.
 * On overflow, bytes within `out[outOff .. outOff+outLimit)` may have been written; nothing
 * outside that window is.
 *
 * @returns 0 if the pages are identical, -1 on overflow, else the encoded length in bytes
 * @throws XbzrleArgumentError if a page or the output window lies outside its buffer
 */
export const xbzrleEncode: XbzrleEncodeFn =
  XBZRLE_ENCODER === "wasm" && xbzrleEncodeWasm !== null ? xbzrleEncodeWasm : xbzrleEncodeJs;
