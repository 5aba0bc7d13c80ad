/**
 * Gathered writes: the stream writer hands raw pages to a gathering transport by reference
 * (`bytesByRef`, spliced in by `forEachGathered`) instead of copying them, and the page sender
 * does so only when no codec keeps a copy of what it saw.
 */
import { createAddressSpace, createRamBackend, PAGE_SIZE } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  forEachGathered,
  type GatherSpans,
  type MigrationContext,
  type PageCodec,
  PageSender,
  StreamWriter,
} from "../src/index";
import { concatBytes } from "./helpers";

const PS = PAGE_SIZE;

/** Everything a writer handed on, spans spliced in (copied at the call, as a transport must). */
function collector(): {
  sink: (c: Uint8Array) => void;
  gather: (own: Uint8Array, spans: GatherSpans) => void;
  bytes: () => Uint8Array;
  gathers: number[];
} {
  const parts: Uint8Array[] = [];
  const gathers: number[] = [];
  return {
    sink: (c) => parts.push(c.slice()),
    gather: (own, spans) => {
      gathers.push(spans.count);
      forEachGathered(own, spans, (src, off, len) => parts.push(src.slice(off, off + len)));
    },
    bytes: () => concatBytes(parts),
    gathers,
  };
}

type Op =
  | { kind: "u8"; v: number }
  | { kind: "be32"; v: number }
  | { kind: "bytes"; off: number; len: number }
  | { kind: "ref"; off: number; len: number }
  | { kind: "flush" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("u8" as const), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("be32" as const), v: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({
    kind: fc.constant("bytes" as const),
    off: fc.integer({ min: 0, max: 3000 }),
    len: fc.integer({ min: 0, max: 1000 }),
  }),
  fc.record({
    kind: fc.constant("ref" as const),
    off: fc.integer({ min: 0, max: 3000 }),
    len: fc.integer({ min: 0, max: 1000 }),
  }),
  fc.constant({ kind: "flush" as const }),
);

function apply(w: StreamWriter, src: Uint8Array, o: Op): void {
  if (o.kind === "u8") w.u8(o.v);
  else if (o.kind === "be32") w.be32(o.v);
  else if (o.kind === "bytes") w.bytes(src, o.off, o.len);
  else if (o.kind === "ref") w.bytesByRef(src, o.off, o.len);
  else w.flush();
}

describe("stream writer: bytes by reference", () => {
  it("a gathering writer produces the copying writer's stream and count, whatever the ops (property)", () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 120 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 16, max: 600 }),
        (ops, maxSpans, capacity) => {
          const src = Uint8Array.from({ length: 4000 }, (_, i) => (i * 7 + 3) & 0xff);
          const copy = collector();
          const plain = new StreamWriter(copy.sink, capacity);
          const gath = collector();
          const w = new StreamWriter(gath.sink, capacity);
          w.gatherTo(gath.gather, maxSpans);
          for (const o of ops) {
            apply(plain, src, o);
            apply(w, src, o);
            expect(w.written).toBe(plain.written);
          }
          plain.flush();
          w.flush();
          expect(gath.bytes()).toEqual(copy.bytes());
          // Never more spans in one hand-over than allowed.
          for (const n of gath.gathers) expect(n).toBeLessThanOrEqual(maxSpans);
          const refs = ops.filter((o) => o.kind === "ref").length;
          expect(gath.gathers.reduce((a, n) => a + n, 0)).toBe(refs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads a span's bytes at the flush, not at the call; copies without a gather sink", () => {
    const src = new Uint8Array(16).fill(1);
    const g = collector();
    const w = new StreamWriter(g.sink, 64);
    w.gatherTo(g.gather, 4);
    w.u8(9);
    w.bytesByRef(src, 4, 8);
    src.fill(2);
    w.flush();
    expect([...g.bytes()]).toEqual([9, 2, 2, 2, 2, 2, 2, 2, 2]);
    // Back to copying: the bytes are taken at the call.
    w.gatherTo(null);
    w.bytesByRef(src, 0, 2);
    src.fill(3);
    w.flush();
    expect([...g.bytes()]).toEqual([9, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(g.gathers).toEqual([1]);
  });

  it("reset drops buffered spans and keeps counting them", () => {
    const g = collector();
    const w = new StreamWriter(g.sink, 64);
    w.gatherTo(g.gather, 4);
    w.u8(1);
    w.bytesByRef(new Uint8Array(100), 0, 100);
    expect(w.written).toBe(101);
    w.reset();
    expect(w.written).toBe(101);
    expect(w.buffered).toBe(0);
    w.flush();
    expect(g.bytes().length).toBe(0);
  });
});

// ---- the page sender ----

/** A codec that never encodes a page (the raw record follows), counted as `counts`. */
function passCodec(counts: PageCodec["counts"]): PageCodec {
  return {
    name: `pass-${counts}`,
    order: 0,
    counts,
    readsBytes: counts !== "duplicate",
    createEncoder: () => ({ encode: () => false }),
  };
}

function senderSetup(codecs: readonly PageCodec[]) {
  const space = createAddressSpace();
  const ram = space.addRam({
    name: "ram",
    base: 0,
    size: 4 * PS,
    backend: createRamBackend("array", 4 * PS),
  });
  const bytes = ram.backend.bytes!;
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i >>> 12) + 1;
  const g = collector();
  const w = new StreamWriter(g.sink, 1 << 16);
  w.gatherTo(g.gather, 16);
  const sender = new PageSender([ram], w, { page: () => {} }, { compact: false, pageCostNs: 0 });
  sender.attach(codecs, {} as MigrationContext);
  sender.start();
  return { bytes, g, w, sender };
}

describe("page sender: raw pages by reference", () => {
  it("with only zero-page detection, a raw page goes by reference (a later store shows: it is in the dirty log)", () => {
    const { bytes, g, w, sender } = senderSetup([passCodec("duplicate")]);
    expect(sender.sendNext()).toBe(true);
    bytes[10] = 0xee; // the guest stores after the page was taken
    w.flush();
    expect(g.gathers).toEqual([1]);
    const out = g.bytes();
    expect(out.length).toBe(9 + "ram".length + PS); // header + idstr + the page
    expect(out[out.length - PS + 10]).toBe(0xee);
    expect(sender.normal).toBe(1);
  });

  it("with a codec that keeps what it saw (XBZRLE-like), raw pages are copied when sent", () => {
    const { bytes, g, w, sender } = senderSetup([passCodec("duplicate"), passCodec("other")]);
    expect(sender.sendNext()).toBe(true);
    bytes[10] = 0xee;
    w.flush();
    expect(g.gathers).toEqual([]);
    const out = g.bytes();
    expect(out[out.length - PS + 10]).toBe(1);
  });

  it("post-copy (zero or raw only) sends raw pages by reference again", () => {
    const { g, w, sender } = senderSetup([passCodec("duplicate"), passCodec("other")]);
    sender.zeroOrRawOnly();
    expect(sender.sendNext()).toBe(true);
    expect(sender.sendNext()).toBe(true);
    w.flush();
    // Pages 0 and 1, consecutive: one PAGE_RUN record, one span.
    expect(g.gathers).toEqual([1]);
    expect(g.bytes().length).toBe(9 + "ram".length + 4 + 2 * PS);
  });
});
