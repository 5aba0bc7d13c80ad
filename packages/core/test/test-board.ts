/**
 * A minimal board for core's own tests: RAM at 0x8000_0000, the console UART, no devices of its
 * own, and a 10 MHz timebase that never stops (core knows no real board: `virt` is
 * `@ferry/riscv`'s).
 */
import type { Board } from "../src/index";

/** The test board. */
export const testBoard: Board<Record<string, never>> = {
  name: "test",
  ramBase: 0x8000_0000,
  uartBase: 0x1000_0000,
  timebaseHz: 10_000_000,
  create: () => ({
    devices: {},
    mmio: [],
    timebaseAt: (ns) => Math.floor(ns / 100),
    freeze: () => {},
    thaw: () => {},
    reset: () => {},
  }),
};
