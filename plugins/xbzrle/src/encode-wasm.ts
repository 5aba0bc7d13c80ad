/**
 * XBZRLE encoder in WebAssembly with 128-bit SIMD (source: wasm/xbzrle.wat), byte-identical to
 * {@link xbzrleEncodeJs} and to QEMU's scalar encoder. Unchanged runs are scanned 64 bytes per
 * step, changed runs 16 bytes per step.
 *
 * The module is compiled synchronously at import from bytes embedded in a generated module
 * (wasm-bytes.ts), so it loads the same from `src/` and from a built `dist/`. Where WebAssembly
 * or its SIMD extension is unavailable, {@link xbzrleEncodeWasm} is `null` and callers use the
 * JavaScript encoder.
 */
import { checkEncodeArgs } from "./encode-args";
import { XBZRLE_WASM_BASE64 } from "./wasm-bytes";

/** The encoder signature shared by the JavaScript and WebAssembly encoders. */
export type XbzrleEncodeFn = (
  old: Uint8Array,
  oldOff: number,
  neu: Uint8Array,
  newOff: number,
  pageSize: number,
  out: Uint8Array,
  outOff: number,
  outLimit: number,
) => number;

/** Largest page the WebAssembly encoder takes (its memory is 8 × 64 KiB, laid out per call). */
export const XBZRLE_WASM_MAX_PAGE = 65536;

/** Output lengths below this are copied out of the module's memory with a byte loop. */
const COPY_LOOP_MAX = 64;

type WasmEncode = (o: number, n: number, slen: number, out: number, dlen: number) => number;

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The part of the WebAssembly JS API used here (the project compiles without DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

/** Instantiates the embedded module, or returns null where WebAssembly SIMD is unavailable. */
function instantiate(): { encode: WasmEncode; mem: Uint8Array } | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    const module = new api.Module(decodeBase64(XBZRLE_WASM_BASE64));
    const instance = new api.Instance(module, {});
    const { encode, memory } = instance.exports as {
      encode: WasmEncode;
      memory: { buffer: ArrayBuffer };
    };
    return { encode, mem: new Uint8Array(memory.buffer) };
  } catch {
    // No SIMD (or no WebAssembly compilation allowed): the JavaScript encoder is used.
    return null;
  }
}

const kernel = instantiate();

/**
 * Most bytes an encoding of an `slen`-byte page can take: at most `slen/2 + 1` run pairs of
 * ≤ 4 length bytes each, plus the changed bytes. A limit at or above this plus 2 can never
 * trigger QEMU's overflow checks, so the encoder may use it in place of a larger limit.
 */
function limitCap(slen: number): number {
  return 3 * slen + 8;
}

/** 16-byte aligned size of a page region, plus slack for whole-vector reads past its end. */
function regionSize(slen: number): number {
  return ((slen + 15) & ~15) + 64;
}

function encodeWith(
  k: { encode: WasmEncode; mem: Uint8Array },
  old: Uint8Array,
  oldOff: number,
  neu: Uint8Array,
  newOff: number,
  pageSize: number,
  out: Uint8Array,
  outOff: number,
  outLimit: number,
): number {
  checkEncodeArgs(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit);
  const mem = k.mem;
  const region = regionSize(pageSize);
  const newAt = region;
  const outAt = 2 * region;
  const cap = limitCap(pageSize);
  const dlen = Math.min(outLimit, cap);
  mem.set(old.subarray(oldOff, oldOff + pageSize), 0);
  mem.set(neu.subarray(newOff, newOff + pageSize), newAt);
  const len = k.encode(0, newAt, pageSize, outAt, dlen);
  if (len > 0) {
    if (len < COPY_LOOP_MAX) {
      for (let i = 0; i < len; i++) out[outOff + i] = mem[outAt + i];
    } else {
      out.set(mem.subarray(outAt, outAt + len), outOff);
    }
  }
  return len;
}

/**
 * Encodes like {@link xbzrleEncodeJs} (same arguments, results, errors and output bytes) with
 * the WebAssembly kernel; `null` where WebAssembly SIMD is unavailable. Pages larger than
 * {@link XBZRLE_WASM_MAX_PAGE} are handed to `fallback`.
 *
 * Unlike the JavaScript encoder, an overflow (-1) leaves `out` untouched.
 */
export function createWasmEncode(fallback: XbzrleEncodeFn): XbzrleEncodeFn | null {
  const k = kernel;
  if (k === null) return null;
  return (old, oldOff, neu, newOff, pageSize, out, outOff, outLimit) =>
    pageSize > XBZRLE_WASM_MAX_PAGE
      ? fallback(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit)
      : encodeWith(k, old, oldOff, neu, newOff, pageSize, out, outOff, outLimit);
}

/** Whether the WebAssembly SIMD kernel compiled in this process. */
export const XBZRLE_WASM_AVAILABLE: boolean = kernel !== null;
