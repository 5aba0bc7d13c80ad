import { describe, expect, it } from "vitest";
import {
  Clint,
  InterruptLine,
  Ns16550a,
  StateValidationError,
  TestFinisher,
  VirtualScheduler,
  type FinisherRequest,
} from "../src/index";

const at = (nowNs: number) => ({ hartId: 0, nowNs });

describe("NS16550A UART", () => {
  it("transmits THR bytes, reports LSR, and reads queued input", () => {
    const out: number[] = [];
    const u = new Ns16550a((b) => out.push(b));
    u.write(0, 1, 0x141, at(0));
    expect(out).toEqual([0x41]);
    expect(u.read(5, 1, at(0))).toBe(0x60);
    expect(u.pushInput("hi")).toBe(2);
    expect(u.read(5, 1, at(0))).toBe(0x61);
    expect(u.read(0, 1, at(0))).toBe(0x68);
    expect(u.read(0, 1, at(0))).toBe(0x69);
    expect(u.read(0, 1, at(0))).toBe(0);
    expect(u.read(5, 1, at(0)) & 1).toBe(0);
  });

  it("DLAB switches offsets 0/1 to the divisor latch; SCR, IER, IIR, MSR behave", () => {
    const out: number[] = [];
    const u = new Ns16550a((b) => out.push(b));
    u.write(3, 1, 0x83, at(0));
    u.write(0, 1, 0x0c, at(0));
    u.write(1, 1, 0x01, at(0));
    expect([u.read(0, 1, at(0)), u.read(1, 1, at(0))]).toEqual([0x0c, 0x01]);
    u.write(3, 1, 0x03, at(0));
    expect(out).toEqual([]);
    u.write(1, 1, 0xff, at(0));
    expect(u.read(1, 1, at(0))).toBe(0x0f);
    u.write(7, 1, 0x5a, at(0));
    expect(u.read(7, 1, at(0))).toBe(0x5a);
    u.write(2, 1, 0x07, at(0));
    expect(u.read(2, 1, at(0))).toBe(0xc2); // FIFO on, THR empty interrupt identified
    u.write(1, 1, 0, at(0));
    expect(u.read(2, 1, at(0))).toBe(0xc1);
    expect(u.read(6, 1, at(0))).toBe(0xb0);
    u.write(4, 1, 0x10, at(0)); // loopback: THR goes to RBR
    u.write(0, 1, 0x33, at(0));
    expect(out).toEqual([]);
    expect(u.read(0, 1, at(0))).toBe(0x33);
  });

  it("saves and restores state; refuses bad state", () => {
    const u = new Ns16550a(() => {});
    u.write(7, 1, 9, at(0));
    u.pushInput("x");
    const s = u.saveState();
    const v = new Ns16550a(() => {});
    v.loadState(JSON.parse(JSON.stringify(s)));
    expect(v.saveState()).toEqual(s);
    expect(() => v.loadState({ ...s, lcr: 256 })).toThrow(StateValidationError);
    expect(() => v.loadState({ ...s, extra: 1 })).toThrow(/invalid uart0 state/);
  });

  it("raises its interrupt for received data (RDI) and an empty THR (THRI) like a 16550", () => {
    const levels: boolean[] = [];
    const u = new Ns16550a(() => {});
    u.setInterruptHandler((l) => levels.push(l));
    u.pushInput("a");
    expect(levels).toEqual([]); // IER = 0: masked
    u.write(1, 1, 0x01, at(0)); // IER.RDI
    expect(levels).toEqual([true]);
    expect(u.read(2, 1, at(0)) & 0x0f).toBe(0x04); // IIR: received data
    expect(u.read(0, 1, at(0))).toBe(0x61);
    expect(levels).toEqual([true, false]);
    u.write(1, 1, 0x02, at(0)); // IER.THRI: THR is empty at once
    expect(levels).toEqual([true, false, true]);
    expect(u.read(2, 1, at(0)) & 0x0f).toBe(0x02); // reading IIR clears the THRE interrupt
    expect(levels).toEqual([true, false, true, false]);
    expect(u.read(2, 1, at(0)) & 0x0f).toBe(0x01);
    u.write(0, 1, 0x62, at(0)); // transmit: THR empty again
    expect(levels.at(-1)).toBe(true);
    const v = new Ns16550a(() => {});
    const vl: boolean[] = [];
    v.setInterruptHandler((l) => vl.push(l));
    v.loadState(u.saveState());
    expect(vl).toEqual([true]); // the restored device drives its line again
  });
});

describe("SiFive test finisher", () => {
  it("decodes pass, fail with code, reset; ignores the rest", () => {
    const got: Array<[FinisherRequest, number]> = [];
    const f = new TestFinisher((k, c) => got.push([k, c]));
    f.write(0, 4, 0x5555, at(0));
    f.write(0, 4, (3 << 16) | 0x3333, at(0));
    f.write(0, 4, 0x7777, at(0));
    f.write(0, 4, 0x1234, at(0));
    f.write(4, 4, 0x5555, at(0));
    f.write(0, 2, 0x5555, at(0));
    expect(got).toEqual([
      ["pass", 0],
      ["fail", 3],
      ["reset", 0],
    ]);
    expect(f.read(0, 4, at(0))).toBe(0);
    expect(() => f.loadState({ x: 1 })).toThrow(StateValidationError);
  });
});

describe("CLINT", () => {
  function clint(harts = 2) {
    const scheduler = new VirtualScheduler();
    const lines: string[] = [];
    const level = new Map<string, boolean>();
    const c = new Clint({
      scheduler,
      hartCount: harts,
      setInterrupt: (h, line, l) => {
        const key = `${h}:${line}`;
        if (level.get(key) !== l) lines.push(`${key}=${l ? 1 : 0}@${scheduler.now()}`);
        level.set(key, l);
      },
    });
    return { scheduler, c, lines, level };
  }

  it("mtime counts at 10 MHz only while running and reads as two halves", () => {
    const { scheduler, c } = clint();
    expect(c.read(0xbff8, 4, at(1e6))).toBe(0); // frozen before thaw
    c.thaw(0);
    expect(c.read(0xbff8, 4, at(1_000_000))).toBe(10_000);
    scheduler.runSync({ untilNs: 2_000_000 });
    c.freeze(2_000_000);
    scheduler.runSync({ untilNs: 9_000_000 });
    expect(c.mtimeNow()).toBe(20_000);
    c.thaw(9_000_000);
    expect(c.mtimeAt(9_500_000)).toBe(25_000);
    c.write(0xbffc, 4, 1, at(9_500_000));
    expect(c.read(0xbffc, 4, at(9_500_000))).toBe(1);
    expect(c.read(0xbff8, 4, at(9_500_100))).toBe(25_001);
  });

  it("mtimecmp raises MTIP at the deadline, lowers it when moved into the future", () => {
    const { scheduler, c, lines } = clint();
    c.thaw(0);
    c.write(0x4000 + 8 + 4, 4, 0, at(0)); // hart 1 hi
    c.write(0x4000 + 8, 4, 500, at(0)); // deadline 500 ticks = 50 µs
    scheduler.runSync({ untilNs: 49_999 });
    expect(lines.some((l) => l.includes("=1"))).toBe(false);
    scheduler.runSync({ untilNs: 100_000 });
    expect(lines).toContain(`1:${InterruptLine.MachineTimer}=1@50000`);
    c.write(0x4000 + 8, 4, 2000, at(100_000));
    expect(lines.at(-1)).toBe(`1:${InterruptLine.MachineTimer}=0@100000`);
    scheduler.runSync({ untilNs: 1_000_000 });
    expect(lines.at(-1)).toBe(`1:${InterruptLine.MachineTimer}=1@200000`);
  });

  it("msip raises and lowers the software interrupt; byte writes work", () => {
    const { c, level } = clint();
    c.write(4, 4, 1, at(0));
    expect(level.get(`1:${InterruptLine.MachineSoftware}`)).toBe(true);
    expect(c.read(4, 4, at(0))).toBe(1);
    c.write(4, 1, 0, at(0));
    expect(level.get(`1:${InterruptLine.MachineSoftware}`)).toBe(false);
    c.write(0x4000, 2, 0xbeef, at(0));
    expect(c.read(0x4000, 4, at(0))).toBe(0xffffbeef);
  });

  it("save/load restores mtime, mtimecmp and msip on another CLINT", () => {
    const a = clint();
    a.c.thaw(0);
    a.c.write(0x4000 + 4, 4, 0, at(0));
    a.c.write(0x4000, 4, 77_000, at(0));
    a.c.write(0, 4, 1, at(0));
    a.scheduler.runSync({ untilNs: 3_000_000 });
    const s = JSON.parse(JSON.stringify(a.c.saveState()));
    expect(s.mtime).toBe(30_000);
    const b = clint();
    b.scheduler.runSync({ untilNs: 123_456_789 });
    b.c.loadState(s);
    expect(b.c.mtimeNow()).toBe(30_000);
    expect(b.level.get(`0:${InterruptLine.MachineSoftware}`)).toBe(true);
    b.c.thaw();
    b.scheduler.runSync({ untilNs: 123_456_789 + 4_700_000 });
    expect(b.level.get(`0:${InterruptLine.MachineTimer}`)).toBe(true);
    expect(b.lines.at(-1)).toBe(`0:${InterruptLine.MachineTimer}=1@${123_456_789 + 4_700_000}`);
    expect(() => b.c.loadState({ ...s, msip: [0] })).toThrow(/expected 2 harts/);
    expect(() => b.c.loadState({ ...s, mtime: "1" })).toThrow(StateValidationError);
  });
});
