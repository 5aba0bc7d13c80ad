/**
 * Fletcher-64, the switchover acknowledgement's digest of a version-2 stream: the WebAssembly
 * module and the JavaScript fallback against a BigInt reference written from the definition,
 * under any split of the bytes; chunks larger than the module's scratch area; two digests
 * interleaved on the one module; what it detects; and the committed binary against its source.
 */
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createFletcher64,
  createFletcher64Js,
  FLETCHER64_WASM,
  type Fletcher64,
} from "../src/index";
import { splitAt } from "./helpers";

/** The definition: little-endian 32-bit words, the last zero-padded; a += w, b += a mod 2^64. */
function reference(bytes: Uint8Array): string {
  const M = (1n << 64n) - 1n;
  let a = 0n;
  let b = 0n;
  for (let i = 0; i < bytes.length; i += 4) {
    let w = 0n;
    for (let k = 0; k < 4; k++) w |= BigInt(bytes[i + k] ?? 0) << BigInt(8 * k);
    a = (a + w) & M;
    b = (b + a) & M;
  }
  return a.toString(16).padStart(16, "0") + b.toString(16).padStart(16, "0");
}

const digestOf = (make: () => Fletcher64, pieces: Uint8Array[], gathered: boolean): string => {
  const f = make();
  if (gathered) f.addAll(pieces);
  else for (const p of pieces) f.add(p);
  return f.hex();
};

describe("Fletcher-64", () => {
  it("runs in WebAssembly on this Node", () => {
    expect(FLETCHER64_WASM).toBe(true);
  });

  it("equals the definition, in WebAssembly and in JavaScript, however the bytes are cut", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(2000), { maxLength: 8 }),
        fc.boolean(),
        (bytes, cuts, gathered) => {
          const want = reference(bytes);
          const pieces = splitAt(bytes, cuts);
          expect(digestOf(createFletcher64, pieces, gathered)).toBe(want);
          expect(digestOf(createFletcher64Js, pieces, gathered)).toBe(want);
        },
      ),
    );
  });

  it("known values: empty, one partial word, the sums' carries", () => {
    expect(createFletcher64().hex()).toBe("0".repeat(32));
    const f = createFletcher64();
    f.add(Uint8Array.of(1, 2, 3));
    // One word 0x00030201: a = b = 0x30201.
    expect(f.hex()).toBe("0000000000030201".repeat(2));
    // All-ones words: a and b pass 2^32 quickly, so the high halves are exercised.
    const ones = new Uint8Array(4096).fill(0xff);
    expect(digestOf(createFletcher64, [ones], false)).toBe(reference(ones));
    expect(digestOf(createFletcher64Js, [ones], false)).toBe(reference(ones));
  });

  it("chunks and gathered runs larger than the module's 4 MiB scratch area", () => {
    const big = new Uint8Array((9 << 20) + 7);
    for (let o = 0; o < big.length; o += 65536) randomFillSync(big.subarray(o, o + 65536));
    const js = createFletcher64Js();
    js.add(big);
    const want = js.hex();
    expect(digestOf(createFletcher64, [big], false)).toBe(want);
    // A gathered write: small and large pieces, the large ones over the scratch area's size.
    const pieces = splitAt(big, [5, 4096 * 3 + 1, (4 << 20) + 9, (4 << 20) + 17, 9 << 20]);
    expect(digestOf(createFletcher64, pieces, true)).toBe(want);
  });

  it("two digests interleaved on the one module keep their own sums", () => {
    const x = new Uint8Array(10_001);
    const y = new Uint8Array(7_777);
    randomFillSync(x);
    randomFillSync(y);
    const fx = createFletcher64();
    const fy = createFletcher64();
    for (let i = 0; i < 10; i++) {
      fx.add(x.subarray(i * 1000, i === 9 ? x.length : (i + 1) * 1000));
      expect(fy.hex()).toBe(reference(y.subarray(0, Math.min(y.length, i * 800))));
      fy.add(y.subarray(i * 800, i === 9 ? y.length : (i + 1) * 800));
      expect(fx.hex()).toBe(reference(x.subarray(0, i === 9 ? x.length : (i + 1) * 1000)));
    }
    expect([fx.hex(), fy.hex()]).toEqual([reference(x), reference(y)]);
  });

  it("changes when any one byte changes, when two words swap, when a word moves", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 600 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, at, delta) => {
          const i = at % bytes.length;
          const changed = bytes.slice();
          changed[i] = (changed[i]! + delta) & 0xff;
          expect(reference(changed)).not.toBe(reference(bytes));
          // Two different words swapped.
          const words = Math.floor(bytes.length / 4);
          const j = (at >>> 3) % words;
          const k = (j + 1 + (at % Math.max(1, words - 1))) % words;
          const wj = bytes.subarray(j * 4, j * 4 + 4);
          const wk = bytes.subarray(k * 4, k * 4 + 4);
          if (j !== k && wj.some((v, n) => v !== wk[n])) {
            const swapped = bytes.slice();
            swapped.set(wk, j * 4);
            swapped.set(wj, k * 4);
            expect(reference(swapped)).not.toBe(reference(bytes));
          }
        },
      ),
    );
  });

  it("the committed fletcher64.wasm and its base64 module are a build of fletcher64.wat", () => {
    const build = resolve(import.meta.dirname, "../wasm/build.mjs");
    // Exits 1 (and execFileSync throws) when either committed file differs from a fresh build.
    execFileSync(process.execPath, [build, "--check"], { stdio: "pipe" });
  });
});
