import { describe, expect, it } from "vitest";
import { XbzrleArgumentError, xbzrleDecode, xbzrleEncode } from "../src/codec";

const PS = 4096;

function enc(oldPage: Uint8Array, newPage: Uint8Array, limit = oldPage.length): number[] | number {
  const out = new Uint8Array(limit + 8);
  const n = xbzrleEncode(oldPage, 0, newPage, 0, oldPage.length, out, 0, limit);
  return n <= 0 ? n : Array.from(out.subarray(0, n));
}

function roundTrip(oldPage: Uint8Array, newPage: Uint8Array, bytes: number[]): void {
  const page = oldPage.slice();
  xbzrleDecode(Uint8Array.from(bytes), 0, bytes.length, page, 0, page.length);
  expect(page).toEqual(newPage);
}

describe("xbzrleEncode fixed vectors (4 KiB page)", () => {
  const old = new Uint8Array(PS);
  for (let i = 0; i < PS; i++) old[i] = (i * 7) & 0xff;

  it("identical page -> 0", () => {
    expect(enc(old, old.slice())).toBe(0);
  });

  it("one changed byte at offset 0", () => {
    const neu = old.slice();
    neu[0] = 0xab;
    const expected = [0x00, 0x01, 0xab];
    expect(enc(old, neu)).toEqual(expected);
    roundTrip(old, neu, expected);
  });

  it("one changed byte in the middle (2-byte zero-run length)", () => {
    const neu = old.slice();
    neu[2048] = old[2048] ^ 0xff;
    // 2048 = 0x800 -> 0x80 0x10
    const expected = [0x80, 0x10, 0x01, neu[2048]];
    expect(enc(old, neu)).toEqual(expected);
    roundTrip(old, neu, expected);
  });

  it("one changed byte at the end", () => {
    const neu = old.slice();
    neu[4095] = old[4095] ^ 1;
    // 4095 = 0xfff -> 0xff 0x1f
    const expected = [0xff, 0x1f, 0x01, neu[4095]];
    expect(enc(old, neu)).toEqual(expected);
    roundTrip(old, neu, expected);
  });

  it("two runs; trailing zero run omitted", () => {
    const neu = old.slice();
    neu.set([0xa1, 0xa2, 0xa3], 4);
    neu.set([0xd1, 0xd2], 100);
    for (const p of [4, 5, 6, 100, 101]) expect(neu[p]).not.toBe(old[p]);
    const expected = [0x04, 0x03, 0xa1, 0xa2, 0xa3, 93, 0x02, 0xd1, 0xd2];
    expect(enc(old, neu)).toEqual(expected);
    roundTrip(old, neu, expected);
  });

  it("a changed run of 200 bytes uses a 2-byte length", () => {
    const neu = old.slice();
    for (let i = 10; i < 210; i++) neu[i] = old[i] ^ 0x5a;
    const data = Array.from(neu.subarray(10, 210));
    // 200 = 0xc8 -> (0x48 | 0x80) 0x01
    const expected = [0x0a, 0xc8, 0x01, ...data];
    expect(enc(old, neu)).toEqual(expected);
    roundTrip(old, neu, expected);
  });

  it("every byte changed -> overflow with dlen = page size", () => {
    const neu = old.map((b) => b ^ 0x80);
    expect(enc(old, neu)).toBe(-1);
    // With room it encodes as one run: 0, len 4096 (0x80 0x20), data.
    const big = enc(old, neu, PS + 3) as number[];
    expect(big.slice(0, 3)).toEqual([0x00, 0x80, 0x20]);
    expect(big.length).toBe(PS + 3);
    roundTrip(old, neu, big);
  });

  it("an isolated equal byte inside a changed run costs a new run header", () => {
    const z = new Uint8Array(PS);
    const neu = z.slice();
    neu.set([1, 1, 1, 0, 1, 1], 10);
    const expected = [0x0a, 0x03, 1, 1, 1, 0x01, 0x02, 1, 1];
    expect(enc(z, neu)).toEqual(expected);
    roundTrip(z, neu, expected);
  });

  it("alternating bytes overflow a page-sized limit", () => {
    const z = new Uint8Array(PS);
    const neu = z.slice();
    for (let i = 0; i < PS; i += 2) neu[i] = 0xee;
    expect(enc(z, neu)).toBe(-1);
    // 2048 pairs of 3 bytes (first zrun 0, then 1s); the trailing 1-byte zrun is omitted, but
    // QEMU's "d + 2 > dlen" check runs before it is scanned, so 2 spare bytes are required.
    const full = enc(z, neu, 3 * 2048 + 2) as number[];
    expect(full.length).toBe(3 * 2048);
    expect(full.slice(0, 6)).toEqual([0x00, 0x01, 0xee, 0x01, 0x01, 0xee]);
    expect(enc(z, neu, 3 * 2048 + 1)).toBe(-1);
    roundTrip(z, neu, full);
  });
});

describe("xbzrleEncode overflow rules (QEMU's checks with dlen = outLimit)", () => {
  const old = new Uint8Array(16);

  it("identical page still overflows when outLimit < 2", () => {
    expect(enc(old, old.slice(), 1)).toBe(-1);
    expect(enc(old, old.slice(), 2)).toBe(0);
  });

  it("room for the zero-run length but not the changed-run length", () => {
    const neu = old.slice();
    neu[15] = 9; // encodes to 0f 01 09, ending at the page end
    expect(enc(old, neu, 3)).toEqual([15, 1, 9]);
    expect(enc(old, neu, 2)).toBe(-1);
  });

  it("room for both lengths but not the changed bytes", () => {
    const neu = old.slice();
    neu.set([1, 2, 3, 4], 12); // 0c 04 01 02 03 04
    expect(enc(old, neu, 6)).toEqual([12, 4, 1, 2, 3, 4]);
    expect(enc(old, neu, 5)).toBe(-1);
    expect(enc(old, neu, 3)).toBe(-1);
  });

  it("a second run needs d + 2 <= dlen before it starts", () => {
    const neu = old.slice();
    neu[13] = 1;
    neu[15] = 2; // 0d 01 01 01 01 02
    expect(enc(old, neu, 6)).toEqual([13, 1, 1, 1, 1, 2]);
    expect(enc(old, neu, 5)).toBe(-1);
    expect(enc(old, neu, 4)).toBe(-1);
  });

  it("the omitted trailing zero run still needs 2 spare bytes (QEMU's check order)", () => {
    const neu = old.slice();
    neu[0] = 9; // 00 01 09, then 15 equal bytes that are never encoded
    expect(enc(old, neu, 5)).toEqual([0, 1, 9]);
    expect(enc(old, neu, 4)).toBe(-1);
    expect(enc(old, neu, 3)).toBe(-1);
  });

  it("never writes past outOff + outLimit", () => {
    const neu = old.map((_, i) => i + 1);
    for (let limit = 0; limit < 20; limit++) {
      const out = new Uint8Array(40).fill(0xcc);
      const n = xbzrleEncode(old, 0, neu, 0, 16, out, 5, limit);
      expect(n === -1 || n <= limit).toBe(true);
      expect(out.subarray(0, 5).every((b) => b === 0xcc)).toBe(true);
      expect(out.subarray(5 + limit).every((b) => b === 0xcc)).toBe(true);
    }
  });
});

describe("xbzrleEncode arguments", () => {
  it("rejects windows outside the buffers", () => {
    const a = new Uint8Array(64);
    const out = new Uint8Array(64);
    expect(() => xbzrleEncode(a, 8, a, 0, 64, out, 0, 64)).toThrow(XbzrleArgumentError);
    expect(() => xbzrleEncode(a, 0, a, 0, 64, out, 1, 64)).toThrow(/output: expected 64 bytes/);
    expect(() => xbzrleEncode(a, 0, a, 0, 0, out, 0, 64)).toThrow(/pageSize/);
    expect(() => xbzrleEncode(a, 0, a, 0, 16, out, 0, -1)).toThrow(/outLimit/);
  });

  it("works on pages inside larger buffers at aligned and unaligned offsets", () => {
    const ram = new Uint8Array(3 * PS + 8);
    const cache = new Uint8Array(2 * PS + 8);
    for (const [ro, co] of [
      [PS, PS],
      [PS + 1, 5],
      [PS + 3, 6],
      [2, 1],
    ]) {
      ram.fill(0);
      cache.fill(0);
      ram[ro + 100] = 7;
      const out = new Uint8Array(PS);
      const n = xbzrleEncode(cache, co, ram, ro, PS, out, 0, PS);
      expect(Array.from(out.subarray(0, n))).toEqual([100, 1, 7]);
    }
  });
});
