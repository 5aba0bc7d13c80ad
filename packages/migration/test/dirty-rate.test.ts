import { PAGE_SIZE, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import {
  ConvergenceController,
  createDirtyRateEstimator,
  createLink,
  createMigrationManager,
  type DirtyRateEstimator,
  DirtyRateEstimatorToken,
  type FerryPlugin,
  isTerminalStatus,
  type MigrationStrategy,
  MigrationStrategy as StrategyToken,
  type OutgoingTransport,
  type SyncStats,
  TransportToken,
} from "../src/index";

const MS = 1_000_000;

const strategy: MigrationStrategy = {
  name: "tiny",
  async run(s) {
    s.setup();
    // Send everything, then let the guest run a few seconds so the ≥ 1 s dirty-rate periods
    // close with new dirty pages (pages not already pending).
    for (let i = 0; i < 5; i++) {
      s.beginRamPart();
      let n = 0;
      while (s.sendNextDirtyPage()) if ((++n & 63) === 0) await s.flow();
      s.endRamPart();
      await s.scheduler.sleep(700 * MS);
      s.syncDirtyLog();
    }
    s.syncDirtyLog();
    await s.complete();
  },
};

/** What each plugin's controller saw of the shared estimator at each sync. */
const seen: Record<string, Array<{ est: DirtyRateEstimator; rate: number; qemu: number }>> = {};
const transports: OutgoingTransport[] = [];

function watcher(name: string): FerryPlugin {
  return {
    name,
    capabilities: [],
    register(c) {
      if (name === "a") c.register(StrategyToken, { useValue: strategy });
      c.register(ConvergenceController, {
        useFactory: (child) => {
          const est = child.resolve(DirtyRateEstimatorToken);
          transports.push(child.resolve(TransportToken));
          seen[name] = [];
          return {
            name: `watch-${name}`,
            create: () => ({
              onSync: (st: SyncStats) => {
                seen[name]!.push({ est, rate: est.pagesPerSec, qemu: st.dirtyRate });
              },
              onEnd: () => {},
            }),
          };
        },
      });
    },
  };
}

describe("dirty-rate estimator service", () => {
  it("one estimator per migration, shared by every plugin, fed before the controllers", async () => {
    const s = new VirtualScheduler();
    const src = createMachine({
      scheduler: s,
      cpu: uniformDirtier({ writesPerSecond: 2000, footprintPages: 200, seed: 4 }),
      vcpus: 1,
      memory: { size: 1 << 20 },
    });
    src.start();
    const link = createLink({ scheduler: s, bandwidth: 0, latency: 0 });
    link.destination.receive({ data: () => {}, end: () => {}, error: () => {} });
    const m = createMigrationManager({ plugins: [watcher("a"), watcher("b")] }).migrate({
      machine: src,
      transport: link.source,
    });
    await s.run({ untilNs: 100_000 * MS, stopWhen: () => isTerminalStatus(m.status) });
    expect(m.status).toBe("completed");
    expect(seen.a![0]!.est).toBe(seen.b![0]!.est);
    expect(transports).toEqual([link.source, link.source]);
    // Fed before the controllers: each sync's estimate is QEMU's dirty-pages-rate of that sync.
    for (const x of [...seen.a!, ...seen.b!]) expect(x.rate).toBe(x.qemu);
    expect(seen.a!.some((x) => x.rate > 0)).toBe(true);
    const est = seen.a![0]!.est;
    expect(est.syncs).toBe(seen.a!.length);
    expect(est.bytesPerSec).toBe(est.pagesPerSec * PAGE_SIZE);
  });

  it("computes the last period's rate and the unthrottled rate", () => {
    const e = createDirtyRateEstimator();
    e.onSync({
      nowNs: 2e9,
      syncCount: 2,
      dirtyPagesPeriod: 500,
      dirtyBytesPeriod: 500 * PAGE_SIZE,
      bytesSentPeriod: 0,
      periodNs: 0.5e9,
      dirtyRate: 800,
      remainingBytes: 0,
    });
    expect(e.pagesPerSec).toBe(800);
    expect(e.lastPeriodPagesPerSec).toBe(1000);
    expect(e.unthrottledBytesPerSec(0.5)).toBe(1600 * PAGE_SIZE);
    expect(e.unthrottledBytesPerSec(0)).toBe(800 * PAGE_SIZE);
  });
});
