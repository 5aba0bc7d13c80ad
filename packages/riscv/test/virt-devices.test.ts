import { InterruptLine, StateValidationError, VirtualScheduler } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { Clint, type FinisherRequest, TestFinisher } from "../src/index";

const at = (nowNs: number) => ({ hartId: 0, nowNs });

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
