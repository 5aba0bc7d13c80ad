/**
 * Auto-converge under operator control: throttle parameters changed during a migration take
 * effect from the next throttle step, and an external throttle (core's shared throttle, source
 * `external`) coexists with auto-converge: the stronger one is in force.
 */
import { type PreRunHook, type ThrottleableVcpu, throttleControlFor } from "@ferry/core";
import type { MigrationContext } from "@ferry/migration";
import { describe, expect, it } from "vitest";
import { autoConvergeController, autoConvergeParameters } from "../src/index";
import { feed } from "./sample";

function fakeVcpus(n: number) {
  const hooks: Array<PreRunHook | null> = new Array(n).fill(null);
  const vcpus: ThrottleableVcpu[] = hooks.map((_, i) => ({
    addPreRunHook(h: PreRunHook) {
      hooks[i] = h;
      return () => {
        hooks[i] = null;
      };
    },
    kick: () => {},
  }));
  return { hooks, vcpus };
}

/** A context whose parameters change like the migration thread's (a new object per change). */
function context(vcpus: readonly ThrottleableVcpu[], clock: { now: number }) {
  const ctx = {
    machine: { vcpus, state: "running" },
    scheduler: { now: () => clock.now },
    blocks: [],
    capabilities: { "auto-converge": true },
    parameters: autoConvergeParameters.parse({}) as Readonly<Record<string, unknown>>,
  };
  return ctx;
}

describe("auto-converge with live parameters", () => {
  it("uses a new cpu-throttle-increment and max-cpu-throttle from the next step", () => {
    const { vcpus } = fakeVcpus(1);
    const clock = { now: 0 };
    const ctx = context(vcpus, clock);
    const inst = autoConvergeController.create(ctx as unknown as MigrationContext);
    const sync = feed();
    const step = (): number => {
      const s = sync(1000, 900, 1000); // dirty 90 % of sent: every period is high
      clock.now = s.nowNs;
      inst.onSync({ ...s, syncCount: 1, dirtyPagesPeriod: 0, dirtyRate: 0, remainingBytes: 0 });
      const st = inst.stats?.() ?? {};
      return (st["cpu-throttle-percentage"] as number | undefined) ?? 0;
    };
    step();
    expect(step()).toBe(20); // 2nd high period: initial
    step();
    expect(step()).toBe(30); // +10
    const change = { "cpu-throttle-increment": 25, "max-cpu-throttle": 70 };
    ctx.parameters = { ...ctx.parameters, ...change };
    inst.onParameters?.(change);
    step();
    expect(step()).toBe(55); // +25
    step();
    expect(step()).toBe(70); // capped by the new max
    inst.onEnd("cancelled");
  });

  it("an external throttle and auto-converge: the stronger is in force, each survives the other", () => {
    const { hooks, vcpus } = fakeVcpus(2);
    const clock = { now: 0 };
    const control = throttleControlFor(vcpus, () => clock.now);
    const external = control.source("external");
    external.set(40);
    expect(control.percentage).toBe(40);
    expect(hooks[0]).not.toBeNull();
    const ctx = context(vcpus, clock);
    const inst = autoConvergeController.create(ctx as unknown as MigrationContext);
    const sync = feed();
    const step = () => {
      const s = sync(1000, 900, 1000);
      clock.now = s.nowNs;
      inst.onSync({ ...s, syncCount: 1, dirtyPagesPeriod: 0, dirtyRate: 0, remainingBytes: 0 });
    };
    step();
    step(); // auto-converge asks for 20 %: the external 40 % stays in force
    expect(control.percentage).toBe(40);
    expect(control.sources()).toEqual([
      { name: "external", target: { kind: "percentage", pct: 40 } },
      { name: "auto-converge", target: { kind: "percentage", pct: 20 } },
    ]);
    for (let i = 0; i < 6; i++) step(); // 30, 40, 50
    expect(control.percentage).toBe(50);
    inst.onEnd("completed"); // auto-converge lets go: the external throttle remains
    expect(control.percentage).toBe(40);
    expect(hooks[0]).not.toBeNull();
    external.set(0);
    expect(control.percentage).toBe(0);
    expect(hooks).toEqual([null, null]);
    expect(() => external.set(100)).toThrow(/throttle percentage/);
    expect(control.percentage).toBe(0);
  });
});
