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
import { xbzrleEncodeJs } from "./encode-js";
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

/** The WebAssembly memory object's API used here. */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** Compiles the embedded module, or returns null where WebAssembly SIMD is unavailable. */
function compile(): { api: WasmApi; module: object } | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    return { api, module: new api.Module(decodeBase64(XBZRLE_WASM_BASE64)) };
  } catch {
    // No SIMD (or no WebAssembly compilation allowed): the JavaScript encoder is used.
    return null;
  }
}

const compiled = compile();

/** Whether the WebAssembly SIMD module compiled in this process. */
export const XBZRLE_WASM_AVAILABLE: boolean = compiled !== null;

/** The module's scratch area (old page, new page, output), before any store: 8 × 64 KiB. */
const SCRATCH_BYTES = 8 * 65536;
/** Bytes after a store that vector reads past its last page may touch. */
const STORE_SLACK = 64;
/** wasm32's largest memory, in 64 KiB pages. */
const MAX_WASM_PAGES = 65536;

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

/** The output area: after the old and the new page regions of the largest page. */
const OUT_AREA_AT = 2 * regionSize(XBZRLE_WASM_MAX_PAGE);
/** The output area's size: the longest encoding of the largest page (16 bytes of slack follow). */
const OUT_AREA_BYTES = limitCap(XBZRLE_WASM_MAX_PAGE);

/**
 * One instance of the WebAssembly encoder with its own memory. Pages already inside that memory
 * (a store from {@link XbzrleWasmKernel.allocate}, e.g. the page cache's) are compared in place;
 * other pages are copied into its scratch area first.
 */
export interface XbzrleWasmKernel {
  /**
   * Encodes like {@link xbzrleEncodeJs}: same arguments, results, errors and output bytes
   * (pages above {@link XBZRLE_WASM_MAX_PAGE} go to the JavaScript encoder). Unlike the
   * JavaScript encoder, an overflow (-1) leaves `out` untouched.
   */
  readonly encode: XbzrleEncodeFn;
  /**
   * A zero-filled store of `bytes` inside this kernel's memory, replacing (and reusing the
   * memory of) any store allocated before; a plain `Uint8Array` when the memory cannot grow
   * that far (wasm32 memories stop at 4 GiB).
   */
  readonly allocate: (bytes: number) => Uint8Array;
  /**
   * The kernel's output area (`3 × 64 KiB + 8` bytes in its memory; the view is replaced when
   * the memory grows, so fetch it per use). An encoding into it is written in place instead of
   * being copied out; the encoder may then also overwrite up to 15 bytes of the area past the
   * `outLimit` window.
   */
  output(): Uint8Array;
  /** Whether `bytes` lies in this kernel's memory (compared without a copy). */
  holds(bytes: Uint8Array): boolean;
}

/**
 * Makes a WebAssembly encoder instance, or returns null where WebAssembly SIMD is unavailable (or
 * the runtime refuses another instance's memory).
 */
export function createXbzrleWasmKernel(): XbzrleWasmKernel | null {
  if (compiled === null) return null;
  let instance: { exports: object };
  try {
    instance = new compiled.api.Instance(compiled.module, {});
  } catch {
    // No memory for another instance: the caller uses the JavaScript encoder.
    return null;
  }
  const { encode: wasmEncode, memory } = instance.exports as {
    encode: WasmEncode;
    memory: WasmMemory;
  };
  let mem = new Uint8Array(memory.buffer);
  let storeAllocated = false;

  const encode: XbzrleEncodeFn = (old, oldOff, neu, newOff, pageSize, out, outOff, outLimit) => {
    if (pageSize > XBZRLE_WASM_MAX_PAGE) {
      return xbzrleEncodeJs(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit);
    }
    checkEncodeArgs(old, oldOff, neu, newOff, pageSize, out, outOff, outLimit);
    const m = mem;
    const buf = m.buffer;
    const region = regionSize(pageSize);
    let o = 0;
    if (old.buffer === buf) o = old.byteOffset + oldOff;
    else m.set(old.subarray(oldOff, oldOff + pageSize), 0);
    let n = region;
    if (neu.buffer === buf) n = neu.byteOffset + newOff;
    else m.set(neu.subarray(newOff, newOff + pageSize), region);
    const dlen = Math.min(outLimit, limitCap(pageSize));
    if (out.buffer === buf) {
      // Into the kernel's output area: written in place, nothing to copy out.
      const at = out.byteOffset + outOff;
      if (at >= OUT_AREA_AT && at + dlen <= OUT_AREA_AT + OUT_AREA_BYTES) {
        return wasmEncode(o, n, pageSize, at, dlen);
      }
    }
    const len = wasmEncode(o, n, pageSize, OUT_AREA_AT, dlen);
    if (len > 0) {
      if (len < COPY_LOOP_MAX) {
        for (let i = 0; i < len; i++) out[outOff + i] = m[OUT_AREA_AT + i];
      } else {
        out.set(m.subarray(OUT_AREA_AT, OUT_AREA_AT + len), outOff);
      }
    }
    return len;
  };

  let outView = new Uint8Array(memory.buffer, OUT_AREA_AT, OUT_AREA_BYTES);
  const output = (): Uint8Array => {
    if (outView.buffer !== memory.buffer) {
      outView = new Uint8Array(memory.buffer, OUT_AREA_AT, OUT_AREA_BYTES);
    }
    return outView;
  };

  const allocate = (bytes: number): Uint8Array => {
    const pages = Math.ceil((SCRATCH_BYTES + bytes + STORE_SLACK) / 65536);
    const have = memory.buffer.byteLength / 65536;
    if (pages > have) {
      if (pages > MAX_WASM_PAGES) return new Uint8Array(bytes);
      try {
        memory.grow(pages - have);
      } catch {
        return new Uint8Array(bytes);
      }
      mem = new Uint8Array(memory.buffer);
    }
    const store = new Uint8Array(memory.buffer, SCRATCH_BYTES, bytes);
    if (storeAllocated) store.fill(0);
    storeAllocated = true;
    return store;
  };

  return { encode, allocate, output, holds: (bytes) => bytes.buffer === mem.buffer };
}

const defaultKernel = createXbzrleWasmKernel();

/**
 * The process-wide WebAssembly encoder (a shared {@link XbzrleWasmKernel}'s `encode`), or `null`
 * where WebAssembly SIMD is unavailable.
 */
export const xbzrleEncodeWasm: XbzrleEncodeFn | null =
  defaultKernel === null ? null : defaultKernel.encode;
