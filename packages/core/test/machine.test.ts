import { describe, expect, it } from "vitest";
import {
  BOOT_ARGS_MAGIC,
  InvalidArgumentError,
  PAGE_SIZE,
  RAM_BASE,
  StateValidationError,
  VirtualScheduler,
  createDirtyBitmap,
  createMachine,
  type Machine,
} from "../src/index";
import { OP_NS, type ScriptOp, finish, print, scriptBackend } from "./script-backend";

const UART = 0x1000_0000;
const CLINT = 0x200_0000;
const MTIMECMP0 = CLINT + 0x4000;
const MTIME = CLINT + 0xbff8;

function machine(
  programs: ScriptOp[][],
  extra: { vcpus?: number; sliceNs?: number; bootArgs?: number[] } = {},
) {
  const scheduler = new VirtualScheduler();
  const cpu = scriptBackend(programs);
  const m = createMachine({
    scheduler,
    cpu,
    vcpus: extra.vcpus ?? programs.length,
    memory: { size: 64 * 1024, backend: "array" },
    sliceNs: extra.sliceNs,
    bootArgs: extra.bootArgs,
  });
  return { m, scheduler, cpu, cores: cpu.cores };
}

describe("machine options", () => {
  const base = () => ({
    scheduler: new VirtualScheduler(),
    cpu: scriptBackend([[]]),
    vcpus: 1,
    memory: { size: 65536, backend: "array" as const },
  });
  it("names the bad field and the value found", () => {
    expect(() => createMachine({ ...base(), vcpus: 65 })).toThrow(/vcpus: .*64.*\(got 65\)/);
    expect(() => createMachine({ ...base(), memory: { size: 65537 } })).toThrow(
      /memory\.size: .*multiple of 4096|memory\.size/,
    );
    expect(() => createMachine({ ...base(), memory: { size: 4096 } })).toThrow(/memory\.size/);
    expect(() =>
      createMachine({ ...base(), memory: { size: 65536, backend: "disk" as "array" } }),
    ).toThrow(/memory\.backend/);
    expect(() => createMachine({ ...base(), scheduler: {} as VirtualScheduler })).toThrow(
      /scheduler: expected a Scheduler/,
    );
    expect(() => createMachine({ ...base(), bootArgs: [-1] })).toThrow(InvalidArgumentError);
    expect(() => createMachine({ ...base(), bootArgs: new Array(65).fill(0) })).toThrow(/bootArgs/);
  });
});

describe("virt machine", () => {
  it("maps RAM and devices at QEMU virt addresses", () => {
    const { m } = machine([[]]);
    expect(m.memory.regions.map((r) => [r.name, r.base, r.size])).toEqual([
      ["test", 0x10_0000, 0x1000],
      ["clint", 0x200_0000, 0x10000],
      ["uart", 0x1000_0000, 0x100],
      ["ram", RAM_BASE, 65536],
    ]);
    expect(m.ram.name).toBe("ram");
  });

  it("runs a guest that prints and passes", async () => {
    const { m } = machine([
      [...print("hello\n"), { op: "work", ns: 250_000 }, ...print("bye"), finish("pass")],
    ]);
    const bytes: number[] = [];
    m.events.on("uart", (b) => bytes.push(b));
    const states: string[] = [];
    m.events.on("state", (s) => states.push(s));
    const r = await m.runUntilShutdown({ timeLimitNs: 1e9 });
    expect(r).toMatchObject({ reason: "shutdown", code: 0, kind: "pass" });
    expect(r.atNs).toBe(250_000 + 10 * OP_NS);
    expect(m.uartOutput()).toBe("hello\nbye");
    expect(String.fromCharCode(...bytes)).toBe("hello\nbye");
    expect(m.state).toBe("stopped");
    expect(states).toEqual(["running", "stopped"]);
    expect(m.workDone()).toBe(11);
  });

  it("reports fail codes, time limits and vCPU errors", async () => {
    const a = machine([[finish("fail", 42)]]);
    expect(await a.m.runUntilShutdown({ timeLimitNs: 1e6 })).toMatchObject({
      reason: "shutdown",
      code: 42,
      kind: "fail",
    });
    const b = machine([[{ op: "work", ns: 1e9 }]]);
    expect(await b.m.runUntilShutdown({ timeLimitNs: 5e6 })).toEqual({
      reason: "time-limit",
      code: null,
      atNs: 5e6,
    });
    expect(b.m.vcpuStats()[0].runningNs).toBe(5e6);
    const c = machine([[{ op: "store", addr: 0x4000_0000, value: 1 }]]);
    const errs: string[] = [];
    c.m.events.on("vcpu-error", (e) => errs.push(e.message));
    const r = await c.m.runUntilShutdown({ timeLimitNs: 1e6 });
    expect(r.reason).toBe("error");
    expect(r.message).toMatch(/vCPU 0: MMIO store of 4 byte\(s\) at 0x40000000: no device/);
    // The guest touched unmapped memory: a guest fault (a failed guest), not a ferry bug.
    expect(r.guestFault).toBe(true);
    expect(errs).toHaveLength(1);
    expect(c.m.vcpus[0].state).toBe("stopped");
    const d = machine([[{ op: "fail", message: "illegal instruction 0x0" }]]);
    const dr = await d.m.runUntilShutdown({ timeLimitNs: 1e6 });
    expect(dr.message).toMatch(/illegal instruction/);
    // A backend's internal error is not the guest's fault.
    expect(dr.guestFault).toBe(false);
  });

  it("answers hypercalls with ENOSYS by default, or the handler's result", async () => {
    const prog: ScriptOp[] = [{ op: "ecall", nr: 7, args: [1, 2] }, finish("pass")];
    const a = machine([prog]);
    await a.m.runUntilShutdown({ timeLimitNs: 1e6 });
    expect(a.cores[0].observed.map((o) => o.value)).toEqual([-38]);
    const b = machine([prog]);
    b.m.setHypercallHandler((vcpu, nr, args) => vcpu * 1000 + nr * 10 + args[0] + args[1]);
    await b.m.runUntilShutdown({ timeLimitNs: 1e6 });
    expect(b.cores[0].observed.map((o) => o.value)).toEqual([73]);
  });

  it("reset request re-enters every hart at the entry point and keeps running", async () => {
    const { m, cores } = machine([
      [
        { op: "load", addr: UART + 7 },
        { op: "store", addr: UART + 7, value: 9, size: 1 },
        finish("reset"),
      ],
    ]);
    const events: string[] = [];
    m.events.on("shutdown", (e) => events.push(e.kind));
    const r = await m.runUntilShutdown({ timeLimitNs: 1e6 });
    expect(r.reason).toBe("time-limit");
    expect(events.length).toBeGreaterThan(2);
    expect(new Set(events)).toEqual(new Set(["reset"]));
    // scratch register was reset each time, so every load saw 0
    expect(new Set(cores[0].observed.map((o) => o.value))).toEqual(new Set([0]));
    expect(cores[0].resets.length).toBe(events.length + 1);
  });

  it("writes the boot-argument block and passes its address in a1", () => {
    const { m, cores } = machine([[]], { vcpus: 2, bootArgs: [7, 0xffff_ffff] });
    const addr = RAM_BASE + 65536 - PAGE_SIZE;
    expect(m.bootArgsAddr).toBe(addr);
    const out = new Uint8Array(20);
    m.memory.readBytes(addr, out);
    const v = new DataView(out.buffer);
    expect([0, 4, 8, 12, 16].map((o) => v.getUint32(o, true))).toEqual([
      BOOT_ARGS_MAGIC,
      1,
      2,
      7,
      0xffff_ffff,
    ]);
    expect(String.fromCharCode(...out.subarray(0, 4))).toBe("FERY");
    m.reset(0x8000_1000);
    expect(cores.map((c) => c.resets.at(-1))).toEqual([
      { entry: 0x8000_1000, bootArg: addr },
      { entry: 0x8000_1000, bootArg: addr },
    ]);
    const none = machine([[]]);
    expect(none.m.bootArgsAddr).toBe(0);
    expect(none.cores[0].resets.at(-1)).toEqual({ entry: RAM_BASE, bootArg: 0 });
  });

  it("marks guest stores in the dirty log only while logging", async () => {
    const prog: ScriptOp[] = [
      { op: "store", addr: RAM_BASE + 5 * PAGE_SIZE, value: 1 },
      { op: "work", ns: 200_000 },
      { op: "store", addr: RAM_BASE + 9 * PAGE_SIZE + 4, value: 2 },
      { op: "store", addr: RAM_BASE + 9 * PAGE_SIZE + 8, value: 3 },
      finish("pass"),
    ];
    const { m, scheduler } = machine([prog]);
    m.start();
    await scheduler.run({ untilNs: 100_000 });
    m.ram.dirty.start();
    await m.runUntilShutdown({ timeLimitNs: 1e6 });
    const bm = createDirtyBitmap(16);
    expect(m.ram.dirty.sync(bm)).toBe(1);
    expect(bm.nextSet(0)).toBe(9);
  });

  it("same config ⇒ identical run, output and event sequence", async () => {
    const once = async () => {
      const progs: ScriptOp[][] = [
        [
          ...print("a"),
          { op: "work", ns: 33_333 },
          ...print("b"),
          { op: "jump", to: 0, times: 20 },
          finish("pass"),
        ],
        [
          { op: "load", addr: MTIME },
          { op: "store", addr: MTIMECMP0 + 12, value: 0 },
          { op: "store", addr: MTIMECMP0 + 8, value: 5000 },
          { op: "wfi" },
          ...print("X"),
          { op: "store", addr: MTIMECMP0 + 12, value: 0xffff_ffff },
          { op: "work", ns: 77_777 },
          { op: "jump", to: 0, times: 1000 },
        ],
      ];
      const { m, scheduler } = machine(progs, { sliceNs: 50_000 });
      const log: string[] = [];
      m.events.on("uart", (b) => log.push(`uart ${b} @${scheduler.now()}`));
      m.events.on("shutdown", (e) => log.push(`shutdown ${JSON.stringify(e)}`));
      m.events.on("state", (s) => log.push(`state ${s}`));
      const r = await m.runUntilShutdown({ timeLimitNs: 1e8 });
      return {
        log,
        r,
        out: m.uartOutput(),
        work: m.workDone(),
        stats: m.vcpuStats(),
        events: scheduler.eventsFired,
      };
    };
    const a = await once();
    const b = await once();
    expect(a.r.reason).toBe("shutdown");
    expect(a.out).toMatch(/^(a|b|X)+$/);
    expect(a.out).toContain("X");
    expect(b).toEqual(a);
  });

  it("pause() leaves the guest, freezes mtime, resume() continues", async () => {
    const { m, scheduler, cores } = machine([
      [
        { op: "load", addr: MTIME },
        { op: "work", ns: 1_000_000 },
        { op: "jump", to: 0, times: 100 },
      ],
    ]);
    m.start();
    await scheduler.run({ untilNs: 3_000_000 });
    await m.pause();
    expect(m.state).toBe("paused");
    const work = m.workDone();
    const mtime = m.devices.clint.mtimeNow();
    await scheduler.run({ untilNs: 10_000_000 });
    expect(m.workDone()).toBe(work);
    expect(m.devices.clint.mtimeNow()).toBe(mtime);
    m.resume();
    await scheduler.run({ untilNs: 12_000_000 });
    expect(m.workDone()).toBeGreaterThan(work);
    // mtime observed by the guest never jumps over the paused 7 ms
    const ticks = cores[0].observed.map((o) => o.value);
    for (let i = 1; i < ticks.length; i++) {
      expect(ticks[i] - ticks[i - 1]).toBeGreaterThan(0);
      expect(ticks[i] - ticks[i - 1]).toBeLessThan(20_000);
    }
    expect(ticks.length).toBeGreaterThanOrEqual(6);
  });

  it("saveState/loadState moves CPU and device state (mtime included) to another machine", async () => {
    const prog: ScriptOp[] = [
      { op: "work", ns: 4_000_000 },
      { op: "store", addr: MTIMECMP0, value: 123456 },
      { op: "work", ns: 1e9 },
    ];
    const src = machine([prog]);
    src.m.devices.uart.pushInput("hi");
    src.m.start();
    await src.scheduler.run({ untilNs: 6_000_000 });
    await src.m.pause();
    const state = JSON.parse(JSON.stringify(src.m.saveState()));
    const mtime = src.m.devices.clint.mtimeNow();
    expect(mtime).toBeGreaterThan(55_000);

    const dst = machine([prog]);
    await dst.scheduler.run({ untilNs: 99_000_000 });
    dst.m.loadState(state);
    expect(dst.m.devices.clint.mtimeNow()).toBe(mtime);
    expect(dst.m.saveState()).toEqual(state);
    expect(dst.cores[0].pc).toBe(src.cores[0].pc);
    dst.m.start();
    await dst.scheduler.run({ untilNs: 99_000_000 + 1_000_000 });
    expect(dst.m.devices.clint.mtimeNow()).toBe(mtime + 10_000);

    expect(() => dst.m.loadState(state)).toThrow(/not running/);
    await dst.m.pause();
    expect(() => dst.m.loadState({ ...state, vcpus: [] })).toThrow(
      /expected 1 vCPU states, found 0/,
    );
    expect(() =>
      dst.m.loadState({ ...state, devices: { ...state.devices, clint: { mtime: -1 } } }),
    ).toThrow(StateValidationError);
    expect(() => dst.m.loadState({ ...state, version: 2 } as never)).toThrow(/version/);
  });
});

export type { Machine };
