import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { XbzrleDecodeError, xbzrleDecode, xbzrleEncode } from "../src/codec";
import { refDecode, refEncode } from "./reference";

const GUARD = 16;
const GUARD_BYTE = 0xa5;

/** An edit to apply to a page: overwrite `len` bytes at `pos` in one of several patterns. */
type Edit = { pos: number; len: number; kind: "random" | "alternate" | "single" | "equalize" };

const editArb = fc.record({
  pos: fc.nat(),
  len: fc.integer({ min: 1, max: 300 }),
  kind: fc.constantFrom<Edit["kind"]>("random", "alternate", "single", "equalize"),
});

/** A page size plus old page plus a new page derived from it by edits (or fully random). */
const pagePairArb = fc
  .constantFrom(1, 3, 8, 13, 16, 24, 64, 100, 256, 4096)
  .chain((ps) =>
    fc.record({
      ps: fc.constant(ps),
      old: fc.uint8Array({ minLength: ps, maxLength: ps }),
      edits: fc.array(editArb, { maxLength: 12 }),
      noise: fc.uint8Array({ minLength: ps, maxLength: ps }),
      fullyRandom: fc.boolean(),
    }),
  )
  .map(({ ps, old, edits, noise, fullyRandom }) => {
    const neu = fullyRandom ? noise.slice() : old.slice();
    if (!fullyRandom) {
      for (const e of edits) {
        const start = e.pos % ps;
        const end = Math.min(ps, start + e.len);
        for (let i = start; i < end; i++) {
          const j = i - start;
          if (e.kind === "random") neu[i] = noise[i];
          else if (e.kind === "alternate") neu[i] = j % 2 === 0 ? old[i] ^ 0xff : old[i];
          else if (e.kind === "single") neu[i] = i === start || i === end - 1 ? old[i] ^ 1 : neu[i];
          else neu[i] = old[i];
        }
      }
    }
    return { ps, old, neu };
  });

/** Places `page` at byte offset `off` of a fresh buffer with `tail` extra bytes. */
function place(page: Uint8Array, off: number, tail = 3): Uint8Array {
  const buf = new Uint8Array(off + page.length + tail);
  buf.set(page, off);
  return buf;
}

describe("XBZRLE codec properties", () => {
  it("matches the byte-at-a-time reference encoder for any pages, offsets and limits", () => {
    fc.assert(
      fc.property(
        pagePairArb,
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        fc.oneof(fc.constant(-1), fc.nat({ max: 9000 })),
        ({ ps, old, neu }, oOff, nSel, outOff, limitSel) => {
          // Half the cases share alignment mod 4 (the word-at-a-time path), half not.
          const nOff = nSel < 4 ? (oOff + 4 * nSel) & 7 : nSel;
          const limit = limitSel < 0 ? ps : limitSel;
          const ref = refEncode(old, neu, limit);
          const out = new Uint8Array(outOff + limit + GUARD).fill(GUARD_BYTE);
          const n = xbzrleEncode(
            place(old, oOff),
            oOff,
            place(neu, nOff),
            nOff,
            ps,
            out,
            outOff,
            limit,
          );
          expect(n).toBe(ref.result);
          if (n > 0) {
            expect(Array.from(out.subarray(outOff, outOff + n))).toEqual(ref.bytes);
          }
          // Never outside [outOff, outOff + limit).
          expect(out.subarray(0, outOff).every((b) => b === GUARD_BYTE)).toBe(true);
          expect(out.subarray(outOff + limit).every((b) => b === GUARD_BYTE)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("matches the reference on densely changed pages, with limits around the encoded size", () => {
    // Dense changes make the encoder's output outgrow its input, which triggers its early
    // overflow probe: the result must still be exactly QEMU's, on both sides of the limit.
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4096, maxLength: 4096 }),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: -64, max: 64 }),
        fc.integer({ min: 0, max: 3 }),
        (old, density, seed, delta, off) => {
          let r = seed | 1;
          const neu = old.slice();
          for (let i = 0; i < neu.length; i++) {
            r ^= r << 13;
            r ^= r >>> 17;
            r ^= r << 5;
            if ((r & 0xff) < density) neu[i] = old[i] ^ (1 + ((r >>> 8) % 255));
          }
          const full = refEncode(old, neu, 3 * 4096);
          const size = full.result > 0 ? full.result : 4096;
          for (const limit of [4096, Math.max(0, size + delta), Math.max(0, size - 1), size]) {
            const ref = refEncode(old, neu, limit);
            const out = new Uint8Array(limit + GUARD);
            const n = xbzrleEncode(place(old, off), off, place(neu, off), off, 4096, out, 0, limit);
            expect(n).toBe(ref.result);
            if (n > 0) expect(Array.from(out.subarray(0, n))).toEqual(ref.bytes);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("decode(encode(old, new)) over a copy of old gives new", () => {
    fc.assert(
      fc.property(pagePairArb, fc.boolean(), ({ ps, old, neu }, tightLimit) => {
        const limit = tightLimit ? ps : 3 * ps + 8;
        const out = new Uint8Array(limit);
        const n = xbzrleEncode(old, 0, neu, 0, ps, out, 0, limit);
        if (n === 0) {
          expect(neu).toEqual(old);
          return;
        }
        if (n === -1) {
          expect(tightLimit).toBe(true);
          return;
        }
        expect(n).toBeLessThanOrEqual(limit);
        const page = place(old, 4, GUARD);
        page.fill(GUARD_BYTE, 0, 4);
        page.fill(GUARD_BYTE, 4 + ps);
        const d = xbzrleDecode(out, 0, n, page, 4, ps);
        expect(d).toBeLessThanOrEqual(ps);
        expect(page.subarray(4, 4 + ps)).toEqual(neu);
        expect(page.subarray(0, 4).every((b) => b === GUARD_BYTE)).toBe(true);
        expect(page.subarray(4 + ps).every((b) => b === GUARD_BYTE)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("never encodes a page larger than the limit allows, with dlen = page size", () => {
    fc.assert(
      fc.property(pagePairArb, ({ ps, old, neu }) => {
        const out = new Uint8Array(ps);
        const n = xbzrleEncode(old, 0, neu, 0, ps, out, 0, ps);
        expect(n).toBeGreaterThanOrEqual(-1);
        expect(n).toBeLessThanOrEqual(ps);
      }),
    );
  });

  /** Runs the decoder on `payload` over a guarded page; checks it agrees with the reference. */
  function checkDecoderAgainstReference(payload: Uint8Array, base: Uint8Array): void {
    const ps = base.length;
    const buf = new Uint8Array(GUARD + ps + GUARD).fill(GUARD_BYTE);
    buf.set(base, GUARD);
    const refPage = base.slice();
    const refResult = refDecode(payload, refPage);
    let result: number;
    try {
      result = xbzrleDecode(payload, 0, payload.length, buf, GUARD, ps);
    } catch (e) {
      if (!(e instanceof XbzrleDecodeError)) throw e;
      result = -1;
    }
    expect(result).toBe(refResult);
    expect(buf.subarray(GUARD, GUARD + ps)).toEqual(refPage);
    expect(buf.subarray(0, GUARD).every((b) => b === GUARD_BYTE)).toBe(true);
    expect(buf.subarray(GUARD + ps).every((b) => b === GUARD_BYTE)).toBe(true);
  }

  it("on random input throws only XbzrleDecodeError, never writes outside the page", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 8, 16, 64, 4096),
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          // Mostly small lengths, so that inputs get past the first checks more often.
          fc
            .array(
              fc.oneof(
                { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 4 },
                { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
                { arbitrary: fc.constantFrom(0x80, 0x81, 0xff, 0x1f, 0x20), weight: 1 },
              ),
              { maxLength: 48 },
            )
            .map((a) => Uint8Array.from(a)),
        ),
        (ps, payload) => {
          checkDecoderAgainstReference(payload, new Uint8Array(ps).fill(0x11));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("on corrupted or truncated valid payloads behaves like QEMU's decoder", () => {
    fc.assert(
      fc.property(
        pagePairArb,
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
          maxLength: 4,
        }),
        fc.nat(),
        fc.boolean(),
        ({ ps, old, neu }, flips, cut, truncate) => {
          const out = new Uint8Array(3 * ps + 8);
          const n = xbzrleEncode(old, 0, neu, 0, ps, out, 0, out.length);
          if (n <= 0) return;
          let payload = out.slice(0, n);
          for (const f of flips) payload[f.at % n] = f.value;
          if (truncate) payload = payload.slice(0, cut % (n + 1));
          checkDecoderAgainstReference(payload, old);
        },
      ),
      { numRuns: 400 },
    );
  });
});
