import { describe, expect, it } from "vitest";
import { Ns16550a, StateValidationError } from "../src/index";

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
