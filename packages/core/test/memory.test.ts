import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  InvalidArgumentError,
  MemoryAccessError,
  PAGE_SIZE,
  createAddressSpace,
  createDirtyBitmap,
  createDirtyLog,
  createRamBackend,
  type MmioDevice,
} from "../src/index";

function nullDevice(id: string): MmioDevice {
  return {
    id,
    read: () => 0,
    write: () => {},
    saveState: () => ({}),
    loadState: () => {},
  };
}

describe("RamBackend", () => {
  it.each(["array", "shared"] as const)("%s: little-endian load/store and read/write", (kind) => {
    const ram = createRamBackend(kind, 2 * PAGE_SIZE);
    expect(ram.kind).toBe(kind);
    expect(ram.bytes!.buffer instanceof (kind === "shared" ? SharedArrayBuffer : ArrayBuffer)).toBe(
      true,
    );
    ram.store(8, 4, 0xdeadbeef);
    expect([...ram.bytes!.subarray(8, 12)]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(ram.load(8, 4)).toBe(0xdeadbeef);
    expect(ram.load(8, 2)).toBe(0xbeef);
    expect(ram.load(11, 1)).toBe(0xde);
    ram.store(100, 2, 0x1234_5678);
    expect(ram.load(100, 4)).toBe(0x5678);
    const out = new Uint8Array(4);
    ram.read(8, out);
    expect([...out]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    ram.write(PAGE_SIZE, Uint8Array.of(1, 2, 3));
    expect(ram.load(PAGE_SIZE + 1, 1)).toBe(2);
  });

  it("rejects bad sizes and out-of-range accesses clearly", () => {
    expect(() => createRamBackend("array", 1000)).toThrow(/multiple of 4096.*got 1000/);
    expect(() => createRamBackend("array", 0)).toThrow(InvalidArgumentError);
    expect(() => createRamBackend("bogus" as "array", PAGE_SIZE)).toThrow(/"array" or "shared"/);
    const ram = createRamBackend("array", PAGE_SIZE);
    expect(() => ram.load(PAGE_SIZE - 2, 4)).toThrow(MemoryAccessError);
    expect(() => ram.store(-1, 1, 0)).toThrow(MemoryAccessError);
    expect(() => ram.read(PAGE_SIZE, new Uint8Array(1))).toThrow(/outside RAM/);
    expect(() => ram.isZeroPage(1)).toThrow(/page 1 is outside/);
  });

  it("isZeroPage sees a single non-zero byte anywhere in the page", () => {
    const ram = createRamBackend("array", 3 * PAGE_SIZE);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 * PAGE_SIZE - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (off, v) => {
          ram.bytes!.fill(0);
          ram.bytes![off] = v;
          const page = Math.floor(off / PAGE_SIZE);
          for (let p = 0; p < 3; p++) expect(ram.isZeroPage(p)).toBe(p !== page);
        },
      ),
    );
  });

  it("prealloc commits every page at creation (resident memory grows by the size), zeroed", () => {
    const size = 64 << 20;
    const rss = (): number => process.memoryUsage().rss;
    const r0 = rss();
    const lazy = createRamBackend("array", size);
    const lazyGrowth = rss() - r0;
    const r1 = rss();
    const eager = createRamBackend("shared", size, { prealloc: true });
    const eagerGrowth = rss() - r1;
    expect(lazyGrowth).toBeLessThan(16 << 20);
    expect(eagerGrowth).toBeGreaterThan(56 << 20);
    expect(eager.isZeroPage(0) && eager.isZeroPage(size / PAGE_SIZE - 1)).toBe(true);
    expect(lazy.size).toBe(eager.size);
  });
});

type Op = { t: "set"; p: number } | { t: "clear"; p: number } | { t: "setAll" } | { t: "clearAll" };

describe("DirtyBitmap (vs. boolean[] model)", () => {
  const opArb = (n: number): fc.Arbitrary<Op> =>
    fc.oneof(
      {
        weight: 10,
        arbitrary: fc.integer({ min: 0, max: n - 1 }).map((p) => ({ t: "set", p }) as Op),
      },
      {
        weight: 4,
        arbitrary: fc.integer({ min: 0, max: n - 1 }).map((p) => ({ t: "clear", p }) as Op),
      },
      { weight: 1, arbitrary: fc.constant({ t: "setAll" } as Op) },
      { weight: 1, arbitrary: fc.constant({ t: "clearAll" } as Op) },
    );

  it("get/count/nextSet agree with the model", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n)))),
        ([n, ops]) => {
          const bm = createDirtyBitmap(n);
          const model: boolean[] = new Array(n).fill(false);
          for (const op of ops) {
            if (op.t === "set") {
              bm.set(op.p);
              model[op.p] = true;
            } else if (op.t === "clear") {
              bm.clear(op.p);
              model[op.p] = false;
            } else if (op.t === "setAll") {
              bm.setAll();
              model.fill(true);
            } else {
              bm.clearAll();
              model.fill(false);
            }
          }
          expect(bm.count()).toBe(model.filter(Boolean).length);
          for (let p = 0; p < n; p++) expect(bm.get(p)).toBe(model[p]);
          for (let from = -1; from <= n + 1; from++) {
            const i = model.indexOf(true, Math.max(0, from));
            expect(bm.nextSet(from)).toBe(from >= n ? -1 : i);
          }
          // iteration via nextSet visits exactly the set pages
          const seen: number[] = [];
          for (let p = bm.nextSet(0); p !== -1; p = bm.nextSet(p + 1)) seen.push(p);
          expect(seen).toEqual(model.flatMap((b, i) => (b ? [i] : [])));
        },
      ),
    );
  });

  it("setAll leaves no bits past pageCount and bounds are checked", () => {
    const bm = createDirtyBitmap(33);
    bm.setAll();
    expect(bm.words[1]).toBe(1);
    expect(bm.count()).toBe(33);
    expect(bm.nextSet(33)).toBe(-1);
    expect(() => bm.set(33)).toThrow(/0\.\.32/);
    expect(() => createDirtyBitmap(-1)).toThrow(InvalidArgumentError);
    expect(createDirtyBitmap(0).nextSet(0)).toBe(-1);
  });
});

describe("DirtyLog", () => {
  it("marks only while logging; sync ORs into the bitmap, clears, returns popcount", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 200 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.array(
                fc.tuple(
                  fc.integer({ min: 0, max: n * PAGE_SIZE - 1 }),
                  fc.integer({ min: 1, max: 3 * PAGE_SIZE }),
                ),
              ),
              fc.array(fc.integer({ min: 0, max: n - 1 })),
            ),
          ),
        ([n, ranges, pre]) => {
          const log = createDirtyLog(n);
          log.markOffset(0); // logging off: ignored
          expect(log.words.every((w) => w === 0)).toBe(true);
          log.start();
          const model = new Array(n).fill(false);
          for (const [off, len] of ranges) {
            const l = Math.min(len, n * PAGE_SIZE - off);
            log.markRange(off, l);
            for (
              let p = Math.floor(off / PAGE_SIZE);
              p <= Math.floor((off + l - 1) / PAGE_SIZE);
              p++
            )
              model[p] = true;
            log.markOffset(off);
          }
          const into = createDirtyBitmap(n);
          const preModel = new Array(n).fill(false);
          for (const p of pre) {
            into.set(p);
            preModel[p] = true;
          }
          const words = log.words;
          expect(log.sync(into)).toBe(model.filter(Boolean).length);
          expect(log.words).toBe(words);
          expect(log.words.every((w) => w === 0)).toBe(true);
          for (let p = 0; p < n; p++) expect(into.get(p)).toBe(model[p] || preModel[p]);
          expect(log.sync(into)).toBe(0);
        },
      ),
    );
  });

  it("inline marking formula matches markOffset; stop clears; bad input is refused", () => {
    const log = createDirtyLog(64);
    log.start();
    const off = 37 * PAGE_SIZE + 5;
    log.words[off >>> 17] |= 1 << ((off >>> 12) & 31);
    const a = createDirtyBitmap(64);
    log.sync(a);
    log.markOffset(off);
    const b = createDirtyBitmap(64);
    log.sync(b);
    expect([...a.words]).toEqual([...b.words]);
    expect(a.nextSet(0)).toBe(37);
    log.markPage(63);
    const c = createDirtyBitmap(64);
    expect(log.sync(c)).toBe(1);
    expect(c.get(63)).toBe(true);
    log.markOffset(0);
    log.stop();
    expect(log.logging).toBe(false);
    expect(log.words[0]).toBe(0);
    expect(() => log.sync(createDirtyBitmap(63))).toThrow(/64 pages, got 63/);
    log.start();
    expect(() => log.markOffset(64 * PAGE_SIZE)).toThrow(InvalidArgumentError);
  });
});

describe("AddressSpace", () => {
  function build() {
    const as = createAddressSpace();
    const ram = as.addRam({
      name: "ram",
      base: 0x8000_0000,
      size: 4 * PAGE_SIZE,
      backend: createRamBackend("array", 4 * PAGE_SIZE),
    });
    const uart = as.addMmio({
      name: "uart",
      base: 0x1000_0000,
      size: 0x100,
      device: nullDevice("uart0"),
    });
    const rom = as.addRam({
      name: "rom",
      base: 0x1000,
      size: PAGE_SIZE,
      backend: createRamBackend("array", PAGE_SIZE),
      readonly: true,
    });
    return { as, ram, uart, rom };
  }

  it("finds regions at edges, keeps them sorted, lists RAM in map order", () => {
    const { as, ram, uart, rom } = build();
    expect(as.regions.map((r) => r.name)).toEqual(["rom", "uart", "ram"]);
    expect(as.ramRegions).toEqual([ram, rom]);
    expect(as.find(0x8000_0000)).toBe(ram);
    expect(as.find(0x8000_0000 + 4 * PAGE_SIZE - 1)).toBe(ram);
    expect(as.find(0x8000_0000 + 4 * PAGE_SIZE)).toBeUndefined();
    expect(as.find(0x8000_0000)).toBe(ram); // cached hit
    expect(as.find(0x1000_00ff)).toBe(uart);
    expect(as.find(0x1000_0100)).toBeUndefined();
    expect(as.find(0xfff)).toBeUndefined();
    expect(as.find(0x1000)).toBe(rom);
    expect(rom.readonly).toBe(true);
    expect(as.ramByName("rom")).toBe(rom);
  });

  it("agrees with a linear scan for random addresses", () => {
    const { as } = build();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (addr) => {
        const linear = as.regions.find((r) => addr >= r.base && addr < r.base + r.size);
        expect(as.find(addr)).toBe(linear);
      }),
    );
  });

  it("rejects overlaps, duplicate names and misfit sizes with clear errors", () => {
    const { as } = build();
    expect(() =>
      as.addMmio({
        name: "x",
        base: 0x8000_0000 + 4 * PAGE_SIZE - 1,
        size: 2,
        device: nullDevice("x"),
      }),
    ).toThrow(/"x".*overlaps region "ram"/);
    expect(() => as.addMmio({ name: "uart", base: 0, size: 1, device: nullDevice("y") })).toThrow(
      /already used/,
    );
    expect(() =>
      as.addRam({
        name: "r2",
        base: 0x2000,
        size: PAGE_SIZE,
        backend: createRamBackend("array", 2 * PAGE_SIZE),
      }),
    ).toThrow(/must equal the backend size/);
    expect(() =>
      as.addRam({
        name: "r3",
        base: 0x2001,
        size: PAGE_SIZE,
        backend: createRamBackend("array", PAGE_SIZE),
      }),
    ).toThrow(/aligned/);
    expect(() => as.addMmio({ name: "z", base: 0, size: 0, device: nullDevice("z") })).toThrow(
      /positive/,
    );
  });

  it("readBytes/writeBytes stay inside one RAM region and writeBytes marks the dirty log", () => {
    const { as, ram, rom } = build();
    ram.dirty.start();
    as.writeBytes(0x8000_0000 + PAGE_SIZE - 2, Uint8Array.of(1, 2, 3, 4));
    const out = new Uint8Array(4);
    as.readBytes(0x8000_0000 + PAGE_SIZE - 2, out);
    expect([...out]).toEqual([1, 2, 3, 4]);
    const bm = createDirtyBitmap(4);
    expect(ram.dirty.sync(bm)).toBe(2);
    expect([bm.get(0), bm.get(1), bm.get(2)]).toEqual([true, true, false]);
    as.writeBytes(0x1000, Uint8Array.of(9)); // VMM may write ROM
    expect(rom.backend.load(0, 1)).toBe(9);
    expect(() => as.readBytes(0x1000_0000, out)).toThrow(
      /expected guest RAM, found MMIO region "uart"/,
    );
    expect(() => as.writeBytes(0x10, out)).toThrow(/nothing mapped/);
    expect(() => as.writeBytes(0x8000_0000 + 4 * PAGE_SIZE - 1, out)).toThrow(/runs past the end/);
  });
});
