import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createDirtyBitmap,
  createDirtyLog,
  createDirtyRings,
  type DirtyLog,
  InvalidArgumentError,
  PAGE_SIZE,
} from "../src/index";

/** A vCPU store through the tracker's test-and-set (what the interpreter and workloads do). */
function store(log: DirtyLog, vcpu: number, page: number): boolean {
  if (!log.logging) return false;
  if ((log.words[page >>> 5] & (1 << (page & 31))) !== 0) return false;
  return log.markVcpu(vcpu, page);
}

function setOf(log: DirtyLog): number[] {
  const into = createDirtyBitmap(log.pageCount);
  log.sync(into);
  const out: number[] = [];
  for (let p = into.nextSet(0); p >= 0; p = into.nextSet(p + 1)) out.push(p);
  return out;
}

describe("dirty ring", () => {
  it("pushes a page once until it is reset; a full ring is reported exactly at capacity", () => {
    const rings = createDirtyRings({ vcpuCount: 2, size: 4 });
    const log = rings.createTracker(64);
    expect(log.kind).toBe("ring");
    log.start();
    expect(store(log, 0, 5)).toBe(false);
    expect(store(log, 0, 5)).toBe(false); // already dirty: no new entry
    expect(store(log, 1, 5)).toBe(false); // another vCPU, same page: still none
    expect(rings.count(0)).toBe(1);
    expect(rings.count(1)).toBe(0);
    expect(store(log, 0, 6)).toBe(false);
    expect(store(log, 0, 7)).toBe(false);
    expect(rings.isFull(0)).toBe(false);
    expect(store(log, 0, 8)).toBe(true); // 4th entry: full
    expect(rings.isFull(0)).toBe(true);
    expect(rings.fullEvents(0)).toBe(1);
    expect(rings.pushed(0)).toBe(4);

    const seen: number[] = [];
    expect(
      rings.harvest(0, (t, p) => {
        expect(t).toBe(log);
        seen.push(p);
      }),
    ).toBe(4);
    expect(seen).toEqual([5, 6, 7, 8]);
    // Harvested but not reset: the ring is still full and the pages still armed.
    expect(rings.isFull(0)).toBe(true);
    expect(store(log, 0, 5)).toBe(false);
    let woke = -1;
    rings.setSpaceListener(0, (v) => {
      woke = v;
    });
    expect(rings.reset()).toBe(4);
    expect(woke).toBe(0);
    expect(rings.count(0)).toBe(0);
    // Re-armed: the next store pushes again.
    expect(store(log, 0, 5)).toBe(false);
    expect(rings.count(0)).toBe(1);
    // sync returns every page harvested since the last sync plus those still in rings.
    expect(setOf(log)).toEqual([5, 6, 7, 8]);
    expect(rings.count(0)).toBe(0);
    expect(setOf(log)).toEqual([]);
  });

  it("never loses a page pushed onto a full ring; VMM marks bypass the ring", () => {
    const rings = createDirtyRings({ vcpuCount: 1, size: 1 });
    const log = rings.createTracker(100);
    log.start();
    expect(store(log, 0, 1)).toBe(true);
    expect(store(log, 0, 2)).toBe(true); // a backend that did not exit: overflow
    expect(rings.count(0)).toBe(1);
    log.markRange(10 * PAGE_SIZE, 2 * PAGE_SIZE);
    log.markOffset(99 * PAGE_SIZE + 7);
    log.markPage(50);
    expect(rings.count(0)).toBe(1);
    expect(setOf(log)).toEqual([1, 2, 10, 11, 50, 99]);
    expect(() => log.markPage(100)).toThrow(/outside the region's 100 pages/);
    expect(() => log.markRange(99 * PAGE_SIZE, 2 * PAGE_SIZE)).toThrow(InvalidArgumentError);
  });

  it("stop and start drop the region's pending pages", () => {
    const rings = createDirtyRings({ vcpuCount: 1, size: 8 });
    const a = rings.createTracker(32);
    const b = rings.createTracker(32);
    a.start();
    b.start();
    store(a, 0, 1);
    store(b, 0, 2);
    a.stop();
    expect(a.logging).toBe(false);
    expect(store(a, 0, 3)).toBe(false);
    expect(rings.count(0)).toBe(0);
    a.start();
    expect(setOf(a)).toEqual([]);
    expect(setOf(b)).toEqual([2]);
  });

  it("refuses bad sizes and vCPUs", () => {
    expect(() => createDirtyRings({ vcpuCount: 1, size: 3 })).toThrow(/power of two/);
    expect(() => createDirtyRings({ vcpuCount: 1, size: 131072 })).toThrow(/1\.\.65536/);
    expect(() => createDirtyRings({ vcpuCount: 0 })).toThrow(/1\.\.1024 vCPUs/);
    const rings = createDirtyRings({ vcpuCount: 2 });
    expect(rings.size).toBe(4096);
    expect(() => rings.count(2)).toThrow(/vCPU 2 does not exist/);
    const log = rings.createTracker(8);
    expect(() => log.sync(createDirtyBitmap(9))).toThrow(/8 pages, got 9/);
  });

  /** One step of a run: a vCPU store, a VMM write, a consumer harvest/reset, or a migration sync. */
  type Op =
    | { k: "store"; vcpu: number; page: number }
    | { k: "vmm"; page: number }
    | { k: "inline"; page: number }
    | { k: "harvest"; vcpu: number }
    | { k: "reset" }
    | { k: "sync" };

  const PAGES = 96;
  const VCPUS = 3;
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        k: fc.constant("store" as const),
        vcpu: fc.integer({ min: 0, max: VCPUS - 1 }),
        page: fc.integer({ min: 0, max: PAGES - 1 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant("vmm" as const), page: fc.nat(PAGES - 1) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant("inline" as const), page: fc.nat(PAGES - 1) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant("harvest" as const), vcpu: fc.nat(VCPUS - 1) }),
    },
    { weight: 1, arbitrary: fc.constant({ k: "reset" as const }) },
    { weight: 1, arbitrary: fc.constant({ k: "sync" as const }) },
  );

  it("property: ring and bitmap report the same dirty pages at every sync", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.constantFrom(1, 2, 8, 64), (ops, size) => {
        const bitmap = createDirtyLog(PAGES);
        const rings = createDirtyRings({ vcpuCount: VCPUS, size });
        const ring = rings.createTracker(PAGES);
        bitmap.start();
        ring.start();
        const check = (): void => expect(setOf(ring)).toEqual(setOf(bitmap));
        for (const o of ops) {
          switch (o.k) {
            case "store":
              store(bitmap, o.vcpu, o.page);
              // A full ring exits the vCPU; the default handler reaps every ring (QEMU).
              if (store(ring, o.vcpu, o.page)) rings.reap();
              break;
            case "vmm":
              bitmap.markPage(o.page);
              ring.markPage(o.page);
              break;
            case "inline":
              bitmap.words[o.page >>> 5] |= 1 << (o.page & 31);
              ring.words[o.page >>> 5] |= 1 << (o.page & 31);
              break;
            case "harvest":
              rings.harvest(o.vcpu);
              break;
            case "reset":
              rings.reset();
              break;
            case "sync":
              check();
              break;
          }
          for (let v = 0; v < VCPUS; v++) expect(rings.count(v)).toBeLessThanOrEqual(size);
        }
        check();
      }),
    );
  });

  it("property: ring-full is reported exactly when a ring reaches capacity", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(VCPUS - 1), fc.nat(PAGES - 1)), { maxLength: 300 }),
        fc.constantFrom(1, 4, 16),
        (stores, size) => {
          const rings = createDirtyRings({ vcpuCount: VCPUS, size });
          const log = rings.createTracker(PAGES);
          log.start();
          const entries = new Array<number>(VCPUS).fill(0);
          const dirty = new Set<number>();
          const blocked = new Array<boolean>(VCPUS).fill(false);
          for (const [v, p] of stores) {
            if (blocked[v]) continue; // a vCPU out on a full ring does not store
            const fresh = !dirty.has(p);
            const full = store(log, v, p);
            if (fresh) {
              dirty.add(p);
              entries[v]++;
            }
            expect(full).toBe(fresh && entries[v] === size);
            expect(rings.count(v)).toBe(entries[v]);
            if (full) blocked[v] = true;
          }
          for (let v = 0; v < VCPUS; v++) {
            expect(rings.isFull(v)).toBe(entries[v] === size);
            expect(rings.fullEvents(v)).toBe(entries[v] === size ? 1 : 0);
          }
        },
      ),
    );
  });
});
