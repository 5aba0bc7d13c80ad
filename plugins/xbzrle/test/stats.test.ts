import { describe, expect, it } from "vitest";
import { createXbzrleStats, xbzrleStatsToQmp } from "../src/codec";

describe("XbzrleStats", () => {
  it("counts with QEMU's semantics", () => {
    const s = createXbzrleStats(64 * 1024 * 1024, 4096);
    s.recordCacheMiss();
    s.recordCacheMiss();
    s.recordUnchanged(); // pages++ only
    s.recordOverflow(); // pages++, overflow++, bytes += 4096
    s.recordEncoded(100); // pages++, bytes += 8 + 3 + 100 - 8
    s.recordEncoded(10, 8 + 1 + 4); // first page of a block: header carries the block id
    expect(s.snapshot()).toEqual({
      cacheSize: 64 * 1024 * 1024,
      bytes: 4096 + 103 + 18,
      pages: 4,
      cacheMiss: 2,
      cacheMissRate: 0,
      encodingRate: 0,
      overflow: 1,
    });
  });

  it("computes the rates per period from deltas", () => {
    const s = createXbzrleStats(1 << 20, 4096);
    for (let i = 0; i < 5; i++) s.recordCacheMiss();
    for (let i = 0; i < 4; i++) s.recordEncoded(1021); // 4 × 1024 bytes
    s.endPeriod(10);
    let snap = s.snapshot();
    expect(snap.cacheMissRate).toBeCloseTo(0.5);
    expect(snap.encodingRate).toBeCloseTo((4 * 4096) / (4 * 1024));
    // Next period: only misses, no xbzrle pages -> encoding rate 0.
    s.recordCacheMiss();
    s.endPeriod(4);
    snap = s.snapshot();
    expect(snap.cacheMissRate).toBeCloseTo(0.25);
    expect(snap.encodingRate).toBe(0);
    // A period with no pages transferred leaves the rates alone (QEMU returns early).
    s.endPeriod(0);
    expect(s.snapshot().cacheMissRate).toBeCloseTo(0.25);
    // Only unchanged (skipped) pages: bytes delta 0 -> encoding rate 0.
    s.recordUnchanged();
    s.endPeriod(1);
    expect(s.snapshot().encodingRate).toBe(0);
    expect(s.snapshot().cacheMissRate).toBe(0);
  });

  it("maps to QMP names and tracks cache-size changes", () => {
    const s = createXbzrleStats(4096, 4096);
    s.setCacheSize(8192);
    s.recordOverflow();
    expect(xbzrleStatsToQmp(s.snapshot())).toEqual({
      "cache-size": 8192,
      bytes: 4096,
      pages: 1,
      "cache-miss": 0,
      "cache-miss-rate": 0,
      "encoding-rate": 0,
      overflow: 1,
    });
  });
});
