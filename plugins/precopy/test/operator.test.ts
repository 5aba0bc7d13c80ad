/**
 * Operator control of a running pre-copy migration (issue 13 part 4): live migrate-set-parameters,
 * pause-before-switchover with migrate-continue, migrate_cancel in every state, and the scripted
 * operator timeline — on two machines of one VirtualScheduler over a virtual link.
 */
import { createHash } from "node:crypto";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  type AppliedAction,
  createLink,
  createMigrationManager,
  incoming,
  type Migration,
  MigrationConfigError,
  type OperatorAction,
  runOperatorActions,
} from "@ferry/migration";
import { uniformDirtier, type UniformDirtierOptions } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import { precopy } from "../src/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;
const S = 1_000_000_000;

function machine(s: VirtualScheduler, o: UniformDirtierOptions, ramMiB: number): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier(o),
    vcpus: 2,
    memory: { size: ramMiB * MiB },
  });
}
const ramHash = (m: Machine): string =>
  createHash("sha256").update(m.ram.backend.bytes!).digest("hex");
const ended = (m: Migration): boolean =>
  m.status === "completed" || m.status === "failed" || m.status === "cancelled";

interface Pair {
  s: VirtualScheduler;
  src: Machine;
  dst: Machine;
  m: Migration;
  states: string[];
  mgr: ReturnType<typeof createMigrationManager>;
}

/** Start a migration of a guest dirtying `footprintPages` pages after 50 ms of running. */
async function start(opts: {
  ramMiB?: number;
  dirty?: UniformDirtierOptions;
  caps?: Record<string, boolean>;
  params?: Record<string, unknown>;
  bandwidth?: number;
}): Promise<Pair> {
  const s = new VirtualScheduler();
  const dirty = opts.dirty ?? { writesPerSecond: 20_000, footprintPages: 200, seed: 7 };
  const src = machine(s, dirty, opts.ramMiB ?? 4);
  const dst = machine(s, dirty, opts.ramMiB ?? 4);
  src.start();
  await s.run({ untilNs: 50 * MS });
  const link = createLink({
    scheduler: s,
    bandwidth: opts.bandwidth ?? 100 * MiB,
    latency: 1 * MS,
  });
  const mgr = createMigrationManager({ plugins: [precopy()] });
  mgr.setCapabilities(opts.caps ?? {});
  mgr.setParameters(opts.params ?? {});
  incoming({ machine: dst, transport: link.destination });
  const m = mgr.migrate({ machine: src, transport: link.source });
  const states: string[] = [];
  m.events.on("state", (st) => states.push(st));
  return { s, src, dst, m, states, mgr };
}

/** The source keeps running after a failed or cancelled migration: its vCPUs do more work. */
async function expectSourceRunning(p: Pair): Promise<void> {
  expect(p.src.state).toBe("running");
  const before = ramHash(p.src);
  await p.s.run({ untilNs: p.s.now() + 20 * MS });
  expect(ramHash(p.src)).not.toBe(before);
}

/** A guest dirtying all of its 16 MiB much faster than 32 MiB/s: it never converges. */
const busy = { ramMiB: 16, dirty: { writesPerSecond: 50_000, seed: 3 } };

describe("live migrate-set-parameters", () => {
  it("max-bandwidth changes the transfer rate from that moment; byte-identical across runs", async () => {
    const run = async () => {
      const p = await start({ ...busy, params: { "max-bandwidth": 8 * MiB } });
      const actions: OperatorAction[] = [
        {
          trigger: { atNs: 1 * S },
          command: { kind: "set", parameters: { "max-bandwidth": 32 * MiB } },
        },
      ];
      const t = runOperatorActions({ migration: p.m, scheduler: p.s, actions });
      const t0 = p.s.now();
      const at: number[] = [];
      for (const x of [0.5, 1, 1.5, 2]) {
        await p.s.run({ untilNs: t0 + x * S });
        at.push(p.m.info().ram?.transferred ?? 0);
      }
      const rate1 = (2 * (at[1] - at[0])) / MiB;
      const rate2 = (2 * (at[3] - at[2])) / MiB;
      const applied = [...t.applied];
      const info = p.m.info();
      p.m.cancel();
      await p.s.run({ untilNs: p.s.now() + S, stopWhen: () => ended(p.m) });
      return { rate1, rate2, applied, info, series: p.m.series, params: p.m.parameters };
    };
    const a = await run();
    // QEMU's limiter ends a window on the first flush (32 raw pages) past the allowance, so the
    // rate is a little above the cap: up to 128 KiB per 100 ms window.
    expect(a.rate1).toBeGreaterThanOrEqual(8);
    expect(a.rate1).toBeLessThan(8 + 1.3);
    expect(a.rate2).toBeGreaterThanOrEqual(32);
    expect(a.rate2).toBeLessThan(32 + 1.3);
    expect(a.applied).toEqual<AppliedAction[]>([
      {
        index: 0,
        atNs: 1 * S,
        pass: a.applied[0].pass,
        status: "active",
        kind: "set",
        value: { "max-bandwidth": 32 * MiB },
        result: "ok",
      },
    ]);
    expect(a.params["max-bandwidth"]).toBe(32 * MiB);
    const b = await run();
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("downtime-limit raised mid-migration lets a non-converging migration complete", async () => {
    const p = await start({ ...busy, params: { "max-bandwidth": 32 * MiB, "downtime-limit": 10 } });
    await p.s.run({ untilNs: p.s.now() + 2 * S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("active");
    p.mgr.setParameters({ "downtime-limit": 2000 });
    expect(p.mgr.queryParameters()["downtime-limit"]).toBe(2000);
    expect(p.m.parameters["downtime-limit"]).toBe(2000);
    await p.s.run({ untilNs: p.s.now() + 5 * S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("completed");
  });

  it("a refused change changes nothing, and the migration goes on", async () => {
    const p = await start({ ...busy, params: { "max-bandwidth": 32 * MiB } });
    await p.s.run({ untilNs: p.s.now() + 500 * MS });
    expect(() => p.m.setParameters({ "max-bandwidth": 1, "downtime-limit": -1 })).toThrow(
      MigrationConfigError,
    );
    expect(() => p.mgr.setParameters({ "no-such": 1 })).toThrow(/unknown parameter/);
    expect(p.m.parameters["max-bandwidth"]).toBe(32 * MiB);
    expect(p.mgr.queryParameters()["max-bandwidth"]).toBe(32 * MiB);
    expect(p.m.status).toBe("active");
    p.m.cancel();
  });
});

describe("pause-before-switchover and migrate-continue", () => {
  it("stops the source in pre-switchover until continued, then completes with equal RAM", async () => {
    const p = await start({ caps: { "pause-before-switchover": true } });
    let pausedAt = -1;
    p.m.events.on("state", (st) => {
      if (st === "pre-switchover") pausedAt = p.s.now();
    });
    await p.s.run({ untilNs: p.s.now() + 10 * S, stopWhen: () => p.m.status === "pre-switchover" });
    expect(p.m.status).toBe("pre-switchover");
    expect(p.src.state).toBe("paused");
    expect(() => p.m.continueFrom("active")).toThrow(
      "Migration not in expected state: pre-switchover",
    );
    // nothing moves while it waits: no timer of the migration runs
    const hash = ramHash(p.src);
    await p.s.run({ untilNs: p.s.now() + 300 * MS });
    expect(p.m.status).toBe("pre-switchover");
    expect(ramHash(p.src)).toBe(hash);
    p.m.continueFrom("pre-switchover");
    expect(() => p.m.continueFrom("pre-switchover")).toThrow(/not in expected state/);
    await p.s.run({ untilNs: p.s.now() + 10 * S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("completed");
    expect(p.states).toEqual(["setup", "active", "pre-switchover", "device", "completed"]);
    expect(ramHash(p.dst)).not.toBe("");
    // downtime runs from the stop, so it includes the 300 ms pause (QEMU's downtime_start)
    expect(p.m.info().downtime!).toBeGreaterThanOrEqual(300);
    expect(pausedAt).toBeGreaterThan(0);
    expect(p.dst.state).toBe("running");
  });

  it("continue outside pre-switchover is refused with QEMU's message", async () => {
    const p = await start({});
    await p.s.run({ untilNs: p.s.now() + 1 * MS });
    expect(() => p.m.continueFrom("pre-switchover")).toThrow(
      `Migration not in expected state: ${p.m.status}`,
    );
    p.m.cancel();
  });
});

describe("migrate_cancel in every state leaves the source running", () => {
  it("none: cancelled before the thread starts", async () => {
    const p = await start({});
    p.m.cancel();
    await p.s.run({ untilNs: p.s.now() + S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("cancelled");
    await expectSourceRunning(p);
  });

  it("setup: cancelled from the setup state's listener", async () => {
    const s0 = await start({});
    s0.m.cancel();
    const p = await start({});
    p.m.events.on("state", (st) => {
      if (st === "setup") p.m.cancel();
    });
    await p.s.run({ untilNs: p.s.now() + S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("cancelled");
    expect(p.states).toEqual(["setup", "cancelling", "cancelled"]);
    await expectSourceRunning(p);
  });

  it("active: cancelled mid-iteration", async () => {
    const p = await start({ ...busy, params: { "max-bandwidth": 32 * MiB } });
    await p.s.run({ untilNs: p.s.now() + 700 * MS });
    expect(p.m.status).toBe("active");
    p.m.cancel();
    await p.s.run({ untilNs: p.s.now() + S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("cancelled");
    expect(p.states).toEqual(["setup", "active", "cancelling", "cancelled"]);
    await expectSourceRunning(p);
  });

  it("pre-switchover: the paused source resumes", async () => {
    const p = await start({ caps: { "pause-before-switchover": true } });
    await p.s.run({ untilNs: p.s.now() + 10 * S, stopWhen: () => p.m.status === "pre-switchover" });
    expect(p.src.state).toBe("paused");
    p.m.cancel();
    await p.s.run({ untilNs: p.s.now() + S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("cancelled");
    expect(p.states).toEqual(["setup", "active", "pre-switchover", "cancelling", "cancelled"]);
    expect(p.dst.state).toBe("created");
    await expectSourceRunning(p);
  });

  it("device: cancelled during the switchover's final send", async () => {
    const p = await start({
      ramMiB: 8,
      dirty: { writesPerSecond: 200_000, seed: 5 },
      params: { "downtime-limit": 2000 },
    });
    p.m.events.on("state", (st) => {
      if (st === "device") p.s.after(1000, () => p.m.cancel());
    });
    await p.s.run({ untilNs: p.s.now() + 10 * S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("cancelled");
    expect(p.states.slice(-3)).toEqual(["device", "cancelling", "cancelled"]);
    expect(p.dst.state).toBe("created");
    await expectSourceRunning(p);
  });
});

describe("operator timeline", () => {
  it("continue and cancel at times and passes; refusals are recorded, not thrown", async () => {
    const p = await start({ caps: { "pause-before-switchover": true } });
    const t = runOperatorActions({
      migration: p.m,
      scheduler: p.s,
      actions: [
        { trigger: { pass: 2 }, command: { kind: "continue" } },
        { trigger: { atNs: 5 * S }, command: { kind: "continue" } },
        { trigger: { atNs: 9 * S }, command: { kind: "cancel" } },
      ],
    });
    await p.s.run({ untilNs: p.s.now() + 20 * S, stopWhen: () => ended(p.m) });
    expect(p.m.status).toBe("completed");
    expect(t.applied.map((a) => [a.kind, a.status, a.result])).toEqual([
      ["continue", "active", "error"],
      ["continue", "pre-switchover", "ok"],
    ]);
    expect(t.applied[0].error).toBe("Migration not in expected state: active");
    expect(t.applied[1].atNs).toBe(5 * S);
  });
});
