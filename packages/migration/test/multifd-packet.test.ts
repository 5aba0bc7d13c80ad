/**
 * The multifd wire format (QEMU's MultiFDInit_t / MultiFDPacket_t): encode/decode round trips and
 * hostile headers (fast-check), and the layout's fixed sizes and offsets.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMultifdInit,
  decodeMultifdPacketHeader,
  encodeMultifdInit,
  encodeMultifdPacketHeader,
  MULTIFD_FLAG_SYNC,
  MULTIFD_FLAG_ZLIB,
  MULTIFD_INIT_SIZE,
  MULTIFD_PACKET_LEN,
  MULTIFD_PAGE_COUNT,
  MultifdFormatError,
} from "../src/index";

const name = fc.stringMatching(/^[a-z][a-z0-9.:_-]{0,40}$/);
const header = fc
  .record({
    normal: fc.integer({ min: 0, max: MULTIFD_PAGE_COUNT }),
    zeroShare: fc.double({ min: 0, max: 1, noNaN: true }),
    flags: fc.constantFrom(
      0,
      MULTIFD_FLAG_SYNC,
      MULTIFD_FLAG_ZLIB,
      MULTIFD_FLAG_SYNC | MULTIFD_FLAG_ZLIB,
    ),
    next: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    num: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    ramblock: name,
    pages: fc.array(fc.integer({ min: 0, max: 2 ** 40 }), {
      minLength: MULTIFD_PAGE_COUNT,
      maxLength: MULTIFD_PAGE_COUNT,
    }),
  })
  .map((r) => {
    const zero = Math.floor((MULTIFD_PAGE_COUNT - r.normal) * r.zeroShare);
    return {
      flags: r.flags,
      pagesAlloc: MULTIFD_PAGE_COUNT,
      normalPages: r.normal,
      zeroPages: zero,
      nextPacketSize: r.next,
      packetNum: r.num,
      ramblock: r.ramblock,
      offsets: r.pages.slice(0, r.normal + zero).map((p) => p * 4096),
    };
  });

describe("multifd packet format", () => {
  it("has QEMU's sizes: a 64-byte handshake, a 320-byte header plus 128 offsets", () => {
    expect(MULTIFD_INIT_SIZE).toBe(64);
    expect(MULTIFD_PACKET_LEN).toBe(320 + 8 * 128);
    const b = encodeMultifdPacketHeader({
      flags: MULTIFD_FLAG_SYNC,
      pagesAlloc: 128,
      normalPages: 1,
      zeroPages: 1,
      nextPacketSize: 4096,
      packetNum: 7,
      ramblock: "ram0",
      offsets: [8192, 4096],
    });
    const dv = new DataView(b.buffer);
    expect(dv.getUint32(0)).toBe(0x11223344);
    expect(dv.getUint32(4)).toBe(1);
    expect(dv.getUint32(8)).toBe(1);
    expect(dv.getUint32(12)).toBe(128);
    expect(dv.getUint32(16)).toBe(1);
    expect(dv.getUint32(20)).toBe(4096);
    expect(dv.getBigUint64(24)).toBe(7n);
    expect(dv.getUint32(32)).toBe(1);
    expect(new TextDecoder().decode(b.subarray(64, 68))).toBe("ram0");
    expect(dv.getBigUint64(320)).toBe(8192n);
    expect(dv.getBigUint64(328)).toBe(4096n);
  });

  it("round-trips every valid header", () => {
    fc.assert(
      fc.property(header, (h) => {
        expect(decodeMultifdPacketHeader(encodeMultifdPacketHeader(h))).toEqual(h);
      }),
    );
  });

  it("refuses corrupted headers with a MultifdFormatError, never anything else", () => {
    fc.assert(
      fc.property(
        header,
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: MULTIFD_PACKET_LEN - 1 }),
            fc.integer({ min: 0, max: 255 }),
          ),
          { minLength: 1, maxLength: 8 },
        ),
        (h, edits) => {
          const b = encodeMultifdPacketHeader(h);
          for (const [at, v] of edits) b[at] = v;
          try {
            const d = decodeMultifdPacketHeader(b);
            expect(d.normalPages + d.zeroPages).toBeLessThanOrEqual(d.pagesAlloc);
            for (const o of d.offsets) expect(o % 4096).toBe(0);
          } catch (e) {
            expect(e).toBeInstanceOf(MultifdFormatError);
          }
        },
      ),
    );
  });

  it("refuses a bad magic, version, unknown flags and oversized pages_alloc", () => {
    const good = () =>
      encodeMultifdPacketHeader({
        flags: 0,
        pagesAlloc: 128,
        normalPages: 0,
        zeroPages: 0,
        nextPacketSize: 0,
        packetNum: 0,
        ramblock: "",
        offsets: [],
      });
    const cases: Array<[number, number, RegExp]> = [
      [0, 0x12345678, /bad magic 0x12345678/],
      [4, 2, /unsupported version 2/],
      [8, 0x100, /unknown flags 0x100/],
      [12, 129, /pages_alloc 129 is more than the maximum 128/],
    ];
    for (const [at, v, msg] of cases) {
      const b = good();
      new DataView(b.buffer).setUint32(at, v);
      expect(() => decodeMultifdPacketHeader(b)).toThrow(msg);
    }
  });

  it("round-trips the channel handshake and refuses a foreign one", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 255 }),
        (uuid, id) => {
          const d = decodeMultifdInit(encodeMultifdInit({ uuid, id }));
          expect(d.id).toBe(id);
          expect([...d.uuid]).toEqual([...uuid]);
        },
      ),
    );
    const main = new Uint8Array(64);
    new DataView(main.buffer).setUint32(0, 0x46525259); // a main stream ("FRRY") is not a channel
    expect(() => decodeMultifdInit(main)).toThrow(/bad magic 0x46525259/);
  });
});
