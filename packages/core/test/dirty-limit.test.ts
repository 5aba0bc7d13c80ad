import { describe, expect, it } from "vitest";
import {
  adjustThrottleUs,
  DIRTYLIMIT_THROTTLE_PCT_MAX,
  createDirtyBitmap,
  dirtyLimitOf,
  dirtyRateMBps,
  composeMachine,
  VirtualScheduler,
  type CpuBackend,
  ExitReason,
} from "../src/index";
import { testBoard } from "./test-board";

describe("dirty-limit arithmetic (QEMU's dirtylimit.c)", () => {
  it("measures MB/s as QEMU does: pages → whole MiB, then × 1000 / period", () => {
    expect(dirtyRateMBps(256, 1000)).toBe(1);
    expect(dirtyRateMBps(255, 1000)).toBe(0);
    expect(dirtyRateMBps(256 * 10, 500)).toBe(20);
    expect(dirtyRateMBps(256 * 3, 7)).toBe(428);
  });

  it("leaves the sleep alone within 25 MB/s of the quota", () => {
    expect(adjustThrottleUs(1234, 1, 26, 1000)).toBe(1234);
    expect(adjustThrottleUs(1234, 100, 75, 1000)).toBe(1234);
  });

  it("adjusts linearly when far from the quota, by a tenth of the ring-full time otherwise", () => {
    // current 200, quota 50: sleep_pct = 75 → + 1000 × 75 / 25
    expect(adjustThrottleUs(0, 50, 200, 1000)).toBe(3000);
    // under quota: quota 200, current 50 → pct 75 → − 3000, clamped at 0
    expect(adjustThrottleUs(1000, 200, 50, 1000)).toBe(0);
    // |diff| × 100 / max = 33 ≤ 50: ± ring_full / 10
    expect(adjustThrottleUs(500, 100, 150, 1000)).toBe(600);
    expect(adjustThrottleUs(500, 150, 100, 1000)).toBe(400);
    // clamp at 99 ring-full times; no dirtying → no sleep
    expect(adjustThrottleUs(99_000, 1, 1000, 1000)).toBe(1000 * DIRTYLIMIT_THROTTLE_PCT_MAX);
    expect(adjustThrottleUs(5000, 100, 0, 1000)).toBe(0);
  });
});

/** A backend whose vCPU 0 dirties a new page every 10 µs; other vCPUs never write. */
function dirtier(): CpuBackend {
  return {
    name: "test-dirtier",
    workUnit: "operations",
    createVcpu(ctx) {
      const region = ctx.memory.ramRegions[0];
      let next = 0;
      let done = 0;
      return {
        get workDone() {
          return done;
        },
        run(run, budget) {
          if (run.immediateExit) {
            run.exitReason = ExitReason.Kicked;
            run.consumedNs = 0;
            return;
          }
          const dirty = region.dirty;
          let used = 0;
          run.exitReason = ExitReason.BudgetExhausted;
          while (used + 10_000 <= budget) {
            used += 10_000;
            done++;
            if (ctx.hartId !== 0 || !dirty.logging) continue;
            const page = next;
            next = (next + 1) % (region.size / 4096);
            if ((dirty.words[page >>> 5] & (1 << (page & 31))) === 0 && dirty.markVcpu(0, page)) {
              run.exitReason = ExitReason.DirtyRingFull;
              break;
            }
          }
          run.consumedNs = Math.max(
            used,
            run.exitReason === ExitReason.DirtyRingFull ? used : budget,
          );
        },
        completeMmioRead() {},
        completeHypercall() {},
        setInterrupt() {},
        wantsWake: () => false,
        reset() {},
        saveState: () => ({ arch: "test" }),
        loadState() {},
      };
    },
  };
}

describe("dirtyLimitOf (per-vCPU sleeping on ring-full exits)", () => {
  const make = (ring: boolean) => {
    const s = new VirtualScheduler();
    const m = composeMachine({
      board: testBoard,
      scheduler: s,
      cpu: dirtier(),
      vcpus: 2,
      memory: { size: 64 * 1024 * 1024, backend: "array" },
      sliceNs: 1_000_000,
      dirtyTracking: ring ? { kind: "ring", ringSize: 1024 } : { kind: "bitmap" },
    });
    return { s, m };
  };

  it("refuses a machine without a dirty ring with QEMU's message", () => {
    const { s, m } = make(false);
    expect(() => dirtyLimitOf(m, s)).toThrow(/accelerator property 'dirty-ring-size' set/);
  });

  it("holds the dirtying vCPU near its quota and never slows the other", async () => {
    const { s, m } = make(true);
    const d = dirtyLimitOf(m, s);
    expect(dirtyLimitOf(m, s)).toBe(d);
    m.start();
    // vCPU 0 dirties 100,000 pages/s = 390 MB/s
    expect(() => d.set(50, 2)).toThrow(/incorrect cpu index specified/);
    d.set(50);
    expect(d.inService).toBe(true);
    await s.run({ untilNs: 20e9 });
    expect(d.query().map((q) => q["cpu-index"])).toEqual([0, 1]);
    const rate0 = d.currentRate(0);
    expect(rate0).toBeGreaterThan(20);
    expect(rate0).toBeLessThanOrEqual(50 + 25);
    expect(d.currentRate(1)).toBe(0);
    expect(d.throttleUsPerFull(0)).toBeGreaterThan(0);
    expect(d.throttleUsPerFull(1)).toBe(0);
    expect(d.throttleTimePerRound()).toBe(d.throttleUsPerFull(0));
    expect(d.ringFullTime()).toBeGreaterThan(0);
    const st = m.vcpuStats();
    expect(st[0].throttledNs).toBeGreaterThan(5e9);
    expect(st[1].throttledNs).toBe(0);
    expect(Math.abs(d.vcpuSleptNs(0) - st[0].throttledNs)).toBeLessThan(1e6);
    d.cancel();
    expect(d.inService).toBe(false);
    expect(d.query()).toEqual([]);
    // The dirty limit was the log's only owner: tracking stops with it.
    expect(m.ram.dirty.logging).toBe(false);
    expect(m.ram.dirty.owners).toEqual([]);
    const before = m.vcpuStats()[0].throttledNs;
    await s.run({ untilNs: 22e9 });
    expect(m.vcpuStats()[0].throttledNs).toBe(before);
  });

  it("leaves the dirty log on for a migration holding it, and keeps its pending pages", async () => {
    const { s, m } = make(true);
    const d = dirtyLimitOf(m, s);
    m.start();
    d.set(50);
    await s.run({ untilNs: 1e9 });
    expect(m.ram.dirty.owners).toEqual(["dirty-limit"]);
    // A migration starts while the limit is in service: logging is already on, nothing is cleared.
    m.ram.dirty.start("migration");
    expect(m.ram.dirty.owners).toEqual(["migration", "dirty-limit"]);
    await s.run({ untilNs: 2e9 });
    d.cancel();
    expect(m.ram.dirty.logging).toBe(true);
    expect(m.ram.dirty.owners).toEqual(["migration"]);
    // The guest keeps dirtying pages and the migration's sync still gets them.
    const into = createDirtyBitmap(m.ram.dirty.pageCount);
    m.ram.dirty.sync(into);
    await s.run({ untilNs: 2.1e9 });
    expect(m.ram.dirty.sync(createDirtyBitmap(m.ram.dirty.pageCount))).toBeGreaterThan(0);
    m.ram.dirty.stop("migration");
    expect(m.ram.dirty.logging).toBe(false);
  });
});
