/**
 * Series declared by parts: collected per migration (controllers and sections), sampled on
 * demand, keys unique, values checked against the declaration; sampling changes nothing.
 */
import { VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import {
  ConvergenceController,
  type ConvergenceInstance,
  createLink,
  createMigrationManager,
  declaredSeriesOf,
  type FerryPlugin,
  isTerminalStatus,
  MigrationError,
  MigrationSection,
  type MigrationStrategy,
  MigrationStrategy as StrategyToken,
  type SeriesDef,
} from "../src/index";

const MS = 1_000_000;

const strategy: MigrationStrategy = {
  name: "tiny",
  async run(s) {
    s.setup();
    for (let pass = 0; pass < 3; pass++) {
      s.beginRamPart();
      let n = 0;
      while (s.sendNextDirtyPage()) if ((++n & 63) === 0) await s.flow();
      s.endRamPart();
      s.syncDirtyLog();
    }
    await s.complete();
  },
};

const SYNCS: SeriesDef = { key: "test-syncs", label: "syncs seen", unit: "syncs" };
const LIMITS: SeriesDef = {
  key: "test-vcpu-limit",
  label: "limit",
  unit: "MB/s",
  perVcpu: true,
};
const SECTION_BYTES: SeriesDef = {
  key: "test-section-bytes",
  label: "section bytes",
  unit: "bytes",
  kind: "counter",
};

/** A controller counting syncs and holding a per-vCPU limit; a section counting its bytes. */
function plugin(syncKey = SYNCS.key): FerryPlugin {
  return {
    name: "series-test",
    capabilities: [],
    register(c) {
      c.register(StrategyToken, { useValue: strategy });
      c.register(ConvergenceController, {
        useValue: {
          name: "counting",
          create(ctx): ConvergenceInstance {
            let syncs = 0;
            return {
              onSync: () => {
                syncs++;
              },
              onEnd: () => {},
              series: [{ ...SYNCS, key: syncKey }, LIMITS],
              seriesValues: () => ({
                [syncKey]: syncs,
                [LIMITS.key]: ctx.machine.vcpus.map((_, i) => (i + 1) * syncs),
              }),
            };
          },
        },
      });
      c.register(MigrationSection, {
        useValue: {
          name: "tiny-section",
          create() {
            let sent = 0;
            return {
              idstr: "tiny",
              version: 1,
              complete() {
                sent += 3;
                return new Uint8Array(3);
              },
              series: [SECTION_BYTES],
              seriesValues: () => ({ [SECTION_BYTES.key]: sent }),
            };
          },
        },
      });
    },
  };
}

async function migrate(plugins: FerryPlugin[], sample: boolean) {
  const s = new VirtualScheduler();
  const src = createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 2000, seed: 3 }),
    vcpus: 2,
    memory: { size: 1 << 20 },
  });
  src.start();
  await s.run({ untilNs: 50 * MS });
  const mgr = createMigrationManager({ plugins });
  const link = createLink({ scheduler: s, bandwidth: 4 << 20, latency: MS });
  link.destination.receive({ data: () => {}, end: () => {}, error: () => {} });
  const m = mgr.migrate({ machine: src, transport: link.source });
  const samples: Record<string, unknown>[] = [];
  if (sample) {
    m.events.on("sync", () => samples.push(m.sampleSeries()));
    // and between syncs, from a timer on the same clock
    const tick = (): void => {
      samples.push(m.sampleSeries());
      if (!isTerminalStatus(m.status)) s.at(s.now() + 3 * MS, tick);
    };
    s.at(s.now() + MS, tick);
  }
  await s.run({ untilNs: s.now() + 5000 * MS, stopWhen: () => isTerminalStatus(m.status) });
  return { m, samples };
}

describe("declared series", () => {
  it("a migration lists its parts' series and samples them by key", async () => {
    const { m, samples } = await migrate([plugin()], true);
    expect(m.status).toBe("completed");
    expect(m.declaredSeries).toEqual([SYNCS, LIMITS, SECTION_BYTES]);
    const syncs = m.info().ram!["dirty-sync-count"];
    expect(m.sampleSeries()).toEqual({
      "test-syncs": syncs,
      "test-vcpu-limit": [syncs, 2 * syncs],
      "test-section-bytes": 3,
    });
    expect(samples.length).toBeGreaterThan(syncs);
  });

  it("sampling changes nothing: statistics and the time series are identical without it", async () => {
    const a = await migrate([plugin()], true);
    const b = await migrate([plugin()], false);
    expect(JSON.stringify(a.m.info())).toBe(JSON.stringify(b.m.info()));
    expect(a.m.series).toEqual(b.m.series);
    expect(a.m.timings()).toEqual(b.m.timings());
  });

  it("a key declared twice or malformed refuses the migration", async () => {
    // the controller's counter key equals the section's
    await expect(migrate([plugin(SECTION_BYTES.key)], false)).rejects.toThrow(
      /"test-section-bytes" is declared twice/,
    );
    expect(() =>
      declaredSeriesOf([
        { series: [{ key: "Bad Key", label: "x", unit: "" }], seriesValues: () => ({}) },
      ]),
    ).toThrow(MigrationError);
  });

  it("values that do not fit the declaration are left out; arrays are copied", () => {
    const limits = [1, 2];
    const set = declaredSeriesOf([
      { series: [SYNCS, LIMITS], seriesValues: () => ({ [SYNCS.key]: [1], [LIMITS.key]: limits }) },
      { series: [SECTION_BYTES] }, // no seriesValues: declares nothing
    ]);
    expect(set.defs).toEqual([SYNCS, LIMITS]);
    const v = set.sample();
    expect(v).toEqual({ [LIMITS.key]: [1, 2] });
    expect(v[LIMITS.key]).not.toBe(limits);
  });
});
