/**
 * The plugin glue: factory, parameter, record type, and the encoder's send logic (QEMU's
 * `save_xbzrle_page`), checked against a destination that applies what was sent.
 */
import { PAGE_SIZE, type RamRegion, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier } from "@ferry/sim";
import {
  createMigrationManager,
  type IncomingTransport,
  incoming,
  MigrationConfigError,
  type PageRef,
  RamFlag,
  SectionType,
  StreamError,
  StreamWriter,
  type SyncStats,
} from "@ferry/migration";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { precopy } from "@ferry/plugin-precopy";
import {
  DEFAULT_XBZRLE_CACHE_SIZE,
  effectiveCacheBytes,
  PageCacheConfigError,
  type XbzrleEncoder,
  XbzrleDecodeError,
  XbzrleRecordError,
  createXbzrleEncoder,
  xbzrle,
  xbzrleEncode,
  xbzrleRecord,
} from "../src/index";

const PS = PAGE_SIZE;
const MiB = 1024 * 1024;

describe("xbzrle() plugin", () => {
  it("adds the xbzrle capability (off) and xbzrle-cache-size (64 MiB)", () => {
    const mgr = createMigrationManager({ plugins: [precopy(), xbzrle()] });
    const cap = mgr.queryCapabilities().find((c) => c.name === "xbzrle");
    expect(cap).toMatchObject({ state: false, plugin: "xbzrle", default: false });
    expect(cap!.conflicts ?? []).toEqual([]);
    expect(mgr.queryParameters()["xbzrle-cache-size"]).toBe(67108864);
    expect(DEFAULT_XBZRLE_CACHE_SIZE).toBe(67108864);
    mgr.setCapabilities({ xbzrle: true });
    expect(mgr.capabilities().xbzrle).toBe(true);
    expect(xbzrle().records).toEqual([xbzrleRecord]);
  });

  it("accepts powers of two of at least a page; refuses the rest with a clear message", () => {
    const mgr = createMigrationManager({ plugins: [precopy(), xbzrle()] });
    for (const ok of [4096, 8192, 1 << 20, 2 ** 40]) {
      mgr.setParameters({ "xbzrle-cache-size": ok });
      expect(mgr.queryParameters()["xbzrle-cache-size"]).toBe(ok);
    }
    for (const bad of [0, 2048, 4095, 5000, 3 * 4096, 4096.5, -4096, 2 ** 43]) {
      let err: unknown;
      try {
        mgr.setParameters({ "xbzrle-cache-size": bad });
      } catch (e) {
        err = e;
      }
      expect(err, String(bad)).toBeInstanceOf(MigrationConfigError);
      expect((err as MigrationConfigError).setting).toBe("xbzrle-cache-size");
      expect((err as Error).message).toContain("power of two");
      expect((err as Error).message).toContain(`got number ${bad}`);
    }
    expect(() => mgr.setParameters({ "xbzrle-cache-size": "64M" })).toThrow(MigrationConfigError);
    expect(mgr.queryParameters()["xbzrle-cache-size"]).toBe(2 ** 40);
  });

  it("takes a default cache size and refuses an invalid one", () => {
    const mgr = createMigrationManager({ plugins: [xbzrle({ cacheSize: 1 << 20 })] });
    expect(mgr.queryParameters()["xbzrle-cache-size"]).toBe(1 << 20);
    expect(() => xbzrle({ cacheSize: 12345 })).toThrow(PageCacheConfigError);
    expect(() => xbzrle({ cacheSize: 12345 })).toThrow(/power of two.*got 12345/);
  });

  it("allocates no more cache slots than there are pages", () => {
    expect(effectiveCacheBytes(64 * MiB, 1024)).toBe(4 * MiB);
    expect(effectiveCacheBytes(64 * MiB, 1000)).toBe(4 * MiB);
    expect(effectiveCacheBytes(64 * MiB, 1025)).toBe(8 * MiB);
    expect(effectiveCacheBytes(1 * MiB, 1024)).toBe(1 * MiB);
    const enc = createXbzrleEncoder({ machine: {}, cacheSize: 64 * MiB, totalPages: 3 });
    expect(enc.pageCache.slots).toBe(4);
  });
});

describe("the XBZRLE record type", () => {
  const rec = (bytes: number[]) => Uint8Array.from(bytes);

  it("reads u8 0x01, be16 len and asks for more bytes when short", () => {
    expect(xbzrleRecord.flag).toBe(0x40);
    expect(xbzrleRecord.payloadLength(rec([]), 0, 0)).toBe(-1);
    expect(xbzrleRecord.payloadLength(rec([1, 0]), 0, 2)).toBe(-1);
    expect(xbzrleRecord.payloadLength(rec([1, 0x01, 0x02]), 0, 3)).toBe(3 + 0x102);
    expect(xbzrleRecord.payloadLength(rec([9, 1, 0x10, 0x00]), 1, 3)).toBe(3 + 4096);
  });

  it("refuses a flag byte other than 0x01 and a length above the page size", () => {
    expect(() => xbzrleRecord.payloadLength(rec([2, 0, 4]), 0, 3)).toThrow(XbzrleRecordError);
    expect(() => xbzrleRecord.payloadLength(rec([2]), 0, 1)).toThrow(
      "expected encoding flag 0x01, found 0x02",
    );
    expect(() => xbzrleRecord.payloadLength(rec([1, 0x10, 0x01]), 0, 3)).toThrow(
      "expected an encoded length of at most 4096 bytes, found 4097",
    );
  });

  it("applies the body in place and refuses a malformed one", () => {
    const old = new Uint8Array(PS).fill(7);
    const neu = old.slice();
    neu[5] = 1;
    neu[4000] = 2;
    const body = new Uint8Array(PS);
    const n = xbzrleEncode(old, 0, neu, 0, PS, body, 0, PS);
    const payload = new Uint8Array(3 + n);
    payload.set([1, n >> 8, n & 0xff]);
    payload.set(body.subarray(0, n), 3);
    const page = new Uint8Array(2 * PS);
    page.set(old, PS);
    xbzrleRecord.decode(payload, 0, payload.length, page, PS);
    expect(page.subarray(PS)).toEqual(neu);
    // an nzrun running past the page
    const bad = Uint8Array.from([1, 0, 4, 0xff, 0x1f, 0x02, 0xaa]);
    expect(() => xbzrleRecord.decode(bad, 0, bad.length, page, PS)).toThrow(XbzrleDecodeError);
  });
});

// ---- the encoder against a model destination ----

interface Harness {
  readonly enc: XbzrleEncoder;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly machine: { state: string };
  readonly sent: string[];
  sync(): void;
  send(page: number): void;
}

function harness(pages: number, cacheSize: number): Harness {
  const src = new Uint8Array(pages * PS);
  const dst = new Uint8Array(pages * PS);
  const machine = { state: "running" };
  const enc = createXbzrleEncoder({ machine, cacheSize, totalPages: pages });
  let chunk: Uint8Array = new Uint8Array(0);
  const w = new StreamWriter((c: Uint8Array) => {
    chunk = c.slice();
  });
  const block = { name: "ram", size: pages * PS } as RamRegion;
  const ref = {
    block,
    blockIndex: 0,
    page: 0,
    offset: 0,
    key: 0,
    bytes: src,
    bytesOffset: 0,
    version: -1,
  } as PageRef;
  let syncCount = 0;
  const sent: string[] = [];
  return {
    enc,
    src,
    dst,
    machine,
    sent,
    sync() {
      syncCount++;
      enc.onSync({ syncCount, nowNs: syncCount * 1e9 } as SyncStats);
    },
    send(page) {
      ref.page = page;
      ref.key = page;
      ref.offset = page * PS;
      ref.bytesOffset = page * PS;
      const off = page * PS;
      let zero = true;
      for (let i = off; i < off + PS; i++) if (src[i] !== 0) zero = false;
      if (zero) {
        // the zero-page codec earlier in the chain
        dst.fill(0, off, off + PS);
        enc.skipped(ref);
        sent.push("zero");
        return;
      }
      const before = w.written;
      if (!enc.encode(ref, w)) {
        expect(w.written).toBe(before);
        dst.set(src.subarray(off, off + PS), off);
        sent.push("raw");
        return;
      }
      if (w.written === before) {
        sent.push("skip");
        return;
      }
      chunk = new Uint8Array(0);
      w.flush();
      const hi = chunk[6] * 256 + chunk[7];
      const flags = hi & 0xfff;
      expect(flags & ~RamFlag.CONTINUE).toBe(RamFlag.XBZRLE);
      const p = (flags & RamFlag.CONTINUE) !== 0 ? 8 : 9 + chunk[8];
      const len = xbzrleRecord.payloadLength(chunk, p, chunk.length - p);
      expect(p + len).toBe(chunk.length);
      xbzrleRecord.decode(chunk, p, len, dst, off);
      sent.push("xbzrle");
    },
  };
}

describe("the XBZRLE encoder (QEMU's save_xbzrle_page)", () => {
  it("declines until the scan wraps, then misses, hits, skips and overflows like QEMU", () => {
    const h = harness(4, 4 * PS);
    h.sync();
    h.src.fill(1);
    for (let p = 0; p < 4; p++) h.send(p); // bulk pass
    expect(h.enc.active).toBe(false);
    expect(h.enc.pageCache.counts().inserts).toBe(0);
    h.sync();
    h.src[5] = 9;
    h.send(0); // the scan wrapped: miss → cached, raw
    expect(h.enc.active).toBe(true);
    h.send(1); // miss
    h.sync();
    h.src[6] = 9;
    h.send(0); // hit → delta
    h.send(1); // hit, unchanged → nothing sent
    for (let i = 0; i < PS; i += 2) h.src[PS + i] ^= 0xff; // half the bytes change → overflow
    h.send(1);
    h.send(1); // the cache followed the overflowed page: unchanged
    expect(h.sent).toEqual([
      "raw",
      "raw",
      "raw",
      "raw",
      "raw",
      "raw",
      "xbzrle",
      "skip",
      "raw",
      "skip",
    ]);
    expect(h.dst).toEqual(h.src);
    const x = h.enc.stats()["xbzrle-cache"] as Record<string, number>;
    expect(x).toMatchObject({ "cache-size": 4 * PS, pages: 4, "cache-miss": 2, overflow: 1 });
    // delta record: 8-byte header (no CONTINUE: the first record of this writer) + 1 idstr
    // length + 3 idstr + 3 + body, minus QEMU's 8; the overflow counts a page
    const body = x.bytes - PS - (9 + 3 + 3 - 8);
    expect(body).toBe(3); // zrun 6, nzrun 1, the byte
  });

  it("zero pages sent by an earlier codec update the cache", () => {
    const h = harness(2, 2 * PS);
    h.sync();
    h.src.fill(3);
    h.send(0);
    h.send(1);
    h.sync();
    h.send(0); // miss → cached
    h.src.fill(0, 0, PS);
    h.send(0); // zero page → the cache slot holds zeros
    h.src[100] = 1;
    h.send(0); // hit against the zero copy: a small delta
    expect(h.sent.slice(2)).toEqual(["raw", "zero", "xbzrle"]);
    expect(h.dst).toEqual(h.src);
  });

  it("in the last stage (machine paused at the sync) nothing is inserted and hits are dropped", () => {
    const h = harness(2, 2 * PS);
    h.sync();
    h.src.fill(3);
    h.send(0);
    h.send(1);
    h.sync();
    h.send(0); // miss → cached
    h.machine.state = "paused";
    h.sync();
    h.src[1] = 4;
    h.send(0); // hit → delta, entry dropped
    expect(h.enc.pageCache.has(0)).toBe(false);
    h.send(1); // miss, not inserted
    expect(h.enc.pageCache.has(1)).toBe(false);
    // a user pause that ends: the cache never serves a stale copy
    h.machine.state = "running";
    h.sync();
    h.src[2] = 5;
    h.send(0);
    h.send(0);
    expect(h.sent.slice(3)).toEqual(["xbzrle", "raw", "raw", "skip"]);
    expect(h.dst).toEqual(h.src);
  });

  it("computes cache-miss-rate and encoding-rate at syncs at least 1 s apart", () => {
    const h = harness(2, 2 * PS);
    h.sync();
    h.src.fill(3);
    h.send(0);
    h.send(1);
    h.sync();
    h.send(0);
    h.send(1);
    h.sync();
    h.src[0] = 1;
    h.send(0);
    h.src[PS] = 1;
    h.send(1);
    h.sync();
    const x = h.enc.stats()["xbzrle-cache"] as Record<string, number>;
    expect(x["cache-miss-rate"]).toBe(0);
    expect(x["encoding-rate"]).toBeCloseTo((2 * PS) / x.bytes, 10);
    expect(x["encoding-rate"]).toBeGreaterThan(100);
  });

  it("property: the destination always equals the source, whatever is dirtied and when", () => {
    const pages = 8;
    const mutation = fc.record({
      page: fc.integer({ min: 0, max: pages - 1 }),
      kind: fc.constantFrom("bytes", "zero", "noise", "none"),
      at: fc.integer({ min: 0, max: PS - 1 }),
      len: fc.integer({ min: 1, max: 64 }),
      value: fc.integer({ min: 0, max: 255 }),
    });
    const round = fc.record({
      mutations: fc.array(mutation, { maxLength: 12 }),
      dirty: fc.subarray([0, 1, 2, 3, 4, 5, 6, 7]),
      paused: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(PS, 2 * PS, 4 * PS, 8 * PS),
        fc.array(round, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (cacheSize, rounds, seed) => {
          const h = harness(pages, cacheSize);
          let s = seed;
          const rnd = () => {
            s = (s * 1103515245 + 12345) >>> 0;
            return s >>> 16;
          };
          h.sync();
          for (let p = 0; p < pages; p++) h.send(p);
          for (const r of rounds) {
            for (const m of r.mutations) {
              const off = m.page * PS;
              if (m.kind === "zero") h.src.fill(0, off, off + PS);
              else if (m.kind === "bytes") {
                const end = Math.min(PS, m.at + m.len);
                h.src.fill(m.value, off + m.at, off + end);
              } else if (m.kind === "noise") {
                for (let i = 0; i < PS; i++) h.src[off + i] = rnd() & 0xff;
              }
            }
            h.machine.state = r.paused ? "paused" : "running";
            h.sync();
            const dirty = new Set([...r.dirty, ...r.mutations.map((m) => m.page)]);
            for (const p of [...dirty].sort((a, b) => a - b)) h.send(p);
            if (Buffer.compare(Buffer.from(h.dst), Buffer.from(h.src)) !== 0) return false;
            // every cached copy is what the destination holds
            const c = h.enc.pageCache;
            for (let p = 0; p < pages; p++) {
              if (!c.has(p)) continue;
              const slot = (p & (c.slots - 1)) * PS;
              const cached = Buffer.from(c.store.subarray(slot, slot + PS));
              if (!cached.equals(Buffer.from(h.dst.subarray(p * PS, (p + 1) * PS)))) return false;
            }
          }
          return true;
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("corrupted XBZRLE records into incoming", () => {
  function machine(s: VirtualScheduler) {
    return createMachine({
      scheduler: s,
      cpu: uniformDirtier({ writesPerSecond: 1000 }),
      vcpus: 1,
      memory: { size: 1 * MiB },
    });
  }

  /** A complete stream: page 0 raw (all 7), then one XBZRLE record for page 0 with `payload`. */
  function stream(s: VirtualScheduler, payload: Uint8Array): Uint8Array {
    const m = machine(s);
    const block = m.memory.ramRegions[0];
    const chunks: Uint8Array[] = [];
    const w = new StreamWriter((c: Uint8Array) => {
      chunks.push(c.slice());
    });
    w.header();
    const id = w.ramSetupSection([block]);
    w.sectionContinue(SectionType.PART, id);
    w.ramRecord(block, 0, RamFlag.PAGE);
    w.bytes(new Uint8Array(PS).fill(7), 0, PS);
    w.ramRecord(block, 0, RamFlag.XBZRLE);
    w.bytes(payload, 0, payload.length);
    w.ramEos();
    w.footer(id);
    w.sectionContinue(SectionType.END, id);
    w.ramEos();
    w.footer(id);
    const state = m.saveState() as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(state)) w.deviceSection(k, 0, { [k]: v });
    w.eof();
    w.flush();
    return Buffer.concat(chunks);
  }

  function transport(data: Uint8Array): IncomingTransport {
    return {
      receive(h) {
        for (let i = 0; i < data.length; i += 1000) h.data(data.subarray(i, i + 1000));
        h.end();
      },
      close() {},
    };
  }

  it("a valid record applies; bad flag, length and body fail cleanly; destination not started", async () => {
    const s = new VirtualScheduler();
    const good = Uint8Array.from([1, 0, 3, 5, 1, 0xab]); // bytes 5 := 0xab
    const dst = machine(s);
    const ok = await incoming({
      machine: dst,
      transport: transport(stream(s, good)),
      plugins: [xbzrle()],
    }).done;
    expect(ok.status).toBe("completed");
    expect(dst.state).toBe("running");
    const want = new Uint8Array(PS).fill(7);
    want[5] = 0xab;
    expect(dst.ram.backend.bytes!.subarray(0, PS)).toEqual(want);

    const cases: Array<[string, Uint8Array, RegExp, boolean]> = [
      [
        "flag byte",
        Uint8Array.from([2, 0, 3, 5, 1, 0xab]),
        /expected encoding flag 0x01, found 0x02/,
        true,
      ],
      ["length", Uint8Array.from([1, 0x10, 0x01]), /at most 4096 bytes, found 4097/, true],
      [
        "zero-length later zrun",
        Uint8Array.from([1, 0, 5, 5, 1, 0xab, 0, 1]),
        /XBZRLE payload invalid/,
        true,
      ],
      [
        "nzrun past the page",
        Uint8Array.from([1, 0, 4, 0xff, 0x1f, 2, 0xab]),
        /XBZRLE payload invalid/,
        true,
      ],
      ["truncated body", Uint8Array.from([1, 0, 3, 5, 3, 0xab]), /XBZRLE payload invalid/, true],
      ["without the plugin", good, /unknown RAM record flags 0x60/, false],
    ];
    for (const [name, payload, re, withPlugin] of cases) {
      const d = machine(s);
      const r = await incoming({
        machine: d,
        transport: transport(stream(s, payload)),
        plugins: withPlugin ? [xbzrle()] : [],
      }).done;
      expect(r.status, name).toBe("failed");
      expect(r.error, name).toBeInstanceOf(StreamError);
      expect(r.error!.message, name).toMatch(re);
      expect(d.state, name).toBe("created");
    }
  });
});
