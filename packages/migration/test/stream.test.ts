import { PAGE_SIZE } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createRamRecordRegistry,
  RamFlag,
  type RamRecordType,
  SectionType,
  StreamError,
  StreamReader,
  StreamWriter,
} from "../src/index";
import { concatBytes, guardedBlocks } from "./helpers";

/** One operation of a random stream. */
type Op =
  | { kind: "page"; block: number; page: number; fill: number; zero: boolean }
  | { kind: "part" }
  | { kind: "dev"; name: string; value: number };

const PAGES = [3, 5, 1];

function collect(): { chunks: Uint8Array[]; sink: (c: Uint8Array) => void } {
  const chunks: Uint8Array[] = [];
  return { chunks, sink: (c) => chunks.push(c.slice()) };
}

/** Write a stream for `ops` (pages go into RAM parts; devices at the end). */
function writeStream(ops: readonly Op[], capacity = 512): Uint8Array {
  const { chunks, sink } = collect();
  const w = new StreamWriter(sink, capacity);
  const blocks = PAGES.map((p, i) => ({ name: `ram${i}`, size: p * PAGE_SIZE }));
  const page = new Uint8Array(PAGE_SIZE);
  w.header();
  const id = w.ramSetupSection(blocks);
  w.sectionContinue(SectionType.PART, id);
  const devs: Op[] = [];
  for (const op of ops) {
    if (op.kind === "part") {
      w.ramEos();
      w.footer(id);
      w.sectionContinue(SectionType.PART, id);
    } else if (op.kind === "page") {
      const b = blocks[op.block];
      if (op.zero) {
        w.ramRecord(b, op.page * PAGE_SIZE, RamFlag.ZERO);
        w.u8(0);
      } else {
        page.fill(op.fill);
        page[op.page] = op.block;
        w.ramRecord(b, op.page * PAGE_SIZE, RamFlag.PAGE);
        w.bytes(page, 0, PAGE_SIZE);
      }
    } else devs.push(op);
  }
  w.ramEos();
  w.footer(id);
  w.sectionContinue(SectionType.END, id);
  w.ramEos();
  w.footer(id);
  const seen = new Set<string>();
  for (const d of devs) {
    if (d.kind !== "dev" || seen.has(d.name)) continue;
    seen.add(d.name);
    w.deviceSection(d.name, 0, { [d.name]: d.value });
  }
  w.eof();
  w.flush();
  return concatBytes(chunks);
}

/** Expected RAM after applying `ops`. */
function model(ops: readonly Op[]): Uint8Array[] {
  const ram = PAGES.map((p) => new Uint8Array(p * PAGE_SIZE));
  for (const op of ops) {
    if (op.kind !== "page") continue;
    const r = ram[op.block].subarray(op.page * PAGE_SIZE, (op.page + 1) * PAGE_SIZE);
    if (op.zero) r.fill(0);
    else {
      r.fill(op.fill);
      r[op.page] = op.block;
    }
  }
  return ram;
}

/** Push `data` split at `cuts` (sorted positions). */
function pushSplit(reader: StreamReader, data: Uint8Array, cuts: readonly number[]): void {
  let prev = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const at = Math.min(c, data.length);
    if (at > prev) reader.push(data.subarray(prev, at));
    prev = Math.max(prev, at);
  }
  if (prev < data.length) reader.push(data.subarray(prev));
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        block: fc.integer({ min: 0, max: PAGES.length - 1 }),
        page: fc.nat(),
        fill: fc.integer({ min: 1, max: 255 }),
        zero: fc.boolean(),
      })
      .map((r) => ({ kind: "page" as const, ...r, page: r.page % PAGES[r.block] })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "part" as const }) },
  {
    weight: 1,
    arbitrary: fc
      .record({ name: fc.constantFrom("uart0", "clint", "cpu"), value: fc.integer() })
      .map((r) => ({ kind: "dev" as const, ...r })),
  },
);

describe("stream writer → reader", () => {
  it("round-trips random record sequences split into random chunks", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 40 }),
        fc.array(fc.nat({ max: 200_000 }), { maxLength: 12 }),
        fc.integer({ min: 64, max: 20_000 }),
        (ops, cuts, capacity) => {
          const data = writeStream(ops, capacity);
          const blocks = guardedBlocks(PAGES);
          const reader = new StreamReader({ blocks });
          pushSplit(reader, data, cuts);
          reader.end();
          expect(reader.done).toBe(true);
          expect(reader.position).toBe(data.length);
          const want = model(ops);
          blocks.forEach((b, i) => {
            expect(b.backend.bytes).toEqual(want[i]);
            expect(b.backend.guardsIntact()).toBe(true);
          });
          const devNames = [...new Set(ops.flatMap((o) => (o.kind === "dev" ? [o.name] : [])))];
          expect(reader.devices.map((d) => d.idstr)).toEqual(devNames);
          expect(reader.pages).toBe(ops.filter((o) => o.kind === "page").length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("sends a zero page as 9 bytes of header + 1 fill byte with CONTINUE", () => {
    const { chunks, sink } = collect();
    const w = new StreamWriter(sink);
    const block = { name: "ram", size: 4 * PAGE_SIZE };
    w.ramRecord(block, 0, RamFlag.ZERO);
    w.u8(0);
    const first = w.written;
    w.ramRecord(block, PAGE_SIZE, RamFlag.ZERO);
    w.u8(0);
    w.flush();
    const data = concatBytes(chunks);
    expect(first).toBe(8 + 1 + 3 + 1);
    expect(data.length - first).toBe(9);
    expect([...data.subarray(first, first + 8)]).toEqual([0, 0, 0, 0, 0, 0, 0x10, 0x22]);
  });

  it("refuses random corruptions and truncations with a StreamError, never writing outside RAM", () => {
    const base = writeStream([
      { kind: "page", block: 0, page: 1, fill: 7, zero: false },
      { kind: "page", block: 0, page: 2, fill: 9, zero: true },
      { kind: "part" },
      { kind: "page", block: 1, page: 4, fill: 3, zero: false },
      { kind: "page", block: 2, page: 0, fill: 5, zero: false },
      { kind: "dev", name: "uart0", value: 42 },
    ]);
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant("flip" as const),
        at: fc.nat(),
        bits: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({
        kind: fc.constant("set" as const),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant("insert" as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
      fc.record({
        kind: fc.constant("delete" as const),
        at: fc.nat(),
        len: fc.integer({ min: 1, max: 16 }),
      }),
    );
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat({ max: 30_000 }), { maxLength: 6 }),
        (mutations, cuts) => {
          let data: Uint8Array = base.slice();
          for (const m of mutations) {
            const at = m.at % (data.length + 1);
            if (m.kind === "flip" && at < data.length) data[at] ^= m.bits;
            else if (m.kind === "set" && at < data.length) data[at] = m.value;
            else if (m.kind === "cut") data = data.slice(0, at);
            else if (m.kind === "insert")
              data = concatBytes([data.subarray(0, at), m.bytes, data.subarray(at)]);
            else if (m.kind === "delete")
              data = concatBytes([data.subarray(0, at), data.subarray(at + m.len)]);
          }
          const blocks = guardedBlocks(PAGES);
          const reader = new StreamReader({ blocks });
          try {
            pushSplit(reader, data, cuts);
            reader.end();
          } catch (e) {
            expect(e).toBeInstanceOf(StreamError);
            expect((e as StreamError).position).toBeGreaterThanOrEqual(0);
            expect((e as StreamError).position).toBeLessThanOrEqual(data.length);
          }
          for (const b of blocks) expect(b.backend.guardsIntact()).toBe(true);
        },
      ),
      { numRuns: 800 },
    );
  });

  it("refuses any strict prefix of a valid stream at end()", () => {
    const data = writeStream([
      { kind: "page", block: 1, page: 2, fill: 4, zero: false },
      { kind: "dev", name: "cpu", value: 1 },
    ]);
    for (let n = 0; n < data.length; n += 7) {
      const reader = new StreamReader({ blocks: guardedBlocks(PAGES) });
      reader.push(data.subarray(0, n));
      expect(() => reader.end()).toThrow(StreamError);
    }
  });
});

/** Build a valid prefix (header + setup) then append `tail` bytes; returns the reader's error. */
function errorFor(build: (w: StreamWriter, id: number) => void): StreamError {
  const { chunks, sink } = collect();
  const w = new StreamWriter(sink);
  w.header();
  const id = w.ramSetupSection(PAGES.map((p, i) => ({ name: `ram${i}`, size: p * PAGE_SIZE })));
  build(w, id);
  w.flush();
  const reader = new StreamReader({ blocks: guardedBlocks(PAGES) });
  try {
    reader.push(concatBytes(chunks));
    reader.end();
  } catch (e) {
    expect(e).toBeInstanceOf(StreamError);
    return e as StreamError;
  }
  throw new Error("expected a StreamError");
}

describe("stream reader validation", () => {
  const ram0 = { name: "ram0", size: 3 * PAGE_SIZE };
  it("names each hostile field", () => {
    expect(
      errorFor((w, id) => {
        w.sectionContinue(SectionType.PART, id);
        w.ramRecord(ram0, 3 * PAGE_SIZE, RamFlag.PAGE);
      }).message,
    ).toMatch(/outside RAM block "ram0"/);
    expect(
      errorFor((w, id) => {
        w.sectionContinue(SectionType.PART, id);
        w.be64(0x100 | RamFlag.PAGE);
      }).message,
    ).toMatch(/unknown RAM record flags 0x108/);
    expect(
      errorFor((w, id) => {
        w.sectionContinue(SectionType.PART, id);
        w.ramRecord({ name: "nope", size: PAGE_SIZE }, 0, RamFlag.PAGE);
      }).message,
    ).toMatch(/unknown RAM block "nope"/);
    expect(
      errorFor((w, id) => {
        w.sectionContinue(SectionType.PART, id);
        w.be64(RamFlag.PAGE | RamFlag.CONTINUE);
      }).message,
    ).toMatch(/CONTINUE flag with no previous block/);
    expect(
      errorFor((w, id) => {
        w.sectionContinue(SectionType.PART, id);
        w.ramRecord(ram0, 0, RamFlag.ZERO);
        w.u8(7);
      }).message,
    ).toMatch(/fill byte must be 0, found 7/);
    expect(
      errorFor((w, id) => {
        w.sectionContinue(SectionType.PART, id);
        w.ramEos();
        w.footer(id + 1);
      }).message,
    ).toMatch(/footer for section/);
    expect(errorFor((w) => w.sectionContinue(SectionType.PART, 99)).message).toMatch(
      /unknown section id 99/,
    );
    expect(errorFor((w) => w.u8(0x55)).message).toMatch(/unknown section type 0x55/);
    expect(errorFor((w) => w.eof()).message).toMatch(/EOF before the RAM section's END/);
    expect(
      errorFor((w) => {
        w.sectionStart(SectionType.FULL, "dev", 0, 1);
        w.be32(3);
        w.bytes(new Uint8Array([0x7b, 0x7b, 0x7d]), 0, 3);
      }).message,
    ).toMatch(/not valid JSON/);
    expect(
      errorFor((w) => {
        w.sectionStart(SectionType.FULL, "dev", 0, 1);
        w.be32(0xffffffff);
      }).message,
    ).toMatch(/exceeds the limit/);
    expect(
      errorFor((w) => {
        w.sectionStart(SectionType.FULL, "dev", 0, 9);
      }).message,
    ).toMatch(/version 9, expected 1/);
  });

  it("refuses a bad magic, a version mismatch and a block-size mismatch", () => {
    const bad = new StreamReader({ blocks: guardedBlocks(PAGES) });
    expect(() => bad.push(new Uint8Array(8))).toThrow(/bad magic/);
    const { chunks, sink } = collect();
    const w = new StreamWriter(sink);
    w.be32(0x46525259);
    w.be32(4);
    w.flush();
    expect(() =>
      new StreamReader({ blocks: guardedBlocks(PAGES) }).push(concatBytes(chunks)),
    ).toThrow(/unsupported stream version 4, expected 1, 2 or 3/);
    const c2 = collect();
    const w2 = new StreamWriter(c2.sink);
    w2.header();
    w2.ramSetupSection([{ name: "ram0", size: PAGE_SIZE }]);
    w2.flush();
    expect(() =>
      new StreamReader({ blocks: guardedBlocks(PAGES) }).push(concatBytes(c2.chunks)),
    ).toThrow(/RAM block "ram0" length 4096, destination has 12288/);
  });

  it("keeps failing after an error", () => {
    const r = new StreamReader({ blocks: guardedBlocks(PAGES) });
    expect(() => r.push(new Uint8Array(8))).toThrow(StreamError);
    expect(() => r.push(new Uint8Array(1))).toThrow(/bad magic/);
  });
});

describe("RAM record registry", () => {
  const fake = (flag: number, name = "fake"): RamRecordType => ({
    name,
    flag,
    payloadLength: (buf, pos, avail) => (avail < 1 ? -1 : 1 + buf[pos]),
    decode(buf, pos, len, page, off) {
      for (let i = 1; i < len; i++) page[off + i - 1] = buf[pos + i];
    },
  });

  it("refuses base or non-plugin flags and double claims", () => {
    expect(() => createRamRecordRegistry([fake(RamFlag.PAGE)])).toThrow(/must be one of/);
    expect(() => createRamRecordRegistry([fake(0x03)])).toThrow(/must be one of/);
    expect(() => createRamRecordRegistry([fake(0x80, "a"), fake(0x80, "b")])).toThrow(
      /already owned by record type "a"/,
    );
  });

  it("lets a plugin record type travel through the stream", () => {
    const rec = fake(0x80);
    const { chunks, sink } = collect();
    const w = new StreamWriter(sink, 64);
    const blocks = PAGES.map((p, i) => ({ name: `ram${i}`, size: p * PAGE_SIZE }));
    w.header();
    const id = w.ramSetupSection(blocks);
    w.sectionContinue(SectionType.END, id);
    w.ramRecord(blocks[1], PAGE_SIZE, 0x80);
    w.u8(3);
    w.bytes(new Uint8Array([1, 2, 3]), 0, 3);
    w.ramEos();
    w.footer(id);
    w.eof();
    w.flush();
    const data = concatBytes(chunks);
    const plain = new StreamReader({ blocks: guardedBlocks(PAGES) });
    expect(() => plain.push(data)).toThrow(/unknown RAM record flags 0x80/);
    const target = guardedBlocks(PAGES);
    const reader = new StreamReader({ blocks: target, records: createRamRecordRegistry([rec]) });
    for (let i = 0; i < data.length; i++) reader.push(data.subarray(i, i + 1));
    reader.end();
    expect([...target[1].backend.bytes!.subarray(PAGE_SIZE, PAGE_SIZE + 4)]).toEqual([1, 2, 3, 0]);
  });
});
