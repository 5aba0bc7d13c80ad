/**
 * The stream integrity layer: CRC-32 and its combination, framing round trips under any
 * chunking, every single-bit flip refused at the offset of its block, truncation, the trailer's
 * whole-stream digest, the destination modes, and the negotiation of `x-integrity` on a link.
 */
import { createHash } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { createMachine, type Machine, PAGE_SIZE, VirtualScheduler } from "@ferry/core";
import { uniformDirtier } from "@ferry/sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createLink,
  createMigrationManager,
  crc32,
  crc32Combine,
  crc32Js,
  type FerryPlugin,
  frameStream,
  INTEGRITY_PRELUDE_BYTES,
  IntegrityDecoder,
  type IntegrityMode,
  incoming,
  type Migration,
  type MigrationSession,
  MigrationStrategy,
  RamFlag,
  SectionType,
  StreamError,
  type StreamInput,
  StreamReader,
  StreamWriter,
} from "../src/index";
import { guardedBlocks } from "./helpers";

const SEED = 20261127;

/** Stream positions of the raw page payloads written by the last {@link plainStream}. */
let pagePayloads: number[] = [];

/** A valid plain stream of `pages` pages (every third a zero page, others patterned). */
function plainStream(pages: number): Uint8Array {
  pagePayloads = [];
  const blocks = [{ name: "ram0", size: pages * PAGE_SIZE }];
  const chunks: Uint8Array[] = [];
  const w = new StreamWriter((c) => chunks.push(c.slice()), 8192);
  w.header();
  const id = w.ramSetupSection(blocks);
  w.sectionContinue(SectionType.END, id);
  const page = new Uint8Array(PAGE_SIZE);
  for (let p = 0; p < pages; p++) {
    if (p % 3 === 0) {
      w.ramRecord(blocks[0]!, p * PAGE_SIZE, RamFlag.ZERO);
      w.u8(0);
    } else {
      for (let i = 0; i < PAGE_SIZE; i++) page[i] = (i * 7 + p) & 0xff;
      w.ramRecord(blocks[0]!, p * PAGE_SIZE, RamFlag.PAGE);
      pagePayloads.push(w.written - w.buffered + w.payloadPos);
      w.bytes(page, 0, PAGE_SIZE);
    }
  }
  w.ramEos();
  w.footer(id);
  w.deviceSection("vcpus", 0, { vcpus: [{ pc: 1 }] });
  w.eof();
  w.flush();
  const all = Buffer.concat(chunks);
  return new Uint8Array(all.buffer, all.byteOffset, all.length); // slice() copies
}

const PAGES = 24;
const PLAIN = plainStream(PAGES);
const PAGE_PAYLOADS = pagePayloads;
const BLOCK = 4096;
const FRAMED = frameStream(PLAIN, BLOCK);

/** Collects what the decoder passes on. */
function collector(): StreamInput & { bytes(): Uint8Array; ended: boolean } {
  const parts: Uint8Array[] = [];
  return {
    ended: false,
    push(c) {
      parts.push(c.slice());
    },
    end() {
      this.ended = true;
    },
    bytes: () => Buffer.concat(parts),
  };
}

/** Feed `bytes` to a fresh reader of PAGES pages through a decoder; the error, or null. */
function load(bytes: Uint8Array, mode: IntegrityMode = "accept", cut = 1 << 20): Error | null {
  const reader = new StreamReader({ blocks: guardedBlocks([PAGES]) });
  const dec = new IntegrityDecoder(reader, mode);
  try {
    for (let off = 0; off < bytes.length; off += cut) dec.push(bytes.subarray(off, off + cut));
    dec.end();
    return null;
  } catch (e) {
    return e as Error;
  }
}

/** Wire offset of the length field of the block holding payload byte `pos` (uniform blocks). */
const blockOffsetOf = (pos: number): number =>
  INTEGRITY_PRELUDE_BYTES + Math.floor(pos / BLOCK) * (BLOCK + 8);

describe("CRC-32", () => {
  it("is the standard CRC-32 (check value 0xcbf43926) in both implementations", () => {
    const check = new TextEncoder().encode("123456789");
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Js(check)).toBe(0xcbf43926);
  });

  it("JavaScript fallback, native zlib and combination agree on any split (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(3000), (data, at) => {
        const cut = Math.min(at, data.length);
        const a = data.subarray(0, cut);
        const b = data.subarray(cut);
        expect(crc32Js(data)).toBe(zlibCrc32(data));
        expect(crc32(b, crc32(a))).toBe(crc32(data));
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(data));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe("integrity framing", () => {
  it("round-trips any stream through any chunking and block size (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 20000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 7000 }), { minLength: 1, maxLength: 8 }),
        (data, blockBytes, cuts) => {
          const framed = frameStream(data, blockBytes);
          const out = collector();
          const dec = new IntegrityDecoder(out, "require");
          let off = 0;
          for (let i = 0; off < framed.length; i++) {
            const n = cuts[i % cuts.length]!;
            dec.push(framed.subarray(off, off + n));
            off += n;
          }
          dec.end();
          expect(out.ended).toBe(true);
          expect(Buffer.from(out.bytes()).equals(Buffer.from(data))).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("carries the CRC-32 of the whole stream and its length in the trailer", () => {
    const view = new DataView(FRAMED.buffer, FRAMED.byteOffset, FRAMED.byteLength);
    const t = FRAMED.length - 20;
    expect(view.getUint32(t)).toBe(0);
    expect(view.getUint32(t + 4) * 2 ** 32 + view.getUint32(t + 8)).toBe(PLAIN.length);
    expect(view.getUint32(t + 12)).toBe(zlibCrc32(PLAIN));
    expect(load(FRAMED, "require")).toBeNull();
  });

  it("refuses every single-bit flip in page data at the offset of its block (property)", () => {
    const pageBytes = PAGE_PAYLOADS;
    expect(pageBytes.length).toBe(16);
    expect(PLAIN[pageBytes[0]! + 5]).toBe((5 * 7 + 1) & 0xff); // page 1, byte 5
    let flips = 0;
    fc.assert(
      fc.property(
        fc.nat(pageBytes.length - 1),
        fc.nat(PAGE_SIZE - 1),
        fc.nat(7),
        (page, byte, bit) => {
          const inner = pageBytes[page]! + byte;
          const wire = blockOffsetOf(inner) + 4 + (inner % BLOCK);
          const bad = FRAMED.slice();
          bad[wire]! ^= 1 << bit;
          const err = load(bad, "accept", 1000 + (byte % 5000));
          expect(err).toBeInstanceOf(StreamError);
          expect((err as StreamError).position).toBe(blockOffsetOf(inner));
          expect(err!.message).toMatch(/integrity check failed: block \d+ .* has CRC-32 0x/);
          flips++;
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
    expect(flips).toBe(500);
  });

  it("refuses a single-bit flip anywhere in the framed stream (exhaustive over a small one)", () => {
    const small = frameStream(plainStream(3), 1000);
    const reader = () => new StreamReader({ blocks: guardedBlocks([3]) });
    for (let at = 0; at < small.length; at++) {
      for (let bit = at % 8; bit < 8; bit += 8) {
        const bad = small.slice();
        bad[at]! ^= 1 << bit;
        const dec = new IntegrityDecoder(reader(), "accept");
        let err: unknown = null;
        try {
          dec.push(bad);
          dec.end();
        } catch (e) {
          err = e;
        }
        expect(err, `flip at ${at} bit ${bit}`).toBeInstanceOf(StreamError);
      }
    }
  });

  it("refuses every truncation with a position inside the input", () => {
    for (let n = 0; n < FRAMED.length; n += 97) {
      const err = load(FRAMED.subarray(0, n), "accept");
      expect(err, `cut at ${n}`).toBeInstanceOf(StreamError);
      expect((err as StreamError).position).toBeLessThanOrEqual(n);
      expect(err!.message).toMatch(/truncated/);
    }
    const err = load(FRAMED.subarray(0, FRAMED.length - 20));
    expect(err?.message).toMatch(/the integrity trailer is missing/);
    expect(load(Uint8Array.of(...FRAMED, 0))?.message).toMatch(
      /1 byte\(s\) after the integrity trailer/,
    );
  });

  it("refuses reordered or dropped blocks (each intact) by the trailer's digest and count", () => {
    const data = new Uint8Array(300).fill(9);
    data.fill(1, 0, 100);
    const framed = frameStream(data, 100);
    const s = INTEGRITY_PRELUDE_BYTES;
    const reordered = framed.slice();
    reordered.set(framed.subarray(s + 108, s + 216), s);
    reordered.set(framed.subarray(s, s + 108), s + 108);
    const dec = new IntegrityDecoder(collector(), "require");
    expect(() => dec.push(reordered)).toThrow(
      /at byte 352: integrity check failed: stream digest 0x[0-9a-f]{8} in the trailer, the stream gives/,
    );
    const dropped = new Uint8Array(framed.length - 108);
    dropped.set(framed.subarray(0, s + 108));
    dropped.set(framed.subarray(s + 216), s + 108);
    const dec2 = new IntegrityDecoder(collector(), "require");
    expect(() => dec2.push(dropped)).toThrow(
      /integrity trailer counts 300 stream bytes, 200 arrived/,
    );
  });

  it("applies the destination's mode to plain and framed streams", () => {
    expect(load(PLAIN, "accept")).toBeNull();
    expect(load(PLAIN, "off")).toBeNull();
    expect(load(FRAMED, "accept")).toBeNull();
    expect(load(PLAIN, "require")?.message).toBe(
      'migration stream error at byte 0: stream without integrity checks (magic "FRRY"), and this destination requires them (x-integrity)',
    );
    expect(load(FRAMED, "off")?.message).toMatch(
      /at byte 0: integrity-checked stream \(magic "FRRC"\), and integrity is off on this destination/,
    );
    expect(load(new Uint8Array(0), "accept")?.message).toMatch(/stream truncated/);
  });

  it("reports the reader's errors at wire offsets", () => {
    // A valid frame around a bad stream: the RAM section's version (be32 at bytes 21..24) is 0.
    const bad = PLAIN.slice();
    expect(bad[24]).toBe(4);
    bad[24] = 0;
    const plainErr = load(bad, "accept") as StreamError;
    const framedErr = load(frameStream(bad, BLOCK), "accept") as StreamError;
    expect(plainErr.message).toMatch(/RAM section instance 0 version 0/);
    expect(framedErr.position).toBe(INTEGRITY_PRELUDE_BYTES + 4 + plainErr.position);
    expect(framedErr.message).toContain(`(stream byte ${plainErr.position})`);
  });
});

// ---- negotiation on a link ----

const MS = 1_000_000;

const strategy: MigrationStrategy = {
  name: "simple",
  async run(s: MigrationSession) {
    s.setup();
    s.beginRamPart();
    let n = 0;
    while (s.sendNextDirtyPage()) if ((++n & 63) === 0) await s.flow();
    s.endRamPart();
    await s.complete();
  },
};

const plugin: FerryPlugin = {
  name: "simple",
  capabilities: [],
  register: (c) => c.register(MigrationStrategy, { useValue: strategy }),
};

function machine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 0 }),
    vcpus: 1,
    memory: { size: 256 * 1024 },
  });
}

const hash = (m: Machine) => createHash("sha256").update(m.ram.backend.bytes!).digest("hex");

/** Migrate over a link with the source's `x-integrity` and the destination's mode. */
async function negotiate(
  param: boolean | "auto",
  mode: IntegrityMode,
): Promise<{ m: Migration; framed: boolean; src: Machine; dst: Machine; dstError?: Error }> {
  const s = new VirtualScheduler();
  const src = machine(s);
  for (let p = 0; p < 64; p += 5) src.ram.backend.store(p * PAGE_SIZE, 4, 0x01020304 + p);
  src.start();
  const mgr = createMigrationManager({ plugins: [plugin] });
  mgr.setParameters({ "x-integrity": param });
  const link = createLink({ scheduler: s, bandwidth: 0, latency: MS });
  let first: number | null = null;
  const write = (chunk: Uint8Array, accounted?: number): void => {
    if (first === null && chunk.length >= 4) first = Buffer.from(chunk).readUInt32BE(0);
    link.source.write(chunk, accounted);
  };
  // The link's source end with its writes observed (getters and methods stay the link's).
  const source = new Proxy(link.source, {
    get(target, key) {
      if (key === "write") return write;
      const v = Reflect.get(target, key);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const dst = machine(s);
  const inc = incoming({ machine: dst, transport: link.destination, integrity: mode });
  const m = mgr.migrate({ machine: src, transport: source });
  await s.run({ stopWhen: () => ["completed", "failed", "cancelled"].includes(m.status) });
  const r = await inc.done;
  return { m, framed: first === 0x46525243, src, dst, dstError: r.error };
}

describe("x-integrity negotiation on a link", () => {
  it("frames the stream when asked and the destination reads framing", async () => {
    for (const mode of ["accept", "require"] as const) {
      const { m, framed, src, dst } = await negotiate(true, mode);
      expect(m.status).toBe("completed");
      expect(framed).toBe(true);
      expect(hash(dst)).toBe(hash(src));
    }
  });

  it("never frames for a destination in QEMU-compatible mode (integrity off)", async () => {
    const { m, framed, src, dst } = await negotiate(true, "off");
    expect(m.status).toBe("completed");
    expect(framed).toBe(false);
    expect(hash(dst)).toBe(hash(src));
  });

  it("does not frame on the wire by default (auto) or when off", async () => {
    for (const param of ["auto", false] as const) {
      const { m, framed } = await negotiate(param, "accept");
      expect(m.status).toBe("completed");
      expect(framed).toBe(false);
    }
  });

  it("a destination that requires integrity refuses a plain stream; the source keeps running", async () => {
    for (const param of ["auto", false] as const) {
      const { m, src, dst, dstError } = await negotiate(param, "require");
      expect(m.status).toBe("failed");
      expect(dstError?.message).toMatch(/stream without integrity checks .* requires them/);
      expect(src.state).toBe("running");
      expect(dst.state).toBe("created");
    }
  });
});
