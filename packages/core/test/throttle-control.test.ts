/**
 * The machine's shared throttle: named sources, the strongest target in force (never the sum of
 * their sleeps), one control per vCPU set, invalid targets changing nothing — and, on a real
 * machine, a vCPU throttled by two sources does the work of the stronger one alone.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  composeMachine,
  createThrottleControl,
  type PreRunHook,
  type ThrottleableVcpu,
  throttleControlFor,
  VirtualScheduler,
} from "../src/index";
import { busyBackend } from "./busy-backend";
import { testBoard } from "./test-board";

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

describe("shared throttle control", () => {
  it("the strongest request is in force, whatever the order of requests (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 99 })), {
          maxLength: 30,
        }),
        (requests) => {
          const { hooks, vcpus } = fakeVcpus(1);
          const c = createThrottleControl(vcpus, () => 0);
          const want = new Map<string, number>();
          for (const [name, pct] of requests) {
            c.source(name).set(pct);
            want.set(name, pct);
            const max = Math.max(0, ...want.values());
            expect(c.percentage).toBe(max);
            expect(hooks[0] !== null).toBe(max > 0);
          }
        },
      ),
    );
  });

  it("a fixed target competes by its sleep share; a tie keeps the earlier source", () => {
    const { vcpus } = fakeVcpus(1);
    const c = createThrottleControl(vcpus, () => 0);
    c.source("rfc").setFixed(50e6, 25e6); // 67 %
    c.source("external").set(67);
    expect(c.target).toEqual({ kind: "fixed", sleepNs: 50e6, runNs: 25e6 });
    c.source("external").set(68);
    expect(c.target).toEqual({ kind: "percentage", pct: 68 });
    expect(() => c.source("external").set(120)).toThrow(/throttle percentage/);
    expect(c.target).toEqual({ kind: "percentage", pct: 68 });
  });

  it("one control per vCPU set", () => {
    const { vcpus } = fakeVcpus(2);
    expect(throttleControlFor(vcpus, () => 0)).toBe(throttleControlFor(vcpus, () => 1));
    expect(throttleControlFor(fakeVcpus(2).vcpus, () => 0)).not.toBe(
      throttleControlFor(vcpus, () => 0),
    );
  });

  it("on a machine, two sources at 30 % and 50 % slow the guest like 50 % alone", async () => {
    const work = async (pcts: number[]): Promise<number> => {
      const s = new VirtualScheduler();
      const m = composeMachine({
        board: testBoard,
        scheduler: s,
        cpu: busyBackend(),
        vcpus: 1,
        memory: { size: 1 << 20 },
      });
      const c = throttleControlFor(m.vcpus, s);
      for (const [i, p] of pcts.entries()) c.source(`s${i}`).set(p);
      m.start();
      await s.run({ untilNs: 1e9 });
      return m.vcpus[0].core!.workDone;
    };
    const both = await work([30, 50]);
    const strongest = await work([50]);
    expect(both).toBe(strongest);
    expect(both).toBeLessThan((await work([])) * 0.55);
  });
});
