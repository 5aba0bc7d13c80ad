/**
 * Runs of raw pages (`RamFlag.PAGE_RUN`, stream version 3): the writer joins consecutive pages sent
 * by reference into one record and one span; the RAM loader applies them page by page as they
 * arrive, whatever the cuts, and refuses a bad run naming the byte.
 */
import { MissingPages, PAGE_SIZE, type RamBackend } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  forEachGathered,
  type GatherSpans,
  RamFlag,
  SectionType,
  StreamError,
  StreamReader,
  StreamWriter,
} from "../src/index";
import { concatBytes, guardedBlocks, splitAt } from "./helpers";

const PS = PAGE_SIZE;
const PAGES = [40, 24];

/** Source RAM: every page of every block distinct (block, page and byte index). */
function sourceRam(): Uint8Array[] {
  return PAGES.map((n, b) => {
    const r = new Uint8Array(n * PS);
    for (let i = 0; i < r.length; i++) r[i] = (i * 31 + (i >>> 12) * 7 + b * 101 + 1) & 0xff;
    return r;
  });
}

const blockInfo = PAGES.map((n, i) => ({ name: `ram${i}`, size: n * PS }));

/** What a writer handed on (spans spliced in, copied at the call), and each hand-over's shape. */
function gatherer() {
  const parts: Uint8Array[] = [];
  const flushes: { spans: number; bytes: number; spanBytes: number }[] = [];
  return {
    sink: (c: Uint8Array) => parts.push(c.slice()),
    gather: (own: Uint8Array, spans: GatherSpans) => {
      let bytes = 0;
      forEachGathered(own, spans, (src, off, len) => {
        parts.push(src.slice(off, off + len));
        bytes += len;
      });
      let spanBytes = 0;
      for (let i = 0; i < spans.count; i++) spanBytes += spans.len[i]!;
      flushes.push({ spans: spans.count, bytes, spanBytes });
    },
    bytes: () => concatBytes(parts),
    flushes,
  };
}

type Op =
  | { kind: "page"; block: number; page: number }
  | { kind: "zero"; block: number; page: number }
  | { kind: "part" }
  | { kind: "flush" };

/** Mostly ascending pages of one block (so runs form), with zero pages, parts and flushes. */
const opsArb: fc.Arbitrary<Op[]> = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.record({ step: fc.integer({ min: 0, max: 3 }) }) },
      { weight: 1, arbitrary: fc.constant({ step: -1 }) },
      { weight: 1, arbitrary: fc.constant({ step: -2 }) },
      { weight: 1, arbitrary: fc.constant({ step: -3 }) },
      { weight: 1, arbitrary: fc.constant({ step: -4 }) },
    ),
    { maxLength: 150 },
  )
  .map((steps) => {
    const ops: Op[] = [];
    let block = 0;
    let page = 0;
    for (const { step } of steps) {
      if (step === -1) ops.push({ kind: "part" });
      else if (step === -2) ops.push({ kind: "flush" });
      else if (step === -3) {
        block = 1 - block;
        page = 0;
      } else if (step === -4) ops.push({ kind: "zero", block, page: page % PAGES[block]! });
      else {
        // Step 1 (the next page) is the common case: a run grows.
        page = (page + (step === 0 ? 1 : step)) % PAGES[block]!;
        ops.push({ kind: "page", block, page });
      }
    }
    return ops;
  });

/** A whole stream of `ops` from `w` (pages by reference when `w` gathers). */
function writeOps(w: StreamWriter, ram: readonly Uint8Array[], ops: readonly Op[]): void {
  w.header();
  const id = w.ramSetupSection(blockInfo);
  w.sectionContinue(SectionType.PART, id);
  for (const op of ops) {
    if (op.kind === "part") {
      w.ramEos();
      w.footer(id);
      w.sectionContinue(SectionType.PART, id);
    } else if (op.kind === "flush") w.flush();
    else if (op.kind === "zero") {
      w.ramRecord(blockInfo[op.block]!, op.page * PS, RamFlag.ZERO);
      w.u8(0);
    } else {
      w.pageByRef(blockInfo[op.block]!, op.page * PS, ram[op.block]!, op.page * PS);
    }
  }
  w.ramEos();
  w.footer(id);
  w.sectionContinue(SectionType.END, id);
  w.ramEos();
  w.footer(id);
  w.eof();
  w.flush();
}

/** Load `pieces` into fresh guarded blocks; returns the blocks and the reader. */
function load(pieces: readonly Uint8Array[]) {
  const blocks = guardedBlocks(PAGES);
  const r = new StreamReader({ blocks });
  for (const p of pieces) r.push(p);
  r.end();
  return { blocks, r };
}

/** The block offset and flags of the RAM record header at `pos`. */
function headerAt(bytes: Uint8Array, pos: number): { addr: number; flags: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const lo = dv.getUint32(pos + 4);
  return { addr: dv.getUint32(pos) * 2 ** 32 + (lo & ~0xfff), flags: lo & 0xfff };
}

describe("page runs: the writer joins consecutive pages", () => {
  it("three consecutive pages are one PAGE_RUN record and one span; the next, not adjacent, a PAGE record", () => {
    const ram = sourceRam();
    const g = gatherer();
    const w = new StreamWriter(g.sink, 1 << 16);
    w.gatherTo(g.gather, 8);
    const start = w.written;
    for (const p of [4, 5, 6, 9]) w.pageByRef(blockInfo[0]!, p * PS, ram[0]!, p * PS);
    // Accounted as the bytes on the wire: one header, idstr, count, three pages; then 8 + a page.
    expect(w.written - start).toBe(8 + 1 + 4 + 4 + 3 * PS + 8 + PS);
    w.flush();
    expect(g.flushes).toEqual([
      { spans: 2, bytes: 8 + 1 + 4 + 4 + 3 * PS + 8 + PS, spanBytes: 4 * PS },
    ]);
    const out = g.bytes();
    expect(headerAt(out, 0)).toEqual({ addr: 4 * PS, flags: RamFlag.PAGE_RUN });
    expect([...out.subarray(8, 13)]).toEqual([4, 0x72, 0x61, 0x6d, 0x30]); // "ram0"
    expect([...out.subarray(13, 17)]).toEqual([0, 0, 0, 3]);
    expect(out.subarray(17, 17 + 3 * PS)).toEqual(ram[0]!.subarray(4 * PS, 7 * PS));
    const next = 17 + 3 * PS;
    expect(headerAt(out, next)).toEqual({
      addr: 9 * PS,
      flags: RamFlag.PAGE | RamFlag.CONTINUE,
    });
    expect(out.subarray(next + 8)).toEqual(ram[0]!.subarray(9 * PS, 10 * PS));
  });

  it("a run ends at anything written in between, another source or block, a gap, and the flush", () => {
    const ram = sourceRam();
    const other = ram[0]!.slice();
    const [b0, b1] = [blockInfo[0]!, blockInfo[1]!];
    const g = gatherer();
    const w = new StreamWriter(g.sink, 1 << 16);
    w.gatherTo(g.gather, 8);
    w.pageByRef(b0, 0, ram[0]!, 0); // record 1
    w.ramRecord(b0, 7 * PS, RamFlag.ZERO); // something in between
    w.u8(0);
    w.pageByRef(b0, PS, ram[0]!, PS); // record 2 …
    w.pageByRef(b0, 2 * PS, ram[0]!, 2 * PS); // … joined: a run of 2
    w.pageByRef(b0, 3 * PS, other, 3 * PS); // another source: record 3
    w.pageByRef(b1, 4 * PS, other, 4 * PS); // another block: record 4
    w.pageByRef(b1, 6 * PS, other, 6 * PS); // not the next page: record 5
    w.flush();
    // Five spans; headers 6 × 8, "ram0" and "ram1" named once each (5 + 5), the zero page's fill
    // byte, one count (4): 63 bytes besides the six pages.
    expect(g.flushes).toEqual([{ spans: 5, bytes: 63 + 6 * PS, spanBytes: 6 * PS }]);
    const out = g.bytes();
    const runAt = 8 + 5 + PS + 9;
    expect(headerAt(out, runAt)).toEqual({
      addr: PS,
      flags: RamFlag.PAGE_RUN | RamFlag.CONTINUE,
    });
    expect([...out.subarray(runAt + 8, runAt + 12)]).toEqual([0, 0, 0, 2]);
    // The flush: a writer with room for two pages and their headers.
    const g2 = gatherer();
    const w2 = new StreamWriter(g2.sink, 2 * PS + 64);
    w2.gatherTo(g2.gather, 8);
    for (let p = 0; p < 4; p++) w2.pageByRef(b0, p * PS, ram[0]!, p * PS);
    w2.flush();
    expect(g2.flushes).toEqual([
      { spans: 1, bytes: 8 + 5 + 4 + 2 * PS, spanBytes: 2 * PS },
      { spans: 1, bytes: 8 + 4 + 2 * PS, spanBytes: 2 * PS },
    ]);
  });

  it("without a gather sink the pages are copied as PAGE records (no runs)", () => {
    const ram = sourceRam();
    const g = gatherer();
    const w = new StreamWriter(g.sink, 1 << 16);
    w.pageByRef(blockInfo[0]!, 0, ram[0]!, 0);
    w.pageByRef(blockInfo[0]!, PS, ram[0]!, PS);
    w.flush();
    const out = g.bytes();
    expect(out.length).toBe(2 * (8 + PS) + 5);
    expect(headerAt(out, 0).flags).toBe(RamFlag.PAGE);
    expect(headerAt(out, 8 + 5 + PS).flags).toBe(RamFlag.PAGE | RamFlag.CONTINUE);
  });

  it("any ops, any capacity, any cuts: the destination gets the copying writer's RAM (property)", () => {
    const ram = sourceRam();
    fc.assert(
      fc.property(
        opsArb,
        fc.integer({ min: PS + 64, max: 24 * PS }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (ops, capacity, maxSpans, cuts) => {
          const g = gatherer();
          const w = new StreamWriter(g.sink, capacity);
          w.gatherTo(g.gather, maxSpans);
          writeOps(w, ram, ops);
          const runs = g.bytes();
          expect(w.written).toBe(runs.length);
          // Never more spans, nor more bytes of pages, in one hand-over than allowed.
          for (const f of g.flushes) {
            expect(f.spans).toBeLessThanOrEqual(maxSpans);
            expect(f.spanBytes).toBeLessThanOrEqual(capacity);
          }
          const c = gatherer();
          writeOps(new StreamWriter(c.sink, capacity), ram, ops);
          const plain = load([c.bytes()]);
          const got = load(
            splitAt(
              runs,
              cuts.map((x) => x % (runs.length + 1)),
            ),
          );
          expect(got.r.done).toBe(true);
          expect(got.r.pages).toBe(plain.r.pages);
          for (let b = 0; b < PAGES.length; b++) {
            // (Buffer.compare: a deep equality of 160 KiB arrays takes milliseconds per run.)
            const same = Buffer.compare(
              got.blocks[b]!.backend.bytes!,
              plain.blocks[b]!.backend.bytes!,
            );
            expect(same).toBe(0);
            expect(got.blocks[b]!.backend.guardsIntact()).toBe(true);
          }
          // Runs save a header per joined page (and never cost more than 4 bytes per record).
          expect(runs.length).toBeLessThanOrEqual(c.bytes().length + 4 * ops.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** A stream with one PART whose body is `body` (records, then EOS is appended). */
function streamWith(body: number[]): Uint8Array {
  const g = gatherer();
  const w = new StreamWriter(g.sink, 1 << 20);
  w.header();
  const id = w.ramSetupSection(blockInfo);
  w.sectionContinue(SectionType.PART, id);
  w.flush();
  const head = g.bytes();
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

const be32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
/** A PAGE_RUN header of block ram0 (by name) at page `page`, `count` pages, flags `extra` added. */
const runHeader = (page: number, count: number, extra = 0) => [
  ...be32(0),
  ...be32(page * PS + RamFlag.PAGE_RUN + extra),
  4,
  0x72,
  0x61,
  0x6d,
  0x30,
  ...be32(count),
];

describe("page runs: the loader", () => {
  const refuse = (body: number[], why: RegExp, at?: number) => {
    const r = new StreamReader({ blocks: guardedBlocks(PAGES) });
    let err: unknown;
    try {
      r.push(streamWith(body));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StreamError);
    expect((err as Error).message).toMatch(why);
    if (at !== undefined) expect((err as StreamError).position).toBe(at);
  };
  const bodyStart = streamWith([]).length;

  it("refuses a run of 0 pages, one past the block's end, a compact run and a CONTINUE with no block", () => {
    refuse(runHeader(0, 0), /page run of 0 pages/, bodyStart + 13);
    refuse(runHeader(38, 3), /page run of 3 pages at offset 155648 outside RAM block "ram0"/);
    refuse(runHeader(0, 0xffffffff), /page run of 4294967295 pages at offset 0 outside/);
    refuse(runHeader(0, 2, RamFlag.COMPACT), /a page run cannot be compact/, bodyStart + 4);
    refuse(
      [...be32(0), ...be32(RamFlag.PAGE_RUN | RamFlag.CONTINUE), ...be32(1)],
      /CONTINUE flag with no previous block/,
    );
  });

  it("a stream cut inside a run names the page it waited for; nothing of a later page is placed", () => {
    const page = (v: number) => new Array<number>(PS).fill(v);
    const bytes = streamWith([
      ...runHeader(2, 3),
      ...page(7),
      ...page(8),
      ...page(9).slice(0, 100),
    ]);
    const blocks = guardedBlocks(PAGES);
    const r = new StreamReader({ blocks });
    for (const piece of splitAt(bytes, [bodyStart + 5, bodyStart + 17 + PS + 3])) r.push(piece);
    expect(() => r.end()).toThrow(/stream truncated: .* expected page 3 of a run of 3 pages/);
    const ram = blocks[0]!.backend.bytes!;
    expect(ram.subarray(2 * PS, 3 * PS).every((x) => x === 7)).toBe(true);
    expect(ram.subarray(3 * PS, 4 * PS).every((x) => x === 8)).toBe(true);
    expect(ram.subarray(4 * PS, 5 * PS).every((x) => x === 0)).toBe(true);
    expect(r.pages).toBe(2);
  });

  it("post-copy: only missing pages of a run are placed (and marked arrived); a sparse backend page by page", () => {
    const pages = [...runHeader(1, 4), ...Array.from({ length: 4 * PS }, (_, i) => (i >>> 12) + 1)];
    const bytes = streamWith([...pages, ...be32(0), ...be32(RamFlag.EOS)]);
    // Post-copy: pages 2 and 4 missing; 1 and 3 hold what the running guest wrote (0xee).
    const blocks = guardedBlocks(PAGES);
    const ram = blocks[0]!.backend.bytes!;
    ram.fill(0xee, PS, 5 * PS);
    const missing = new MissingPages(PAGES[0]!);
    missing.arm(null);
    missing.markMissing(2);
    missing.markMissing(4);
    const r = new StreamReader({ blocks: [{ ...blocks[0]!, missing }, blocks[1]!] });
    for (const piece of splitAt(bytes, [bodyStart + 20 + PS])) r.push(piece);
    expect([ram[PS], ram[2 * PS], ram[3 * PS], ram[4 * PS]]).toEqual([0xee, 2, 0xee, 4]);
    expect(missing.count).toBe(0);
    expect(r.pages).toBe(2);
    // A backend without `bytes` gets each page through `write`.
    const store = new Uint8Array(PAGES[0]! * PS);
    const writes: number[] = [];
    const sparse: RamBackend = {
      ...blocks[0]!.backend,
      bytes: null,
      read: (off, out) => out.set(store.subarray(off, off + out.length)),
      write: (off, src) => {
        writes.push(off / PS);
        store.set(src, off);
      },
    };
    const r2 = new StreamReader({
      blocks: [{ name: "ram0", size: PAGES[0]! * PS, backend: sparse }, guardedBlocks(PAGES)[1]!],
    });
    r2.push(bytes);
    expect(writes).toEqual([1, 2, 3, 4]);
    expect([store[PS], store[2 * PS], store[4 * PS + 17]]).toEqual([1, 2, 4]);
  });
});
