import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CACHED_PAGE_LIFETIME,
  PageCacheConfigError,
  createPageCache,
  pageCacheSlots,
  xbzrleEncode,
} from "../src/codec";

const PS = 4096;

function pageOf(fill: number): Uint8Array {
  return new Uint8Array(PS).fill(fill);
}

describe("page cache configuration", () => {
  it("accepts power-of-two page counts, including the 64 MiB default", () => {
    expect(pageCacheSlots(64 * 1024 * 1024, PS)).toBe(16384);
    expect(pageCacheSlots(PS, PS)).toBe(1);
    expect(createPageCache(8 * PS, PS).slots).toBe(8);
  });

  it("rejects sizes that are not a power-of-two number of pages", () => {
    expect(() => createPageCache(3 * PS, PS)).toThrow(PageCacheConfigError);
    expect(() => createPageCache(3 * PS, PS)).toThrow(/power of two, got 3 pages/);
    expect(() => createPageCache(PS - 1, PS)).toThrow(/at least one page/);
    expect(() => createPageCache(0, PS)).toThrow(PageCacheConfigError);
    expect(() => createPageCache(PS + 1, PS)).toThrow(/multiple of the page size/);
    expect(() => createPageCache(PS, 0)).toThrow(/page size/);
    expect(() => createPageCache(1.5 * PS, PS)).toThrow(PageCacheConfigError);
  });
});

describe("page cache behaviour", () => {
  it("misses when empty and allocates nothing until the first insert", () => {
    const c = createPageCache(4 * PS, PS);
    expect(c.lookup(3, 0)).toBeNull();
    expect(c.store.length).toBe(0);
    expect(c.counts()).toMatchObject({ slots: 4, used: 0, hits: 0, misses: 1 });
  });

  it("returns the inserted copy, not the caller's buffer", () => {
    const c = createPageCache(4 * PS, PS);
    const data = pageOf(7);
    expect(c.insert(5, data, 1)).toBe(true);
    data.fill(9);
    const hit = c.lookup(5, 1);
    expect(hit).not.toBeNull();
    expect(hit!.length).toBe(PS);
    expect(hit!.every((b) => b === 7)).toBe(true);
    expect(c.store.length).toBe(4 * PS);
    // Stable view per slot: no allocation per lookup.
    expect(c.lookup(5, 1)).toBe(hit);
    expect(c.lookupOffset(5, 1)).toBe((5 & 3) * PS);
  });

  it("maps page -> slot = page & (slots - 1); a hit needs the same page", () => {
    const c = createPageCache(4 * PS, PS);
    c.insert(2, pageOf(1), 0);
    expect(c.has(2)).toBe(true);
    expect(c.has(6)).toBe(false); // same slot, other page
    expect(c.lookup(6, 0)).toBeNull();
    // Pages beyond 2^31 still map by their low bits.
    const big = 2 ** 40 + 6;
    expect(c.insert(big, pageOf(4), 10)).toBe(true);
    expect(c.has(big)).toBe(true);
    expect(c.has(2)).toBe(false);
    expect(c.lookupOffset(big, 10)).toBe(2 * PS);
  });

  it("refuses to replace another page younger than CACHED_PAGE_LIFETIME generations", () => {
    expect(CACHED_PAGE_LIFETIME).toBe(2);
    const c = createPageCache(2 * PS, PS);
    expect(c.insert(0, pageOf(1), 5)).toBe(true);
    expect(c.insert(2, pageOf(2), 5)).toBe(false); // age 5 + 2 > 5
    expect(c.insert(2, pageOf(2), 6)).toBe(false); // 7 > 6
    expect(c.insert(2, pageOf(2), 7)).toBe(true); // 7 > 7 is false: replaced
    expect(c.has(0)).toBe(false);
    expect(c.lookup(2, 7)!.every((b) => b === 2)).toBe(true);
    expect(c.counts()).toMatchObject({ used: 1, inserts: 2, refused: 2 });
  });

  it("the same page can always be re-inserted", () => {
    const c = createPageCache(PS, PS);
    c.insert(9, pageOf(1), 3);
    expect(c.insert(9, pageOf(2), 3)).toBe(true);
    expect(c.lookup(9, 3)![0]).toBe(2);
  });

  it("a hit refreshes the age, protecting the page from replacement", () => {
    const c = createPageCache(PS, PS);
    c.insert(1, pageOf(1), 0);
    expect(c.lookup(1, 10)).not.toBeNull(); // age := 10
    expect(c.insert(2, pageOf(2), 11)).toBe(false);
    expect(c.insert(2, pageOf(2), 12)).toBe(true);
  });

  it("clearSlotToZero caches a zero page under the same rules", () => {
    const c = createPageCache(2 * PS, PS);
    c.insert(4, pageOf(0xff), 0);
    expect(c.clearSlotToZero(4, 0)).toBe(true);
    expect(c.lookup(4, 0)!.every((b) => b === 0)).toBe(true);
    expect(c.clearSlotToZero(6, 1)).toBe(false);
    expect(c.clearSlotToZero(6, 2)).toBe(true);
    expect(c.has(6)).toBe(true);
  });

  it("inserts from an offset inside a larger buffer (guest RAM)", () => {
    const ram = new Uint8Array(4 * PS);
    ram.fill(8, 2 * PS, 3 * PS);
    const c = createPageCache(4 * PS, PS);
    expect(c.insert(2, ram, 1, 2 * PS)).toBe(true);
    expect(c.lookup(2, 1)!.every((b) => b === 8)).toBe(true);
    expect(() => c.insert(3, ram, 1, 3 * PS + 1)).toThrow(/expected 4096 bytes at offset/);
    expect(() => c.insert(-1, ram, 1)).toThrow(/non-negative integer index/);
  });

  it("resize to a new size drops everything; the same size keeps it", () => {
    const c = createPageCache(2 * PS, PS);
    c.insert(1, pageOf(1), 0);
    c.resize(2 * PS);
    expect(c.has(1)).toBe(true);
    c.resize(8 * PS);
    expect(c.slots).toBe(8);
    expect(c.cacheSize).toBe(8 * PS);
    expect(c.has(1)).toBe(false);
    expect(c.store.length).toBe(0);
    expect(c.counts()).toMatchObject({ slots: 8, used: 0, inserts: 0 });
    expect(() => c.resize(6 * PS)).toThrow(PageCacheConfigError);
    expect(c.slots).toBe(8);
    c.insert(9, pageOf(3), 0);
    expect(c.lookup(9, 0)![0]).toBe(3);
  });

  it("feeds the encoder without copies via lookupOffset + store", () => {
    const c = createPageCache(4 * PS, PS);
    const ram = new Uint8Array(8 * PS);
    c.insert(5, ram, 0, 5 * PS);
    ram[5 * PS + 10] = 1;
    const off = c.lookupOffset(5, 1);
    const out = new Uint8Array(PS);
    const n = xbzrleEncode(c.store, off, ram, 5 * PS, PS, out, 0, PS);
    expect(Array.from(out.subarray(0, n))).toEqual([10, 1, 1]);
  });

  it("agrees with a model of QEMU's cache for random operation sequences", () => {
    type Op = { kind: "lookup" | "insert" | "zero"; page: number; genStep: number };
    const opArb = fc.record({
      kind: fc.constantFrom<Op["kind"]>("lookup", "insert", "zero"),
      page: fc.integer({ min: 0, max: 31 }),
      genStep: fc.integer({ min: 0, max: 1 }),
    });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const ps = 8;
        const slots = 4;
        const c = createPageCache(slots * ps, ps);
        const model = Array.from({ length: slots }, () => ({ addr: -1, age: 0, fill: 0 }));
        let gen = 0;
        let tag = 1;
        for (const op of ops) {
          gen += op.genStep;
          const m = model[op.page & (slots - 1)];
          if (op.kind === "lookup") {
            const v = c.lookup(op.page, gen);
            if (m.addr === op.page) {
              m.age = gen;
              expect(v).not.toBeNull();
              expect(v!.every((b) => b === m.fill)).toBe(true);
            } else {
              expect(v).toBeNull();
            }
          } else {
            const allowed = m.addr === -1 || m.addr === op.page || m.age + 2 <= gen;
            const fill = op.kind === "zero" ? 0 : tag++ & 0xff;
            const ok =
              op.kind === "zero"
                ? c.clearSlotToZero(op.page, gen)
                : c.insert(op.page, new Uint8Array(ps).fill(fill), gen);
            expect(ok).toBe(allowed);
            if (allowed) {
              m.addr = op.page;
              m.age = gen;
              m.fill = fill;
            }
          }
        }
      }),
    );
  });
});

describe("page cache invalidate", () => {
  it("drops only the page its slot holds and frees the slot", () => {
    const c = createPageCache(2 * PS, PS);
    expect(c.insert(1, pageOf(5), 0)).toBe(true);
    expect(c.invalidate(3)).toBe(false); // same slot, other page
    expect(c.has(1)).toBe(true);
    expect(c.invalidate(1)).toBe(true);
    expect(c.has(1)).toBe(false);
    expect(c.invalidate(1)).toBe(false);
    expect(c.counts().used).toBe(0);
    // the freed slot takes another page at once, whatever the generation
    expect(c.insert(3, pageOf(6), 0)).toBe(true);
    expect(c.lookup(3, 0)).toEqual(pageOf(6));
  });
});

describe("page cache store allocator", () => {
  it("allocates the store through the given function on first use and after a resize", () => {
    const sizes: number[] = [];
    const stores: Uint8Array[] = [];
    const c = createPageCache(4 * PS, PS, (bytes) => {
      sizes.push(bytes);
      const s = new Uint8Array(bytes);
      stores.push(s);
      return s;
    });
    expect(sizes).toEqual([]);
    expect(c.insert(1, pageOf(7), 0)).toBe(true);
    expect(c.insert(2, pageOf(8), 0)).toBe(true);
    expect(sizes).toEqual([4 * PS]);
    expect(c.store).toBe(stores[0]);
    expect(c.lookup(2, 0)).toEqual(pageOf(8));
    c.resize(8 * PS);
    expect(c.insert(3, pageOf(9), 0)).toBe(true);
    expect(sizes).toEqual([4 * PS, 8 * PS]);
    expect(c.store).toBe(stores[1]);
  });

  it("a WebAssembly kernel's allocator gives a store the kernel compares in place", async () => {
    const { createXbzrleWasmKernel } = await import("../src/codec");
    const k = createXbzrleWasmKernel();
    if (k === null) return; // no WebAssembly SIMD here: nothing to check
    const c = createPageCache(4 * PS, PS, k.allocate);
    const page = pageOf(3);
    expect(c.insert(5, page, 0)).toBe(true);
    expect(k.holds(c.store)).toBe(true);
    const neu = page.slice();
    neu[100] = 4;
    const out = new Uint8Array(PS);
    const off = c.lookupOffset(5, 0);
    expect(k.encode(c.store, off, neu, 0, PS, out, 0, PS)).toBe(3);
    expect(Array.from(out.subarray(0, 3))).toEqual([100, 1, 4]);
  });
});
