import { describe, expect, it } from "vitest";
import {
  InterruptLine,
  VirtualScheduler,
  createAddressSpace,
  createRamBackend,
  createVcpu,
  type MmioDevice,
  type Vcpu,
  type VcpuHost,
} from "../src/index";
import { OP_NS, ScriptCore, type ScriptOp } from "./script-backend";

const DEV = 0x1000;

function setup(program: ScriptOp[], sliceNs = 10_000, onWrite?: () => void) {
  const scheduler = new VirtualScheduler();
  const memory = createAddressSpace();
  memory.addRam({
    name: "ram",
    base: 0x8000_0000,
    size: 65536,
    backend: createRamBackend("array", 65536),
  });
  const accesses: string[] = [];
  const device: MmioDevice = {
    id: "dev",
    read: (off, size, a) => {
      accesses.push(`r ${off} ${size} hart${a.hartId} @${a.nowNs}`);
      return 0xabc;
    },
    write: (off, size, v, a) => {
      accesses.push(`w ${off} ${size} ${v} @${a.nowNs}`);
      onWrite?.();
    },
    saveState: () => ({}),
    loadState: () => {},
  };
  memory.addMmio({ name: "dev", base: DEV, size: 0x100, device });
  const core = new ScriptCore(0, program, memory);
  const errors: string[] = [];
  const host: VcpuHost = {
    hypercall: () => -38,
    systemEvent: () => {},
    error: (_v, m) => errors.push(m),
  };
  const vcpu: Vcpu = createVcpu({ index: 0, core, scheduler, memory, sliceNs, host });
  return { scheduler, core, vcpu, accesses, errors };
}

describe("vCPU loop", () => {
  it("routes MMIO with the time of the access and answers reads", () => {
    const { scheduler, vcpu, core, accesses } = setup([
      { op: "work", ns: 1000 },
      { op: "store", addr: DEV + 4, value: 77, size: 2 },
      { op: "load", addr: DEV + 8, size: 1 },
    ]);
    vcpu.start();
    scheduler.runSync({ untilNs: 100_000 });
    expect(accesses).toEqual([`w 4 2 77 @${1000 + OP_NS}`, `r 8 1 hart0 @${1000 + 2 * OP_NS}`]);
    expect(core.observed).toEqual([{ pc: 2, value: 0xabc, atNs: 1000 + 2 * OP_NS }]);
  });

  it("runs slices of sliceNs and reschedules at start + consumed", () => {
    const { scheduler, vcpu } = setup([{ op: "work", ns: 1e9 }], 10_000);
    vcpu.start();
    const out = scheduler.runSync({ untilNs: 95_000 });
    expect(out.eventsFired).toBe(10); // slices at 0, 10k, …, 90k
    expect(vcpu.stats()).toMatchObject({
      runningNs: 100_000,
      slices: 10,
      throttledNs: 0,
      haltedNs: 0,
    });
  });

  it("halts on WFI until an interrupt is raised, counting halted time", () => {
    const { scheduler, vcpu, core } = setup([{ op: "wfi" }, { op: "load", addr: 0x8000_0000 }]);
    vcpu.start();
    scheduler.at(50_000, () => vcpu.setInterrupt(InterruptLine.MachineTimer, true));
    scheduler.runSync({ untilNs: 49_000 });
    expect(vcpu.activity).toBe("halted");
    expect(vcpu.stats().haltedNs).toBe(49_000 - OP_NS);
    scheduler.runSync({ untilNs: 200_000 });
    expect(core.observed[0].atNs).toBe(50_000 + OP_NS);
    expect(vcpu.stats().haltedNs).toBe(50_000 - OP_NS);
  });

  it("a lowered or disabled line does not wake; kick() does", () => {
    const { scheduler, vcpu, core } = setup([{ op: "wfi" }, { op: "load", addr: 0x8000_0000 }]);
    vcpu.start();
    scheduler.at(1000, () => vcpu.setInterrupt(InterruptLine.MachineTimer, false));
    scheduler.at(3000, () => vcpu.kick());
    scheduler.runSync({ untilNs: 2000 });
    expect(vcpu.activity).toBe("halted");
    scheduler.runSync({ untilNs: 100_000 });
    expect(core.observed[0].atNs).toBe(3000 + OP_NS);
  });

  it("pre-run hooks throttle: sleeps add up, count as throttled, and removal takes effect", () => {
    const { scheduler, vcpu } = setup([{ op: "work", ns: 1e12 }], 10_000);
    const seen: number[] = [];
    const remove1 = vcpu.addPreRunHook((info) => {
      seen.push(info.nowNs);
      return 6_000;
    });
    vcpu.addPreRunHook(() => 4_000);
    vcpu.start();
    scheduler.runSync({ untilNs: 100_000 });
    // each cycle: 10k sleep then 10k run; at 100k the 6th sleep has just begun
    const s = vcpu.stats();
    expect(s.throttledNs).toBe(50_000);
    expect(s.runningNs).toBe(50_000);
    expect(seen).toEqual([0, 20_000, 40_000, 60_000, 80_000, 100_000]);
    remove1();
    remove1();
    scheduler.runSync({ untilNs: 200_000 });
    const t = vcpu.stats();
    // from 110k: 14k cycles (10k run, 4k sleep); the slice at 194k runs ahead to 204k
    expect(t.throttledNs).toBe(60_000 + 4_000 * 6);
    expect(t.runningNs).toBe(50_000 + 10_000 * 7);
    expect(seen).toHaveLength(6);
  });

  it("kick() ends a hook sleep early and re-runs hooks at once", () => {
    const { scheduler, vcpu } = setup([{ op: "work", ns: 1e12 }], 10_000);
    let sleep = 1_000_000;
    const calls: number[] = [];
    vcpu.addPreRunHook((info) => {
      calls.push(info.nowNs);
      return sleep;
    });
    vcpu.start();
    scheduler.at(5_000, () => {
      sleep = 0;
      vcpu.kick();
    });
    scheduler.runSync({ untilNs: 25_000 });
    expect(calls.slice(0, 2)).toEqual([0, 5_000]);
    const s = vcpu.stats();
    expect(s.throttledNs).toBe(5_000);
    expect(s.runningNs).toBe(30_000); // slices at 5k, 15k, 25k (the last runs ahead to 35k)
  });

  it("a kick during a run makes the backend exit Kicked and hooks run mid-slice", () => {
    let target: Vcpu | null = null;
    const { scheduler, vcpu, core } = setup(
      [
        { op: "store", addr: DEV, value: 1 },
        { op: "work", ns: 1e12 },
      ],
      10_000,
      () => target?.kick(),
    );
    target = vcpu;
    const calls: number[] = [];
    vcpu.addPreRunHook((info) => {
      calls.push(info.nowNs);
      return 0;
    });
    vcpu.start();
    scheduler.runSync({ untilNs: 5_000 });
    expect(calls).toEqual([0, OP_NS]);
    expect(vcpu.run.immediateExit).toBe(false);
    expect(core.pc).toBe(1);
    expect(vcpu.stats().runningNs).toBe(10_000);
  });

  it("pause() resolves out of the guest; no work while paused; resume continues", async () => {
    const { scheduler, vcpu, core } = setup([{ op: "work", ns: 1e12 }], 10_000);
    vcpu.start();
    await scheduler.run({ untilNs: 35_000 });
    await vcpu.pause();
    expect(vcpu.state).toBe("paused");
    const ran = vcpu.stats().runningNs;
    await scheduler.run({ untilNs: 1_000_000 });
    expect(vcpu.stats().runningNs).toBe(ran);
    vcpu.resume();
    await scheduler.run({ untilNs: 1_030_000 });
    expect(vcpu.stats().runningNs).toBe(ran + 30_000);
    expect(core.workDone).toBe(0);
  });

  it("pause() requested from a hook inside the slice resolves when the slice ends", async () => {
    const { scheduler, vcpu } = setup([{ op: "work", ns: 1e12 }], 10_000);
    let paused: Promise<void> | null = null;
    let resolvedAt = -1;
    vcpu.addPreRunHook((info) => {
      if (info.nowNs === 20_000 && paused === null) {
        paused = vcpu.pause();
        void paused.then(() => {
          resolvedAt = scheduler.now();
        });
      }
      return 0;
    });
    vcpu.start();
    await scheduler.run({ untilNs: 100_000 });
    expect(resolvedAt).toBe(20_000);
    expect(vcpu.state).toBe("paused");
    expect(vcpu.stats().runningNs).toBe(30_000);
  });

  it("stops with an error on an unmapped access, a bad hook, or a broken backend", () => {
    const a = setup([{ op: "load", addr: 0x5000_0000 }]);
    a.vcpu.start();
    a.scheduler.runSync();
    expect(a.errors[0]).toMatch(/MMIO load of 4 byte\(s\) at 0x50000000: no device/);
    expect(a.vcpu.state).toBe("stopped");

    const b = setup([{ op: "work", ns: 1e9 }]);
    b.vcpu.addPreRunHook(() => Number.NaN);
    b.vcpu.start();
    b.scheduler.runSync();
    expect(b.errors[0]).toMatch(/pre-run hook #0 returned NaN/);

    const c = setup([]);
    c.core.run = (run) => {
      run.exitReason = 5;
      run.consumedNs = 0;
    };
    c.vcpu.start();
    c.scheduler.runSync();
    expect(c.errors[0]).toMatch(/BudgetExhausted without consuming/);
  });

  it("stop() is final", () => {
    const { scheduler, vcpu } = setup([{ op: "work", ns: 1e12 }]);
    vcpu.start();
    scheduler.runSync({ untilNs: 20_000 });
    vcpu.stop();
    const out = scheduler.runSync();
    expect(out.reason).toBe("idle");
    expect(vcpu.state).toBe("stopped");
    vcpu.resume();
    expect(vcpu.state).toBe("stopped");
  });
});
