import { describe, expect, it } from "vitest";
import {
  type Board,
  composeMachine,
  type DeviceState,
  InvalidArgumentError,
  type MmioDevice,
  VirtualScheduler,
} from "../src/index";
import { busyBackend } from "./busy-backend";

/** A device holding one register, for a board of the test's own. */
function register(id: string): MmioDevice & { value: number } {
  return {
    id,
    value: 0,
    read() {
      return this.value;
    },
    write(_offset, _size, value) {
      this.value = value;
    },
    saveState(): DeviceState {
      return { value: this.value };
    },
    loadState(s: DeviceState) {
      this.value = s.value as number;
    },
  };
}

describe("a machine composed from a board", () => {
  it("maps the board's devices, saves them in its order after the UART, and follows its clock", () => {
    const events: string[] = [];
    const a = register("alpha");
    const b = register("beta");
    const board: Board<{ alpha: typeof a; beta: typeof b }> = {
      name: "two-registers",
      ramBase: 0x4000_0000,
      uartBase: 0x2000_0000,
      timebaseHz: 1_000_000,
      create: (ctx) => {
        events.push(`create ${ctx.hartCount}`);
        return {
          devices: { alpha: a, beta: b },
          mmio: [
            { name: "beta", base: 0x3000_0000, size: 0x1000, device: b },
            { name: "alpha", base: 0x3000_1000, size: 0x1000, device: a },
          ],
          timebaseAt: (ns) => Math.floor(ns / 1000),
          freeze: (ns) => events.push(`freeze ${ns}`),
          thaw: (ns) => events.push(`thaw ${ns}`),
          reset: () => events.push("reset"),
        };
      },
    };
    const s = new VirtualScheduler();
    const m = composeMachine({
      board,
      scheduler: s,
      cpu: busyBackend(),
      vcpus: 2,
      memory: { size: 1 << 16 },
    });
    expect(m.devices.alpha).toBe(a);
    expect(m.ram.base).toBe(0x4000_0000);
    expect(m.memory.find(0x3000_1000)?.name).toBe("alpha");
    expect(m.memory.find(0x2000_0000)?.name).toBe("uart");
    expect(Object.keys(m.saveState().devices)).toEqual(["uart0", "beta", "alpha"]);
    m.start();
    expect(events).toEqual(["create 2", "thaw 0"]);
    expect(() =>
      composeMachine({
        board: {} as Board,
        scheduler: s,
        cpu: busyBackend(),
        vcpus: 1,
        memory: { size: 1 << 16 },
      }),
    ).toThrow(InvalidArgumentError);
  });
});
