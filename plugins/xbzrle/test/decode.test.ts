import { describe, expect, it } from "vitest";
import { XbzrleArgumentError, XbzrleDecodeError, xbzrleDecode } from "../src/codec";

function dec(bytes: number[], page: Uint8Array): number {
  return xbzrleDecode(Uint8Array.from(bytes), 0, bytes.length, page, 0, page.length);
}

describe("xbzrleDecode", () => {
  it("applies runs in place, leaving zero-run bytes untouched", () => {
    const page = new Uint8Array(16).fill(0x33);
    expect(dec([0x02, 0x03, 1, 2, 3, 0x04, 0x01, 9], page)).toBe(10);
    expect(Array.from(page)).toEqual([
      0x33, 0x33, 1, 2, 3, 0x33, 0x33, 0x33, 0x33, 9, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
    ]);
  });

  it("an empty payload changes nothing and returns 0", () => {
    const page = new Uint8Array(8).fill(4);
    expect(dec([], page)).toBe(0);
    expect(page.every((b) => b === 4)).toBe(true);
  });

  it("decodes 2-byte lengths and a run ending exactly at the page end", () => {
    const page = new Uint8Array(4096);
    expect(dec([0xff, 0x1f, 0x01, 0x77], page)).toBe(4096);
    expect(page[4095]).toBe(0x77);
  });

  it("decodes into a page inside a larger buffer and reads a payload at an offset", () => {
    const ram = new Uint8Array(64).fill(1);
    const src = Uint8Array.of(0xaa, 0xbb, 0x00, 0x02, 7, 8, 0xcc);
    expect(xbzrleDecode(src, 2, 4, ram, 16, 16)).toBe(2);
    expect(Array.from(ram.subarray(14, 20))).toEqual([1, 1, 7, 8, 1, 1]);
  });

  const bad: [string, number[], RegExp][] = [
    ["a lone byte", [0x00], /zero-run length needs at least 2 bytes left, found 1/],
    [
      "a zero run with no changed run",
      [0x05, 0x01, 0x09, 0x02, 0x03],
      /changed-run length needs at least 2/,
    ],
    [
      "a zero-length zero run after the first",
      [0x00, 0x01, 9, 0x00, 0x01, 9],
      /only allowed for the first run/,
    ],
    ["a zero-length changed run", [0x01, 0x00, 0x00], /must be non-zero/],
    ["a continuation bit in the 2nd length byte", [0x80, 0x80, 0x01, 1], /continuation bit/],
    [
      "a changed-run length with a bad 2nd byte",
      [0x00, 0x81, 0x81, 1],
      /changed-run length: second/,
    ],
    ["a zero run past the page", [0x11, 0x01, 9], /ends at page offset 17, past the page size 16/],
    ["a changed run past the page", [0x0f, 0x02, 1, 2], /passes the page size 16/],
    ["a changed run past the payload", [0x00, 0x05, 1, 2], /needs 5 payload bytes, found 2/],
  ];
  for (const [what, bytes, msg] of bad) {
    it(`rejects ${what}`, () => {
      const page = new Uint8Array(16);
      let err: unknown;
      try {
        dec(bytes, page);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(XbzrleDecodeError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it("reports the payload offset of the faulty run", () => {
    const page = new Uint8Array(16);
    try {
      dec([0x00, 0x01, 9, 0x00, 0x01, 9], page);
      expect.unreachable();
    } catch (e) {
      expect((e as XbzrleDecodeError).payloadOffset).toBe(3);
    }
  });

  it("rejects windows outside the buffers with XbzrleArgumentError", () => {
    const page = new Uint8Array(16);
    const src = new Uint8Array(4);
    expect(() => xbzrleDecode(src, 2, 3, page, 0, 16)).toThrow(XbzrleArgumentError);
    expect(() => xbzrleDecode(src, 0, 4, page, 1, 16)).toThrow(/page: expected 16 bytes/);
    expect(() => xbzrleDecode(src, 0, 4, page, 0, 0)).toThrow(/pageSize/);
  });
});
