/**
 * Fuzzing the integrity layer and section payloads through the public API: any change to an
 * integrity-framed stream (flips, bytes, truncation, insertion, any chunking) is refused with a
 * clean `StreamError`; device-state and plugin-section bodies of any content and length are
 * parsed or refused cleanly, never with an internal error, and never past the device-state limits.
 */
import { PAGE_SIZE } from "@ferry/core";
import {
  DEVICE_SECTION_VERSION,
  frameStream,
  IntegrityDecoder,
  RamFlag,
  type ReaderSection,
  SectionType,
  StreamError,
  StreamReader,
  StreamWriter,
} from "@ferry/migration";
import { createRamBackend } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fuzzParams, fuzzTimeout } from "./params";

const PAGES = 8;
const blocks = () => [
  { name: "ram", size: PAGES * PAGE_SIZE, backend: createRamBackend("array", PAGES * PAGE_SIZE) },
];

/** A stream of PAGES pages whose device sections are written by `devices(w)`. */
function stream(devices: (w: StreamWriter) => void): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new StreamWriter((c) => chunks.push(c.slice()), 4096);
  const b = { name: "ram", size: PAGES * PAGE_SIZE };
  w.header();
  const id = w.ramSetupSection([b]);
  w.sectionContinue(SectionType.END, id);
  const page = new Uint8Array(PAGE_SIZE);
  for (let p = 0; p < PAGES; p++) {
    page.fill(p * 17 + 1);
    w.ramRecord(b, p * PAGE_SIZE, RamFlag.PAGE);
    w.bytes(page, 0, PAGE_SIZE);
  }
  w.ramEos();
  w.footer(id);
  devices(w);
  w.eof();
  w.flush();
  const all = Buffer.concat(chunks);
  return new Uint8Array(all.buffer, all.byteOffset, all.length);
}

const PLAIN = stream((w) => w.deviceSection("vcpus", 0, { vcpus: [{ pc: 4 }] }));
const FRAMED = frameStream(PLAIN, 1024);

type Change =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "byte"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array };

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
);

function apply(src: Uint8Array, changes: readonly Change[]): Uint8Array {
  let b = src.slice();
  for (const c of changes) {
    if (b.length === 0) break;
    const at = c.at % b.length;
    if (c.kind === "flip") b[at]! ^= 1 << c.bit;
    else if (c.kind === "byte") b[at] = c.value;
    else if (c.kind === "truncate") b = b.slice(0, at);
    else {
      const out = new Uint8Array(b.length + c.bytes.length);
      out.set(b.subarray(0, at));
      out.set(c.bytes, at);
      out.set(b.subarray(at), at + c.bytes.length);
      b = out;
    }
  }
  return b;
}

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

function cleanError(err: unknown, length: number): void {
  expect(err).toBeInstanceOf(StreamError);
  const e = err as StreamError;
  expect(e.message).not.toMatch(/internal (reader|integrity) error/);
  expect(e.message.length).toBeLessThan(600);
  expect(e.position).toBeGreaterThanOrEqual(0);
  expect(e.position).toBeLessThanOrEqual(length);
}

/** Feed `bytes` in the given cuts; the error, or null when the stream was read whole. */
function read(
  bytes: Uint8Array,
  cuts: readonly number[],
  options: { framed?: boolean; sections?: ReadonlyMap<string, ReaderSection>; total?: number } = {},
): unknown {
  const reader = new StreamReader({
    blocks: blocks(),
    sections: options.sections,
    maxDeviceStateTotalBytes: options.total,
  });
  const input = options.framed === true ? new IntegrityDecoder(reader, "require") : reader;
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  try {
    let prev = 0;
    for (const p of [...points, bytes.length]) {
      input.push(bytes.subarray(prev, p));
      prev = p;
    }
    input.end();
    return null;
  } catch (e) {
    return e;
  }
}

describe("integrity fuzzing", () => {
  it("the framed stream reads whole under any chunking", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
        expect(read(FRAMED, cuts, { framed: true })).toBeNull();
      }),
      fuzzParams(100),
    );
  });

  it("any change to a framed stream is refused with a clean StreamError", {
    timeout: fuzzTimeout,
  }, () => {
    fc.assert(
      fc.property(
        fc.array(change, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (changes, cuts) => {
          const bytes = apply(FRAMED, changes);
          const err = read(bytes, cuts, { framed: true });
          if (same(bytes, FRAMED)) expect(err).toBeNull();
          else cleanError(err, bytes.length);
        },
      ),
      fuzzParams(400),
    );
  });
});

describe("section payload fuzzing", () => {
  it("device sections with any JSON value, idstr and instance parse or fail cleanly", {
    timeout: fuzzTimeout,
  }, () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.nat(3),
        fc.jsonValue({ maxDepth: 6 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (idstr, instance, value, cuts) => {
          if (new TextEncoder().encode(idstr).length > 255 || idstr === "ram") return;
          const bytes = stream((w) => w.deviceSection(idstr, instance, { [idstr]: value }));
          const err = read(bytes, cuts);
          if (err !== null) cleanError(err, bytes.length);
        },
      ),
      fuzzParams(300),
    );
  });

  it("device and plugin-section bodies of any bytes and claimed length fail cleanly", {
    timeout: fuzzTimeout,
  }, () => {
    const loaded: Uint8Array[] = [];
    const sections = new Map<string, ReaderSection>([
      [
        "nvram",
        {
          versions: [1],
          load(chunk) {
            if (chunk.length > 0 && chunk[0] === 0xff) throw new Error("refused by the loader");
            loaded.push(chunk);
          },
        },
      ],
    ]);
    fc.assert(
      fc.property(
        fc.constantFrom("devices", "nvram"),
        fc.uint8Array({ maxLength: 300 }),
        fc.oneof(fc.constant(-1), fc.nat(), fc.constantFrom(0xffffffff, 16 * 1024 * 1024 + 1)),
        fc.array(fc.nat(), { maxLength: 4 }),
        (idstr, body, claimed, cuts) => {
          const bytes = stream((w) => {
            const id = w.sectionStart(
              SectionType.FULL,
              idstr,
              0,
              idstr === "nvram" ? 1 : DEVICE_SECTION_VERSION,
            );
            w.be32(claimed < 0 ? body.length : claimed >>> 0);
            w.bytes(body, 0, body.length);
            w.footer(id);
          });
          const err = read(bytes, cuts, { sections });
          if (err !== null) cleanError(err, bytes.length);
        },
      ),
      fuzzParams(300),
    );
  });

  it("many device sections are refused at the one that passes the total limit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 50, max: 400 }), (n, size) => {
        const total = 1000;
        const pad = "x".repeat(size);
        const bytes = stream((w) => {
          for (let i = 0; i < n; i++) w.deviceSection(`d${i}`, 0, { [`d${i}`]: pad });
        });
        const err = read(bytes, [], { total });
        let sum = 0;
        for (let i = 0; i < n; i++) sum += JSON.stringify({ [`d${i}`]: pad }).length;
        // Without a machine, the reader reads device sections of any name; only the total counts.
        if (sum <= total) {
          expect(err).toBeNull();
          return;
        }
        cleanError(err, bytes.length);
        expect((err as Error).message).toMatch(
          /state of \d+ bytes takes the stream's device state to \d+ bytes, above the total limit of 1000/,
        );
      }),
      fuzzParams(100),
    );
  });
});
