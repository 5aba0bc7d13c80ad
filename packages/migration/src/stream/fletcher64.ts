/**
 * Fletcher-64: the digest of the switchover acknowledgement on a stream of version 2 or later (see
 * `return-path/tally.ts` and docs/stream-format.md#return-path). The bytes are read as
 * little-endian 32-bit words at stream offsets 0, 4, 8, …; two sums modulo 2^64 run over them,
 * `a += w; b += a` (Fletcher's checksum, with 64-bit sums of 32-bit words as in ZFS's
 * `fletcher_4` family); a last partial word is read zero-padded. `b` weighs each word by its
 * distance from the end, so reordered, dropped or repeated words change it; while the stream is
 * under 16 GiB, any change confined to one or two words changes the pair.
 *
 * It replaced CRC-32 there for speed: the sums run in WebAssembly with 128-bit SIMD
 * (wasm/fletcher64.wat) at ~0.2 µs per 4 KiB page in cache, where `zlib.crc32` takes ~1.25 µs.
 * Guest RAM is not WebAssembly memory, so the bytes are first copied into the module's 4 MiB
 * scratch area (one copy per chunk, or per run of pieces for a gathered write). Where WebAssembly
 * SIMD is unavailable, a JavaScript version gives the same values.
 *
 * Any split of the stream into chunks gives the same digest: a chunk completes the pending
 * partial word first, and its last 1–3 bytes become the new pending word.
 */
import { FLETCHER64_WASM_BASE64 } from "./fletcher64-wasm-bytes.js";

/** A running Fletcher-64 digest. */
export interface Fletcher64 {
  /** Add bytes (in stream order). */
  add(chunk: Uint8Array): void;
  /** Add every chunk of `chunks` (in stream order). */
  addAll(chunks: readonly Uint8Array[]): void;
  /** The digest so far: `be64 a ‖ be64 b` (the partial last word zero-padded), 32 hex digits. */
  hex(): string;
}

/**
 * The state of one digest, laid out as the module keeps it at address 0: `a` (lo, hi), `b` (lo,
 * hi), the pending partial word, its byte count (0–3). Little-endian, as WebAssembly memory.
 */
type State = Uint32Array;

const TWO32 = 0x100000000;

/** `be64 a ‖ be64 b` of a state, with its pending word (if any) summed in. */
function stateHex(s: State): string {
  let a = (BigInt(s[1]!) << 32n) | BigInt(s[0]!);
  let b = (BigInt(s[3]!) << 32n) | BigInt(s[2]!);
  if (s[5]! > 0) {
    a = BigInt.asUintN(64, a + BigInt(s[4]!));
    b = BigInt.asUintN(64, b + a);
  }
  return a.toString(16).padStart(16, "0") + b.toString(16).padStart(16, "0");
}

/** Fold `data` into `s` in JavaScript (the fallback; the same sums as the module). */
function foldJs(s: State, data: Uint8Array): void {
  let alo = s[0]!;
  let ahi = s[1]!;
  let blo = s[2]!;
  let bhi = s[3]!;
  let pend = s[4]!;
  let pn = s[5]!;
  const n = data.length;
  let i = 0;
  const word = (w: number): void => {
    alo += w;
    if (alo >= TWO32) {
      alo -= TWO32;
      ahi = (ahi + 1) >>> 0;
    }
    blo += alo;
    let carry = 0;
    if (blo >= TWO32) {
      blo -= TWO32;
      carry = 1;
    }
    bhi = (bhi + ahi + carry) >>> 0;
  };
  if (pn > 0) {
    while (pn < 4 && i < n) {
      pend = (pend | (data[i++]! << (8 * pn))) >>> 0;
      pn++;
    }
    if (pn === 4) {
      word(pend);
      pend = 0;
      pn = 0;
    }
  }
  for (; i + 4 <= n; i += 4) {
    word((data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0);
  }
  for (; i < n; i++) {
    pend = (pend | (data[i]! << (8 * pn))) >>> 0;
    pn++;
  }
  s[0] = alo;
  s[1] = ahi;
  s[2] = blo;
  s[3] = bhi;
  s[4] = pend;
  s[5] = pn;
}

/** The JavaScript Fletcher-64 (the fallback, and the reference the module is tested against). */
export function createFletcher64Js(): Fletcher64 {
  const s: State = new Uint32Array(6);
  return {
    add(chunk) {
      foldJs(s, chunk);
    },
    addAll(chunks) {
      for (let i = 0; i < chunks.length; i++) foldJs(s, chunks[i]!);
    },
    hex: () => stateHex(s),
  };
}

/** Where the module's scratch area starts, and its size (the module's memory is 65 × 64 KiB). */
const SCRATCH = 65536;
const SCRATCH_BYTES = 4 << 20;

/** The instantiated module, shared by every digest of the process (each keeps its own state). */
interface Engine {
  readonly fold: (p: number, len: number) => void;
  readonly mem: Uint8Array;
  /** The module's state words (address 0). */
  readonly state: State;
  /** The state array of the digest whose state is in the module now. */
  owner: State | null;
}

/** The part of the WebAssembly JS API used here (the project compiles without DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** Instantiates the embedded module, or returns null where WebAssembly SIMD is unavailable. */
function instantiate(): Engine | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    const instance = new api.Instance(new api.Module(decodeBase64(FLETCHER64_WASM_BASE64)), {});
    const ex = instance.exports as {
      fold: (p: number, len: number) => void;
      memory: { buffer: ArrayBuffer };
    };
    return {
      fold: ex.fold,
      mem: new Uint8Array(ex.memory.buffer),
      state: new Uint32Array(ex.memory.buffer, 0, 6),
      owner: null,
    };
  } catch {
    return null;
  }
}

const engine: Engine | null = instantiate();

/** True when Fletcher-64 runs in WebAssembly (else in JavaScript). */
export const FLETCHER64_WASM: boolean = engine !== null;

/** Put `s` into the module (saving the state of the digest that was there). */
function claim(e: Engine, s: State): void {
  if (e.owner === s) return;
  if (e.owner !== null) e.owner.set(e.state);
  e.state.set(s);
  e.owner = s;
}

/** Fold a chunk of any length through the scratch area, 4 MiB at a time. */
function foldWasm(e: Engine, chunk: Uint8Array): void {
  const n = chunk.length;
  if (n <= SCRATCH_BYTES) {
    e.mem.set(chunk, SCRATCH);
    e.fold(SCRATCH, n);
    return;
  }
  for (let o = 0; o < n; o += SCRATCH_BYTES) {
    const part = chunk.subarray(o, Math.min(n, o + SCRATCH_BYTES));
    e.mem.set(part, SCRATCH);
    e.fold(SCRATCH, part.length);
  }
}

/** A Fletcher-64 digest: in WebAssembly where available, else in JavaScript. */
export function createFletcher64(): Fletcher64 {
  const e = engine;
  if (e === null) return createFletcher64Js();
  const s: State = new Uint32Array(6);
  return {
    add(chunk) {
      if (chunk.length === 0) return;
      claim(e, s);
      foldWasm(e, chunk);
    },
    addAll(chunks) {
      claim(e, s);
      // Pieces are packed into the scratch area back to back and summed in one call per fill.
      let used = 0;
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i]!;
        const n = c.length;
        if (used + n > SCRATCH_BYTES) {
          if (used > 0) e.fold(SCRATCH, used);
          used = 0;
          if (n > SCRATCH_BYTES) {
            foldWasm(e, c);
            continue;
          }
        }
        e.mem.set(c, SCRATCH + used);
        used += n;
      }
      if (used > 0) e.fold(SCRATCH, used);
    },
    hex: () => stateHex(e.owner === s ? e.state : s),
  };
}
