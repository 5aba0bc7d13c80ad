/**
 * XBZRLE on synthetic RAM: the version path (deltas computed from page versions) gives exactly
 * what encoding materialized pages gives — per page (a property test against `xbzrleEncode`) and
 * per migration (compact link + version path against the full byte path: identical `info()`,
 * including `xbzrle-cache`, and time series).
 */
import {
  createAddressSpace,
  createRamBackend,
  type Machine,
  PAGE_SIZE,
  type Scheduler,
  VirtualScheduler,
} from "@ferry/core";
import {
  createSyntheticRamBackend,
  createWorkloadMachine,
  SyntheticContent,
  SyntheticDiff,
  type SyntheticRamBackend,
} from "@ferry/sim";
import {
  createLink,
  createMigrationManager,
  incoming,
  type MigratableMachine,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPageCache, xbzrle, xbzrleEncode, xbzrleEncodeRuns } from "../src/index";

describe("xbzrleEncodeRuns from a synthetic version diff", () => {
  it("equals xbzrleEncode of the materialized pages (result and bytes)", () => {
    const oldPage = new Uint8Array(PAGE_SIZE);
    const newPage = new Uint8Array(PAGE_SIZE);
    const outA = new Uint8Array(PAGE_SIZE);
    const outB = new Uint8Array(PAGE_SIZE);
    const seen = { encoded: 0, overflow: 0, unchanged: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 2 ** 26 - 1 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 40 }),
        fc.oneof(fc.integer({ min: 1, max: 128 }), fc.integer({ min: 1, max: 1024 })),
        fc.integer({ min: 1, max: 16 }),
        fc.constantFrom(0, 0, 0, 0.3),
        fc.oneof(fc.constant(PAGE_SIZE), fc.integer({ min: 0, max: PAGE_SIZE })),
        (seed, page, c, k, bytesPerWrite, deltaWindow, zeroShare, limit) => {
          const p = { seed, bytesPerWrite, deltaWindow, zeroShare };
          const content = new SyntheticContent(p);
          const diff = new SyntheticDiff(p);
          const v = c + k;
          content.fillPage(page, c, oldPage, 0);
          content.fillPage(page, v, newPage, 0);
          const want = xbzrleEncode(oldPage, 0, newPage, 0, PAGE_SIZE, outA, 0, limit);
          const n = diff.diff(page, c, v);
          if (n < 0) {
            const dense = content.isZeroVersion(page, c) !== content.isZeroVersion(page, v);
            const tooMany = 2 * deltaWindow * Math.ceil(bytesPerWrite / 8) > diff.maxRuns;
            expect(dense || tooMany).toBe(true);
            return;
          }
          const got = xbzrleEncodeRuns(
            diff.starts,
            diff.ends,
            n,
            diff.newBytes,
            PAGE_SIZE,
            outB,
            0,
            limit,
          );
          expect(got).toBe(want);
          if (want > 0) {
            expect(Buffer.compare(outB.subarray(0, got), outA.subarray(0, want))).toBe(0);
            seen.encoded++;
          } else if (want < 0) seen.overflow++;
          else seen.unchanged++;
        },
      ),
      { numRuns: 800 },
    );
    // The generators reach every result.
    expect(seen.encoded).toBeGreaterThan(100);
    expect(seen.overflow).toBeGreaterThan(10);
    expect(seen.unchanged).toBeGreaterThan(0);
  });

  it("applies QEMU's overflow rules at their edges", () => {
    const starts = Int32Array.of(0);
    const ends = Int32Array.of(1);
    const bytes = new Uint8Array(16).fill(0xab);
    const out = new Uint8Array(16);
    // Byte 0 changed in a 16-byte page: body 00 01 ab, plus 2 spare bytes for the trailing zrun.
    expect(xbzrleEncodeRuns(starts, ends, 1, bytes, 16, out, 0, 5)).toBe(3);
    expect([...out.subarray(0, 3)]).toEqual([0, 1, 0xab]);
    expect(xbzrleEncodeRuns(starts, ends, 1, bytes, 16, out, 0, 4)).toBe(-1);
    // A change ending the page needs no spare bytes.
    expect(xbzrleEncodeRuns(Int32Array.of(15), Int32Array.of(16), 1, bytes, 16, out, 0, 3)).toBe(3);
    // No run: unchanged, or -1 when the limit is under 2 (QEMU checks before scanning).
    expect(xbzrleEncodeRuns(starts, ends, 0, bytes, 16, out, 0, 2)).toBe(0);
    expect(xbzrleEncodeRuns(starts, ends, 0, bytes, 16, out, 0, 1)).toBe(-1);
  });

  it("refuses malformed run lists and output windows", () => {
    const bytes = new Uint8Array(16);
    const out = new Uint8Array(16);
    expect(() =>
      xbzrleEncodeRuns(Int32Array.of(4, 5), Int32Array.of(5, 6), 2, bytes, 16, out, 0, 16),
    ).toThrow(/run 1: expected 5 < start < end ≤ 16, got \[5, 6\)/);
    expect(() =>
      xbzrleEncodeRuns(Int32Array.of(3), Int32Array.of(3), 1, bytes, 16, out, 0, 16),
    ).toThrow(/run 0/);
    expect(() =>
      xbzrleEncodeRuns(Int32Array.of(3), Int32Array.of(17), 1, bytes, 16, out, 0, 16),
    ).toThrow(/run 0/);
    expect(() =>
      xbzrleEncodeRuns(Int32Array.of(0), Int32Array.of(1), 1, bytes, 16, out, 8, 9),
    ).toThrow(/output: expected 9 bytes at offset 8 within a buffer of 16 bytes/);
    expect(() =>
      xbzrleEncodeRuns(Int32Array.of(0), Int32Array.of(1), 2, bytes, 16, out, 0, 16),
    ).toThrow(/count/);
  });
});

// ---- end to end ----

const MiB = 2 ** 20;
const RAM = 8 * MiB;
/** Content parameters: big writes and a wide window so that hot pages overflow. */
const CONTENT = { seed: 21, bytesPerWrite: 200, zeroShare: 0.05, deltaWindow: 8 } as const;

type SyntheticGuest = Machine & { readonly backend: SyntheticRamBackend };

function syntheticGuest(s: Scheduler): SyntheticGuest {
  const backend = createSyntheticRamBackend({ size: RAM, ...CONTENT });
  const m = createWorkloadMachine({
    scheduler: s,
    vcpus: 2,
    memory: { size: RAM, backend },
    workload: {
      seed: 4,
      writesPerSecond: 300,
      busyShare: 1,
      distribution: { kind: "hot-cold", hotBytes: MiB / 2, hotShare: 0.9, footprintBytes: 3 * MiB },
    },
  });
  return Object.assign(m, { backend });
}

/** A destination whose RAM is a plain array (the full byte path). */
function arrayDestination(): MigratableMachine & { bytes: Uint8Array } {
  const memory = createAddressSpace();
  const backend = createRamBackend("array", RAM);
  memory.addRam({ name: "ram", base: 0, size: RAM, backend });
  return {
    memory,
    vcpus: [],
    bytes: backend.bytes!,
    state: "created",
    pause() {},
    resume() {},
    saveState: () => ({}),
    loadState() {},
  };
}

async function migrate(compact: boolean, versionPath = true) {
  const s = new VirtualScheduler();
  const src = syntheticGuest(s);
  for (let p = 0; p < 512; p++) src.backend.setPageVersion(p, 1 + (p % 5));
  const dst = compact ? syntheticGuest(s) : arrayDestination();
  src.start();
  await s.run({ untilNs: 100e6 });
  const mgr = createMigrationManager({ plugins: [precopy(), xbzrle({ versionPath })] });
  mgr.setCapabilities({ xbzrle: true });
  mgr.setParameters({
    "max-bandwidth": 0,
    "downtime-limit": 200,
    // 64 slots for 2048 pages: shared slots, refused inserts, misses.
    "xbzrle-cache-size": 64 * PAGE_SIZE,
  });
  const link = createLink({ scheduler: s, bandwidth: MiB, latency: 1e6, compact });
  const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
  const m = mgr.migrate({ machine: src, transport: link.source });
  const image = new Uint8Array(RAM);
  let versions = new Uint32Array(0);
  m.events.on("complete", () => {
    src.backend.read(0, image);
    versions = src.backend.versions.slice();
  });
  await s.run({
    untilNs: s.now() + 60e9,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  const result = await inc.done;
  return { info: m.info(), series: m.series, result, dst, image, versions };
}

describe("XBZRLE migration of synthetic RAM", () => {
  it("compact link (version path) and full byte path give identical info() and series", async () => {
    // The reference: full byte path, every page materialized and encoded as bytes.
    const full = await migrate(false, false);
    const compact = await migrate(true);
    // Version path on the full byte path: real records, decoded into an array destination.
    const fullVersions = await migrate(false, true);
    expect(full.info.status).toBe("completed");
    expect(full.result.status).toBe("completed");
    expect(compact.result.status).toBe("completed");
    const x = full.info["xbzrle-cache"] as Record<string, number>;
    expect(x.pages).toBeGreaterThan(100);
    expect(x["cache-miss"]).toBeGreaterThan(0);
    expect(x.overflow).toBeGreaterThan(0);
    expect(x.bytes).toBeGreaterThan(0);
    expect(x.pages - x.overflow).toBeGreaterThan(50);
    expect(x["encoding-rate"]).toBeGreaterThan(1);
    expect(JSON.stringify(compact.info)).toBe(JSON.stringify(full.info));
    expect(JSON.stringify(compact.series)).toBe(JSON.stringify(full.series));
    expect(JSON.stringify(fullVersions.info)).toBe(JSON.stringify(full.info));
    expect(JSON.stringify(fullVersions.series)).toBe(JSON.stringify(full.series));
    const fvBytes = (fullVersions.dst as ReturnType<typeof arrayDestination>).bytes;
    expect(Buffer.compare(Buffer.from(fvBytes), Buffer.from(fullVersions.image))).toBe(0);
    // Both destinations hold the source's content at switchover.
    const dstBytes = (full.dst as ReturnType<typeof arrayDestination>).bytes;
    expect(Buffer.compare(Buffer.from(dstBytes), Buffer.from(full.image))).toBe(0);
    const dst = compact.dst as SyntheticGuest;
    expect(
      Buffer.compare(
        Buffer.from(dst.backend.versions.buffer),
        Buffer.from(compact.versions.buffer),
      ),
    ).toBe(0);
  });
});

describe("page cache holding versions", () => {
  it("keeps QEMU's slot and age rules and reports the version of a slot", () => {
    const cache = createPageCache(2 * PAGE_SIZE, PAGE_SIZE);
    expect(cache.insertVersion(4, 17, 1)).toBe(true);
    const off = cache.lookupOffset(4, 1);
    expect(off).toBe(0);
    expect(cache.versionAt(off)).toBe(17);
    expect(cache.store.length).toBe(0); // no byte store for versions
    // Page 6 shares slot 0: refused within CACHED_PAGE_LIFETIME generations, taken after.
    expect(cache.insertVersion(6, 3, 2)).toBe(false);
    expect(cache.insertVersion(6, 3, 3)).toBe(true);
    expect(cache.versionAt(cache.lookupOffset(6, 3))).toBe(3);
    // A byte insert into the slot turns it back into bytes.
    expect(cache.insert(6, new Uint8Array(PAGE_SIZE).fill(9), 3)).toBe(true);
    expect(cache.versionAt(0)).toBe(-1);
    expect(cache.lookup(6, 3)![0]).toBe(9);
    expect(() => cache.insertVersion(1, -1, 3)).toThrow(
      /expected a page version in 0..4294967295, got -1/,
    );
    expect(cache.counts()).toMatchObject({ slots: 2, used: 1, refused: 1 });
  });
});
