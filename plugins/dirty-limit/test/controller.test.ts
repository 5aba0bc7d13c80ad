import { VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import type { MigrationContext, SyncStats } from "@ferry/migration";
import { workloadBackend } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import { createDirtyLimitInstance, createTrigger, readSettings } from "../src/index";

const S = 1e9;

function sync(nowNs: number, dirty: number, sent: number, periodNs = S): SyncStats {
  return {
    nowNs,
    syncCount: 1,
    dirtyPagesPeriod: dirty / 4096,
    dirtyBytesPeriod: dirty,
    bytesSentPeriod: sent,
    periodNs,
    dirtyRate: 0,
    remainingBytes: 0,
  };
}

describe("dirty-limit trigger (QEMU's migration_trigger_throttle)", () => {
  it("fires on the 2nd high ≥ 1 s period since the last action; low periods do not reset", () => {
    const t = createTrigger(50);
    expect(t.onSync(sync(0.5 * S, 100, 100, 0.5 * S))).toBe(false); // < 1 s: accumulates
    expect(t.onSync(sync(1 * S, 100, 100, 0.5 * S))).toBe(false); // high #1 (200 > 100)
    expect(t.onSync(sync(2 * S, 10, 100))).toBe(false); // low
    expect(t.onSync(sync(3 * S, 100, 100))).toBe(true); // high #2
    expect(t.onSync(sync(4 * S, 100, 100))).toBe(false);
    expect(t.onSync(sync(5 * S, 100, 100))).toBe(true);
    expect([t.evaluations, t.highPeriods, t.triggers]).toEqual([5, 4, 2]);
  });

  it("reads QEMU's defaults and ranges", () => {
    expect(readSettings({})).toEqual({ limit: 1, periodMs: 1000, triggerThreshold: 50 });
    expect(() => readSettings({ "vcpu-dirty-limit": 0 })).toThrow(/vcpu-dirty-limit/);
    expect(() => readSettings({ "x-vcpu-dirty-limit-period": 0 })).toThrow(/1 to 1000/);
    expect(() => readSettings({ "throttle-trigger-threshold": 101 })).toThrow(/1 to 100/);
  });
});

describe("the controller instance", () => {
  it("limits every vCPU when triggered, applies live vcpu-dirty-limit changes, cancels at the end", () => {
    const s = new VirtualScheduler();
    const machine = createMachine({
      scheduler: s,
      cpu: workloadBackend({
        seed: 1,
        writesPerSecond: 1000,
        busyShare: 1,
        distribution: { kind: "uniform" },
      }),
      vcpus: 2,
      memory: { size: 4 << 20, backend: "array" },
      dirtyTracking: { kind: "ring", ringSize: 64 },
    });
    const ctx: MigrationContext = {
      machine,
      scheduler: s,
      blocks: machine.memory.ramRegions,
      capabilities: { "dirty-limit": true },
      parameters: { "vcpu-dirty-limit": 5, "x-vcpu-dirty-limit-period": 200 },
    };
    const inst = createDirtyLimitInstance(ctx);
    expect(inst.limit.periodMs).toBe(200);
    inst.onSync(sync(1 * S, 100, 100));
    expect(inst.limit.inService).toBe(false);
    inst.onSync(sync(2 * S, 100, 100));
    expect(inst.limit.inService).toBe(true);
    expect(inst.limit.query().map((q) => q["limit-rate"])).toEqual([5, 5]);
    expect(inst.limit.migrationOwned).toBe(true);
    inst.onParameters({ "vcpu-dirty-limit": 50, "x-vcpu-dirty-limit-period": 500 });
    expect(inst.limit.query().map((q) => q["limit-rate"])).toEqual([50, 50]);
    expect(inst.limit.periodMs).toBe(500);
    expect(inst.stats()["dirty-limit-throttle-time-per-round"]).toBe(0);
    inst.onEnd("completed");
    expect(inst.limit.inService).toBe(false);
    expect(inst.limit.migrationOwned).toBe(false);
    expect(inst.limit.periodMs).toBe(1000);
    expect(inst.stats()["dirty-limit-throttle-time-per-round"]).toBeUndefined();
  });
});
