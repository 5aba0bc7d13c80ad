import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createDirtyBitmap,
  createDirtyLog,
  createDirtyRings,
  DIRTY_LOG_OWNERS,
  type DirtyLog,
  type DirtyLogOwner,
  InvalidArgumentError,
} from "../src/index";

const PAGES = 96;

/** A bitmap tracker, and a ring tracker whose rings are small enough to fill and be reaped. */
const trackers: [string, () => DirtyLog][] = [
  ["bitmap", () => createDirtyLog(PAGES)],
  ["ring", () => createDirtyRings({ vcpuCount: 2, size: 8 }).createTracker(PAGES)],
];

/** A guest store as a CPU backend does it (test-and-set, the ring's entry on a clear bit). */
function store(log: DirtyLog, vcpu: number, page: number): void {
  if (!log.logging) return;
  if ((log.words[page >>> 5] & (1 << (page & 31))) === 0) log.markVcpu(vcpu, page);
}

function synced(log: DirtyLog): Set<number> {
  const into = createDirtyBitmap(PAGES);
  log.sync(into);
  const out = new Set<number>();
  for (let p = into.nextSet(0); p >= 0; p = into.nextSet(p + 1)) out.add(p);
  return out;
}

describe.each(trackers)("dirty log owners (%s)", (_kind, make) => {
  it("stays on until its last owner lets go, and never drops pending pages while on", () => {
    const log = make();
    expect(log.owners).toEqual([]);
    log.start("dirty-rate");
    store(log, 0, 5);
    // A migration joins: logging is already on, the page dirtied before is still pending.
    log.start("migration");
    expect(log.owners).toEqual(["migration", "dirty-rate"]);
    store(log, 1, 7);
    log.stop("dirty-rate");
    expect(log.logging).toBe(true);
    expect(log.owners).toEqual(["migration"]);
    store(log, 0, 9);
    expect([...synced(log)].sort((a, b) => a - b)).toEqual([5, 7, 9]);
    // Letting go twice, or as an owner that does not hold it, changes nothing.
    log.stop("dirty-rate");
    log.stop("dirty-limit");
    expect(log.logging).toBe(true);
    log.stop("migration");
    expect(log.logging).toBe(false);
    expect(log.owners).toEqual([]);
    store(log, 0, 11);
    expect(synced(log).size).toBe(0);
  });

  it("start() and stop() without an owner are the migration's", () => {
    const log = make();
    log.start();
    expect(log.owners).toEqual(["migration"]);
    log.start("dirty-limit");
    log.stop();
    expect(log.owners).toEqual(["dirty-limit"]);
    log.stop("dirty-limit");
    expect(log.logging).toBe(false);
  });

  it("refuses an unknown owner by name", () => {
    const log = make();
    expect(() => log.start("qemu" as DirtyLogOwner)).toThrow(InvalidArgumentError);
    expect(() => log.start("qemu" as DirtyLogOwner)).toThrow(
      /owner must be one of "migration", "dirty-rate", "dirty-limit", got "qemu"/,
    );
    expect(() => log.stop("qemu" as DirtyLogOwner)).toThrow(InvalidArgumentError);
    expect(log.logging).toBe(false);
  });

  it("dirtiedPages counts without taking: the next sync still returns every page", () => {
    const log = make();
    log.start("migration");
    log.start("dirty-rate");
    const first = log.dirtiedPages();
    expect(first).toBe(0);
    for (const p of [1, 2, 3, 40, 95]) store(log, p & 1, p);
    expect(log.dirtiedPages() - first).toBe(5);
    expect(synced(log)).toEqual(new Set([1, 2, 3, 40, 95]));
    // Synced pages still count; a page dirtied again after the sync counts again.
    store(log, 0, 2);
    expect(log.dirtiedPages() - first).toBe(6);
    log.stop("migration");
    log.stop("dirty-rate");
    log.start("dirty-rate");
    expect(log.dirtiedPages()).toBe(0);
  });

  it("property: logging is on exactly while some owner holds it; counts match a model", () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant("start" as const), o: fc.constantFrom(...DIRTY_LOG_OWNERS) }),
      fc.record({ t: fc.constant("stop" as const), o: fc.constantFrom(...DIRTY_LOG_OWNERS) }),
      fc.record({
        t: fc.constant("store" as const),
        v: fc.integer({ min: 0, max: 1 }),
        p: fc.integer({ min: 0, max: PAGES - 1 }),
      }),
      fc.record({ t: fc.constant("sync" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const log = make();
        const held = new Set<DirtyLogOwner>();
        let pending = new Set<number>();
        let dirtied = 0;
        for (const o of ops) {
          if (o.t === "start") {
            if (held.size === 0) {
              pending = new Set();
              dirtied = 0;
            }
            held.add(o.o);
            log.start(o.o);
          } else if (o.t === "stop") {
            held.delete(o.o);
            if (held.size === 0) {
              pending = new Set();
              dirtied = 0;
            }
            log.stop(o.o);
          } else if (o.t === "store") {
            if (held.size > 0 && !pending.has(o.p)) {
              pending.add(o.p);
              dirtied++;
            }
            store(log, o.v, o.p);
          } else {
            expect(synced(log)).toEqual(pending);
            pending = new Set();
          }
          expect(log.logging).toBe(held.size > 0);
          expect(log.owners).toEqual(DIRTY_LOG_OWNERS.filter((x) => held.has(x)));
          expect(log.dirtiedPages()).toBe(dirtied);
        }
      }),
      { numRuns: 200 },
    );
  });
});
