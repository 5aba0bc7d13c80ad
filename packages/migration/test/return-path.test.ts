import { VirtualScheduler } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ackMismatch,
  createLink,
  createRpDecoder,
  crc32Js,
  createFletcher64Js,
  createTally,
  digestKindOf,
  encodeRpMessage,
  type RpMessage,
} from "../src/index";
import { splitAt } from "./helpers";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
/** An acknowledgement's digest: CRC-32 (4 bytes) or Fletcher-64 (16), as hex. */
const digestHex = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map(hex),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map(hex),
);
const message: fc.Arbitrary<RpMessage> = fc.oneof(
  fc.record({ type: fc.constant("shut" as const), status: u32 }),
  fc.record({ type: fc.constant("pong" as const), value: u32 }),
  fc.record({
    type: fc.constant("req-pages" as const),
    block: fc.option(fc.string({ minLength: 1, maxLength: 60 }), { nil: null }),
    start: u64,
    length: u32,
  }),
  fc.record({ type: fc.constant("switchover-ack" as const), bytes: u64, digest: digestHex }),
  fc.record({ type: fc.constant("error" as const), message: fc.string({ maxLength: 200 }) }),
);

describe("return-path messages", () => {
  it("round-trip through any chunking of the wire bytes", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.array(fc.nat(40)), (msgs, cuts) => {
        const wire = msgs.map(encodeRpMessage);
        const all = new Uint8Array(wire.reduce((n, w) => n + w.length, 0));
        let off = 0;
        for (const w of wire) {
          all.set(w, off);
          off += w.length;
        }
        const got: RpMessage[] = [];
        const d = createRpDecoder((m) => got.push(m));
        let at = 0;
        for (const c of cuts) {
          const end = Math.min(all.length, at + c);
          d.push(all.subarray(at, end));
          at = end;
        }
        d.push(all.subarray(at));
        expect(got).toEqual(msgs);
        expect(d.idle).toBe(true);
        expect(d.position).toBe(all.length);
      }),
    );
  });

  it("uses QEMU's framing and type numbers (be16 type, be16 length)", () => {
    expect([...encodeRpMessage({ type: "shut", status: 1 })]).toEqual([0, 1, 0, 4, 0, 0, 0, 1]);
    expect([...encodeRpMessage({ type: "pong", value: 7 })]).toEqual([0, 2, 0, 4, 0, 0, 0, 7]);
    const req = encodeRpMessage({ type: "req-pages", block: null, start: 4096, length: 8192 });
    expect([...req.subarray(0, 4)]).toEqual([0, 4, 0, 12]);
    const reqId = encodeRpMessage({ type: "req-pages", block: "ram0", start: 0, length: 1 });
    expect([...reqId.subarray(0, 4)]).toEqual([0, 3, 0, 17]);
    const ack = encodeRpMessage({ type: "switchover-ack", bytes: 1, digest: "00000002" });
    expect([...ack.subarray(0, 4)]).toEqual([0, 7, 0, 12]);
    expect([...ack.subarray(12)]).toEqual([0, 0, 0, 2]);
    const ack64 = encodeRpMessage({ type: "switchover-ack", bytes: 1, digest: "ab".repeat(16) });
    expect([...ack64.subarray(0, 4)]).toEqual([0, 7, 0, 24]);
    expect(() => encodeRpMessage({ type: "switchover-ack", bytes: 1, digest: "2" })).toThrow(
      /8 or 32 lowercase hex digits, got "2"/,
    );
  });

  it("cuts an over-long error text at a character boundary", () => {
    const long = "é".repeat(40_000); // 80,000 bytes of 2-byte characters
    const got: RpMessage[] = [];
    createRpDecoder((m) => got.push(m)).push(encodeRpMessage({ type: "error", message: long }));
    expect(got).toEqual([{ type: "error", message: "é".repeat(32_767) }]);
  });

  it("refuses unknown types and wrong lengths, naming the byte offset", () => {
    const d = createRpDecoder(() => {});
    d.push(encodeRpMessage({ type: "pong", value: 1 }));
    expect(() => d.push(Uint8Array.of(0, 99, 0, 0))).toThrow(/unknown message type 99 at byte 8/);
    const d2 = createRpDecoder(() => {});
    expect(() => d2.push(Uint8Array.of(0, 1, 0, 2, 0, 0))).toThrow(
      /SHUT message at byte 0 has a 2-byte payload, expected 4/,
    );
    // A switchover acknowledgement is 12 bytes (CRC-32) or 24 (Fletcher-64), nothing between.
    const ack16 = new Uint8Array(4 + 16);
    ack16.set([0, 7, 0, 16]);
    expect(() => createRpDecoder(() => {}).push(ack16)).toThrow(
      /SWITCHOVER_ACK message at byte 0 has a 16-byte payload, expected 12 \(CRC-32\) or 24 \(Fletcher-64\)/,
    );
  });

  it("the tally's digest does not depend on chunking", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(600), { maxLength: 6 }),
        (bytes, cuts) => {
          const a = createTally();
          a.add(bytes);
          const b = createTally();
          for (const piece of splitAt(bytes, cuts)) b.add(piece);
          expect([b.bytes, b.digest]).toEqual([a.bytes, a.digest]);
          // Not a version-2 stream header: CRC-32.
          if (bytes.length < 8 || digestKindOf(bytes) === "crc32") {
            expect(a.digest).toBe(crc32Js(bytes).toString(16).padStart(8, "0"));
          }
        },
      ),
    );
  });

  it("addAll tallies a list of chunks as add does one by one", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 12 }),
        fc.boolean(),
        (chunks, countOnly) => {
          const a = createTally();
          const b = createTally();
          if (countOnly) {
            a.countOnly();
            b.countOnly();
          }
          a.add(Uint8Array.of(7));
          b.add(Uint8Array.of(7));
          for (const c of chunks) a.add(c);
          b.addAll(chunks);
          expect([b.bytes, b.digest, b.digested]).toEqual([a.bytes, a.digest, a.digested]);
        },
      ),
    );
  });

  it("the tally's digest is the CRC-32 of the bytes (zlib's check value)", () => {
    const t = createTally();
    expect([t.bytes, t.digest]).toEqual([0, "00000000"]);
    t.add(new TextEncoder().encode("1234"));
    t.add(new Uint8Array(0));
    t.add(new TextEncoder().encode("56789"));
    expect([t.bytes, t.digest]).toEqual([9, "cbf43926"]);
  });

  it("a version-2 stream header selects Fletcher-64, anything else CRC-32", () => {
    const head = (magic: string, version: number): Uint8Array => {
      const h = new Uint8Array(8);
      h.set(new TextEncoder().encode(magic));
      new DataView(h.buffer).setUint32(4, version);
      return h;
    };
    expect(digestKindOf(head("FRRY", 2))).toBe("fletcher64");
    expect(digestKindOf(head("FRRY", 3))).toBe("fletcher64");
    expect(digestKindOf(head("FRRY", 1))).toBe("crc32"); // an older ferry's stream
    expect(digestKindOf(head("FRRC", 2))).toBe("crc32"); // integrity-framed
    expect(digestKindOf(head("QEVM", 3))).toBe("crc32");
    expect(digestKindOf(head("FRRY", 2).subarray(0, 7))).toBe("crc32");
  });

  it("a version-2 stream's tally is Fletcher-64 of every byte, the header included, however it is cut", () => {
    const v2 = Uint8Array.of(0x46, 0x52, 0x52, 0x59, 0, 0, 0, 2);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(610), { maxLength: 6 }),
        fc.boolean(),
        (body, cuts, gathered) => {
          const bytes = new Uint8Array(8 + body.length);
          bytes.set(v2);
          bytes.set(body, 8);
          const ref = createFletcher64Js();
          ref.add(bytes);
          const pieces = splitAt(bytes, cuts);
          const t = createTally();
          if (gathered) t.addAll(pieces);
          else for (const p of pieces) t.add(p);
          expect([t.bytes, t.digest]).toEqual([bytes.length, ref.hex()]);
          expect(t.digest).toHaveLength(32);
        },
      ),
    );
  });

  it("Fletcher-64 acknowledgements: a wrong digest is refused, naming both", () => {
    const t = createTally();
    t.add(Uint8Array.of(0x46, 0x52, 0x52, 0x59, 0, 0, 0, 2, 1, 2, 3));
    const ok = { type: "switchover-ack" as const, bytes: 11, digest: t.digest };
    expect(ackMismatch(ok, t)).toBeNull();
    // Round trip through the wire form.
    const got: RpMessage[] = [];
    createRpDecoder((m) => got.push(m)).push(encodeRpMessage(ok));
    expect(got).toEqual([ok]);
    const bad = { ...ok, digest: `${"0".repeat(31)}1` };
    expect(ackMismatch(bad, t)).toMatch(
      /digest \(Fletcher-64\) 0x0{31}1 differs from the source's \(Fletcher-64\)/,
    );
    // A CRC-32 acknowledgement for a Fletcher-64 tally (a destination that chose otherwise).
    expect(ackMismatch({ ...ok, digest: "cbf43926" }, t)).toMatch(/\(CRC-32\) 0xcbf43926 differs/);
  });

  it("a count-only tally (x-integrity false) checks an acknowledgement by its byte count alone", () => {
    const t = createTally();
    t.add(new TextEncoder().encode("1234"));
    t.countOnly();
    t.add(new TextEncoder().encode("56789"));
    expect([t.bytes, t.digested]).toEqual([9, false]);
    const ack = (bytes: number, digest: string) => ({
      type: "switchover-ack" as const,
      bytes,
      digest,
    });
    expect(ackMismatch(ack(9, "cbf43926"), t)).toBeNull();
    expect(ackMismatch(ack(9, "00001234"), t)).toBeNull();
    expect(ackMismatch(ack(8, "cbf43926"), t)).toMatch(
      /acknowledged 8 stream bytes, the source sent 9/,
    );
    // A digesting tally refuses the wrong digest.
    const full = createTally();
    full.add(new TextEncoder().encode("123456789"));
    expect(full.digested).toBe(true);
    expect(ackMismatch(ack(9, "00001234"), full)).toMatch(
      /digest \(CRC-32\) 0x00001234 differs from the source's \(CRC-32\) 0xcbf43926/,
    );
  });
});

describe("link: two-way, channels", () => {
  it("carries return-path messages back with latency and the reverse bandwidth", async () => {
    const s = new VirtualScheduler();
    const link = createLink({ scheduler: s, bandwidth: 1000, reverseBandwidth: 100, latency: 1e6 });
    link.destination.receive({ data: () => {}, end: () => {}, error: () => {} });
    let at = -1;
    let got: RpMessage | null = null;
    const reader = (async () => {
      got = await link.source.returnPath!.next(10e9);
      at = s.now();
    })();
    link.destination.returnPath!.send({ type: "pong", value: 42 }); // 8 bytes at 100 B/s = 80 ms
    await s.run();
    await reader;
    expect(got).toEqual({ type: "pong", value: 42 });
    expect(at).toBe(80e6 + 1e6);
    expect(link.stats().reverse).toEqual({ bytes: 8, busyNs: 80e6 });
    expect(link.stats().forward.bytes).toBe(0);
  });

  it("an older ferry's version-1 stream is tallied with CRC-32 on both ends, a version-2 stream with Fletcher-64", async () => {
    for (const [version, digits, ackBytes] of [
      [1, 8, 12],
      [2, 32, 24],
    ] as const) {
      const s = new VirtualScheduler();
      const link = createLink({ scheduler: s, bandwidth: 1e6, latency: 0 });
      link.destination.receive({ data: () => {}, end: () => {}, error: () => {} });
      const bytes = new Uint8Array(1000);
      for (let i = 8; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
      bytes.set([0x46, 0x52, 0x52, 0x59, 0, 0, 0, version]);
      // The header arrives in two pieces: the choice waits for its 8 bytes.
      link.source.write(bytes.subarray(0, 5));
      link.source.write(bytes.subarray(5));
      await s.run();
      const sent = link.source.returnPath!.sent;
      const received = link.destination.returnPath!.received;
      expect([received.bytes, received.digest]).toEqual([sent.bytes, sent.digest]);
      expect(sent.digest).toHaveLength(digits);
      if (version === 1) {
        expect(sent.digest).toBe(crc32Js(bytes).toString(16).padStart(8, "0"));
      }
      // The acknowledgement an older source expects (12 bytes) for its version-1 stream.
      const ack = encodeRpMessage({ type: "switchover-ack", bytes: 1000, digest: received.digest });
      expect(ack.length - 4).toBe(ackBytes);
    }
  });

  it("next() times out in virtual time with a clear error", async () => {
    const s = new VirtualScheduler();
    const link = createLink({ scheduler: s, bandwidth: 1000, latency: 0 });
    const p = link.source.returnPath!.next(5e6);
    const check = expect(p).rejects.toThrow(/link: no return-path message .* within 5 ms/);
    await s.run();
    await check;
    expect(s.now()).toBe(5e6);
  });

  it("N data channels share the forward bandwidth; each channel and direction is accounted", async () => {
    const s = new VirtualScheduler();
    const link = createLink({ scheduler: s, bandwidth: 1000, latency: 0, channels: 3 });
    expect(link.channels).toHaveLength(3);
    expect(link.channels[0]!.source.returnPath).toBeUndefined();
    const arrivals: number[][] = [[], [], [], []];
    const ends = [link, ...link.channels];
    for (const [i, c] of ends.entries()) {
      c.destination.receive({
        data: () => arrivals[i]!.push(s.now()),
        end: () => {},
        error: () => {},
      });
    }
    // 4 channels x 250 bytes at 1000 B/s: the link is busy 1 s in all, not 0.25 s.
    for (const c of ends) c.source.write(new Uint8Array(250));
    link.destination.returnPath!.send({ type: "shut", status: 0 });
    await s.run();
    expect(arrivals.map((a) => a[0])).toEqual([250e6, 500e6, 750e6, 1000e6]);
    const st = link.stats();
    expect(st.forward).toEqual({ bytes: 1000, busyNs: 1e9 });
    expect(st.reverse.bytes).toBe(8);
    expect(st.channels).toEqual([
      { forwardBytes: 250, reverseBytes: 8 },
      { forwardBytes: 250, reverseBytes: 0 },
      { forwardBytes: 250, reverseBytes: 0 },
      { forwardBytes: 250, reverseBytes: 0 },
    ]);
    expect(link.delivered).toBe(1000);
  });

  it("a write on an idle channel does not queue behind another channel's bytes (fair share)", async () => {
    const s = new VirtualScheduler();
    const link = createLink({ scheduler: s, bandwidth: 1000, latency: 1e6, channels: 1 });
    const arrivals: number[][] = [[], []];
    for (const [i, c] of [link, link.channels[0]!].entries()) {
      c.destination.receive({
        data: () => arrivals[i]!.push(s.now()),
        end: () => {
          arrivals[i]!.push(-s.now());
        },
        error: () => {},
      });
    }
    link.source.write(new Uint8Array(1000)); // 1 s of main-channel bytes queued
    link.channels[0]!.source.write(new Uint8Array(10)); // half the link: 20 ms, not behind 1 s
    link.source.write(new Uint8Array(10)); // pays the borrowed time: 1.02 s
    const ended = link.channels[0]!.source.end();
    await s.run();
    await ended;
    expect(arrivals[1]).toEqual([21e6, -21e6]);
    expect(arrivals[0]).toEqual([1001e6, 1021e6]);
    expect(link.stats().forward).toEqual({ bytes: 1020, busyNs: 1.02e9 });
  });

  it("the destination's received tally equals the source's sent tally", async () => {
    const s = new VirtualScheduler();
    const link = createLink({ scheduler: s, bandwidth: 0, latency: 0 });
    link.destination.receive({ data: () => {}, end: () => {}, error: () => {} });
    link.source.write(Uint8Array.of(1, 2, 3));
    link.source.write(Uint8Array.of(4));
    await s.run();
    const sent = link.source.returnPath!.sent;
    const rec = link.destination.returnPath!.received;
    expect([rec.bytes, rec.digest]).toEqual([sent.bytes, sent.digest]);
    expect(sent.bytes).toBe(4);
  });
});
