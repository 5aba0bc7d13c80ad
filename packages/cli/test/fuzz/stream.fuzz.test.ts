/**
 * Fuzzing the snapshot / migration stream through the public reading API only (`StreamReader`
 * and `incoming`): bit flips, byte replacements, truncations, insertions and random chunking of a
 * valid snapshot stream. Every bad stream must end in a `StreamError` (or a `MigrationError` for
 * a state that does not fit the machine) with a short message and a position inside the input;
 * never another exception, never an "internal reader error".
 */
import { VirtualScheduler } from "@ferry/core";
import {
  forEachGathered,
  type IncomingTransport,
  incoming,
  MigrationError,
  RamFlag,
  SectionType,
  StreamError,
  StreamReader,
  StreamWriter,
} from "@ferry/migration";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config";
import { buildSide, type Side } from "../../src/migrate/sides";
import { fuzzParams, fuzzTimeout } from "./params";

const config = parseConfigText(
  [
    "name: fuzz",
    "machine: { memory: 64KiB, ram-backend: array }",
    "workload: { writes-per-second: 1000, distribution: { kind: uniform } }",
  ].join("\n"),
);

const fresh = (): Side => buildSide(config, new VirtualScheduler(), null);

/**
 * A valid stream of a 64 KiB machine: zero pages, raw pages (PAGE records in the first block's
 * first half, then runs of two as a socket migration sends them), device state.
 */
function validStream(): Uint8Array {
  const side = fresh();
  const blocks = side.machine.memory.ramRegions.filter((r) => !r.readonly);
  const chunks: Uint8Array[] = [];
  const w = new StreamWriter((c) => chunks.push(c.slice()));
  w.header();
  const id = w.ramSetupSection(blocks);
  w.sectionContinue(SectionType.END, id);
  const page = new Uint8Array(4096);
  for (const block of blocks) {
    const src = new Uint8Array(block.size);
    for (let off = 0; off < block.size; off += 4096) {
      if (off === block.size / 2) {
        // From here raw pages go by reference: consecutive ones join into PAGE_RUN records.
        w.gatherTo((own, spans) =>
          forEachGathered(own, spans, (s, o, l) => chunks.push(s.slice(o, o + l))),
        );
      }
      if ((off / 4096) % 3 === 0) {
        w.ramRecord(block, off, RamFlag.ZERO);
        w.u8(0);
      } else if (off >= block.size / 2) {
        src.fill(off / 4096, off, off + 4096);
        w.pageByRef(block, off, src, off);
      } else {
        page.fill(off / 4096);
        w.ramRecord(block, off, RamFlag.PAGE);
        w.bytes(page, 0, 4096);
      }
    }
    w.gatherTo(null);
  }
  w.ramEos();
  w.footer(id);
  const state = side.machine.saveState() as Record<string, unknown>;
  for (const [key, value] of Object.entries(state)) w.deviceSection(key, 0, { [key]: value });
  w.eof();
  w.flush();
  return Buffer.concat(chunks);
}

const VALID = validStream();

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "byte"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "be32"; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({
    kind: fc.constant("be32" as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 16 * 1024 * 1024, 4096, 4097),
  }),
);

/** Mutations land mostly in the headers and the device state (the first and last few KiB). */
function place(at: number, len: number): number {
  const edge = at % 4;
  if (edge === 0) return Math.floor(at / 4) % Math.min(len, 256);
  if (edge === 1) return len - 1 - (Math.floor(at / 4) % Math.min(len, 4096));
  return Math.floor(at / 4) % len;
}

function mutate(src: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of muts) {
    if (b.length === 0) break;
    const at = place(m.at, b.length);
    switch (m.kind) {
      case "flip":
        b[at] ^= 1 << m.bit;
        break;
      case "byte":
        b[at] = m.value;
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case "be32":
        if (at + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(at, m.value);
        break;
    }
  }
  return b;
}

function splits(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

function checkStreamError(err: unknown, length: number): void {
  expect(err).toBeInstanceOf(StreamError);
  const e = err as StreamError;
  expect(e.message).not.toMatch(/internal reader error/);
  expect(e.message.length).toBeLessThan(600);
  expect(e.position).toBeGreaterThanOrEqual(0);
  expect(e.position).toBeLessThanOrEqual(length);
}

describe("stream fuzzing (read-only, public reader API)", () => {
  it("the valid stream loads", async () => {
    const side = fresh();
    const r = await loadInto(side, VALID);
    expect(r.status, r.error?.message).toBe("completed");
    expect(r.pages).toBe(16);
    // It has runs for the mutations to hit: a `be64(offset | PAGE_RUN | CONTINUE)`, `be32 2`.
    let runs = 0;
    for (let i = 0; i + 12 <= VALID.length; i++) {
      const head = VALID[i + 7] === (RamFlag.PAGE_RUN | RamFlag.CONTINUE);
      if (head && VALID[i + 8] === 0 && VALID[i + 10] === 0 && VALID[i + 11] === 2) runs++;
    }
    expect(runs).toBeGreaterThan(0);
  });

  it("StreamReader: any mutation and chunking ends in a clean StreamError or a full read", {
    timeout: fuzzTimeout,
  }, () => {
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (muts, cuts) => {
          const bytes = mutate(VALID, muts);
          const side = fresh();
          const reader = new StreamReader({
            blocks: side.machine.memory.ramRegions.filter((r) => !r.readonly),
          });
          try {
            for (const c of splits(bytes, cuts)) reader.push(c);
            reader.end();
          } catch (err) {
            checkStreamError(err, bytes.length);
          }
        },
      ),
      fuzzParams(400),
    );
  });

  it("incoming: a mutated stream fails cleanly or loads, never a raw exception", {
    timeout: fuzzTimeout,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (muts) => {
        const bytes = mutate(VALID, muts);
        const r = await loadInto(fresh(), bytes);
        if (r.status === "failed") {
          const e = r.error;
          expect(e instanceof StreamError || e instanceof MigrationError, String(e)).toBe(true);
          if (e instanceof StreamError) checkStreamError(e, bytes.length);
          expect(e!.message.length).toBeLessThan(600);
        }
      }),
      fuzzParams(150),
    );
  });
});

function loadInto(side: Side, bytes: Uint8Array) {
  const transport: IncomingTransport = {
    receive(h) {
      h.data(bytes);
      h.end();
    },
    close() {},
  };
  return incoming({ machine: side.machine, transport, resume: false }).done;
}
