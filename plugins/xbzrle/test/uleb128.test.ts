import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ULEB128_SMALL_MAX,
  Uleb128RangeError,
  uleb128DecodeSmall,
  uleb128EncodeSmall,
  uleb128SmallSize,
} from "../src/codec";

describe("small ULEB128", () => {
  it("encodes the QEMU byte forms", () => {
    const out = new Uint8Array(4);
    expect(uleb128EncodeSmall(out, 0, 0)).toBe(1);
    expect(out[0]).toBe(0);
    expect(uleb128EncodeSmall(out, 1, 0x7f)).toBe(1);
    expect(out[1]).toBe(0x7f);
    expect(uleb128EncodeSmall(out, 0, 0x80)).toBe(2);
    expect([out[0], out[1]]).toEqual([0x80, 0x01]);
    expect(uleb128EncodeSmall(out, 2, 0x3fff)).toBe(2);
    expect([out[2], out[3]]).toEqual([0xff, 0x7f]);
    expect(uleb128EncodeSmall(out, 0, 4095)).toBe(2);
    expect([out[0], out[1]]).toEqual([0xff, 0x1f]);
  });

  it("rejects values above 0x3fff, negatives, fractions and lack of room", () => {
    const out = new Uint8Array(2);
    expect(() => uleb128EncodeSmall(out, 0, 0x4000)).toThrow(Uleb128RangeError);
    expect(() => uleb128EncodeSmall(out, 0, -1)).toThrow(/0\.\.16383, got -1/);
    expect(() => uleb128EncodeSmall(out, 0, 1.5)).toThrow(Uleb128RangeError);
    expect(() => uleb128EncodeSmall(out, 1, 0x80)).toThrow(/needs 2 bytes at offset 1/);
    expect(() => uleb128EncodeSmall(out, 2, 1)).toThrow(/needs 1 byte at offset 2/);
  });

  it("decodes, rejecting a continuation bit in the 2nd byte and truncation", () => {
    const v = new Uint32Array(1);
    expect(uleb128DecodeSmall(Uint8Array.of(0x05), 0, v)).toBe(1);
    expect(v[0]).toBe(5);
    expect(uleb128DecodeSmall(Uint8Array.of(0xff, 0x7f), 0, v)).toBe(2);
    expect(v[0]).toBe(0x3fff);
    // Non-canonical two-byte form is accepted, as in QEMU.
    expect(uleb128DecodeSmall(Uint8Array.of(0x85, 0x00), 0, v)).toBe(2);
    expect(v[0]).toBe(5);
    expect(uleb128DecodeSmall(Uint8Array.of(0x80, 0x80), 0, v)).toBe(-1);
    expect(uleb128DecodeSmall(Uint8Array.of(0x80), 0, v)).toBe(-1);
    expect(uleb128DecodeSmall(Uint8Array.of(0x80, 0x01), 0, v, 1)).toBe(-1);
    expect(uleb128DecodeSmall(Uint8Array.of(1), 1, v)).toBe(-1);
  });

  it("round-trips every value 0..0x3fff", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: ULEB128_SMALL_MAX }), (n) => {
        const buf = new Uint8Array(3);
        const w = uleb128EncodeSmall(buf, 1, n);
        expect(w).toBe(uleb128SmallSize(n));
        const v = new Uint32Array(1);
        expect(uleb128DecodeSmall(buf, 1, v)).toBe(w);
        expect(v[0]).toBe(n);
      }),
    );
  });
});
