import { describe, expect, it } from "vitest";
import {
  createAddressSpace,
  createCpuThrottle,
  createVcpu,
  ExitReason,
  type Vcpu,
  type VcpuCore,
  type VcpuRun,
  VirtualScheduler,
} from "../src/index";

const MS = 1_000_000;

/**
 * A core that runs in steps of `stepNs` (1 = continuous, like the workload backend; 3 = an
 * instruction of a 333-MIPS interpreter) and records every stretch of guest time it ran.
 */
function recordingCore(stepNs: number): VcpuCore & { runs: Array<[number, number]> } {
  const runs: Array<[number, number]> = [];
  let done = 0;
  return {
    runs,
    run(run: VcpuRun, budgetNs: number): void {
      if (run.immediateExit) {
        run.exitReason = ExitReason.Kicked;
        run.consumedNs = 0;
        run.retired = 0;
        return;
      }
      const steps = Math.floor(budgetNs / stepNs);
      run.consumedNs = steps * stepNs;
      run.retired = steps;
      done += steps;
      run.exitReason = ExitReason.BudgetExhausted;
      if (steps > 0) {
        const last = runs[runs.length - 1];
        if (last !== undefined && last[1] === run.startNs) last[1] += run.consumedNs;
        else runs.push([run.startNs, run.startNs + run.consumedNs]);
      }
    },
    completeMmioRead() {},
    completeHypercall() {},
    setInterrupt() {},
    wantsWake: () => false,
    get workDone() {
      return done;
    },
    reset() {},
    saveState: () => ({ arch: "test" }),
    loadState() {},
  };
}

function rig(stepNs: number, sliceNs: number) {
  const s = new VirtualScheduler();
  const core = recordingCore(stepNs);
  const vcpu: Vcpu = createVcpu({
    index: 0,
    core,
    scheduler: s,
    memory: createAddressSpace(),
    sliceNs,
    host: {
      hypercall: () => 0,
      systemEvent: () => {},
      error: (_v, m) => {
        throw new Error(m);
      },
    },
  });
  return { s, core, vcpu };
}

describe("throttle timer preempts the slice (QEMU's cpu_throttle_timer_tick kicks the vCPU)", () => {
  it("50 % with 7 ms slices: sleeps start at the 20 ms ticks, not at slice boundaries", async () => {
    const { s, core, vcpu } = rig(1, 7 * MS);
    const t = createCpuThrottle([vcpu], s);
    t.set(50); // tick every 10 ms / (1 − 0.5) = 20 ms; sleep 0.5 / 0.5 × 10 ms = 10 ms
    vcpu.start();
    await s.run({ untilNs: 100 * MS });
    // Hand-computed: tick 0 → sleep [0, 10); run [10, 20) (slices 10–17, 17–20 cut by the
    // timer); tick 20 → sleep [20, 30); … Without preemption the sleep after the first run would
    // start at the slice boundary 24 ms.
    expect(core.runs).toEqual([
      [10 * MS, 20 * MS],
      [30 * MS, 40 * MS],
      [50 * MS, 60 * MS],
      [70 * MS, 80 * MS],
      [90 * MS, 100 * MS],
    ]);
    expect(t.sleeps).toBe(6); // the sixth, at 100 ms, has just begun

    expect(vcpu.stats().throttledNs).toBe(50 * MS);
    expect(vcpu.stats().runningNs).toBe(50 * MS);
  });

  it("20 % with 3 ms slices: the timer starts at activation, sleeps 2.5 ms every 12.5 ms", async () => {
    const { s, core, vcpu } = rig(1, 3 * MS);
    vcpu.start();
    await s.run({ untilNs: 4 * MS }); // unthrottled until 4 ms (the vCPU is at its slice end, 6 ms)
    const t = createCpuThrottle([vcpu], s);
    // QEMU arms the timer at activation (4 ms) and ticks every 10 / (1 − 0.2) = 12.5 ms; each
    // tick sleeps 0.2 / 0.8 × 10 = 2.5 ms. The vCPU is already at 6 ms (it runs up to a slice
    // ahead of the clock), so the first sleep is served late, [6, 8.5); the next ticks are on
    // time: 16.5, 29, 41.5 ms.
    t.set(20);
    await s.run({ untilNs: 50 * MS });
    expect(core.runs).toEqual([
      [0, 6 * MS],
      [8.5 * MS, 16.5 * MS],
      [19 * MS, 29 * MS],
      [31.5 * MS, 41.5 * MS],
      [44 * MS, 53 * MS],
    ]);
  });

  it("an instruction-stepped core stops within one step of the tick; the sleep starts at the tick", async () => {
    const { s, core, vcpu } = rig(3, 100_000);
    const t = createCpuThrottle([vcpu], s);
    t.set(50);
    vcpu.start();
    await s.run({ untilNs: 55 * MS });
    // From 10 ms in 3 ns steps the last step before 20 ms ends at 19,999,999 ns (1 ns short);
    // the sleep then runs [20 ms, 30 ms).
    expect(core.runs[0][0]).toBe(10 * MS);
    expect(20 * MS - core.runs[0][1]).toBeGreaterThanOrEqual(0);
    expect(20 * MS - core.runs[0][1]).toBeLessThan(3);
    expect(core.runs[1][0]).toBe(30 * MS);
    expect(40 * MS - core.runs[1][1]).toBeLessThan(3);
    expect(core.runs[2][0]).toBe(50 * MS);
  });

  it("stop ends the timer: the vCPU runs whole slices again", async () => {
    const { s, core, vcpu } = rig(1, 7 * MS);
    const t = createCpuThrottle([vcpu], s);
    t.set(50);
    vcpu.start();
    await s.run({ untilNs: 15 * MS });
    t.stop(); // at 15 ms, while the vCPU runs its slice [10, 17)
    await s.run({ untilNs: 40 * MS });
    expect(core.runs).toEqual([[10 * MS, 45 * MS]]);
  });
});
