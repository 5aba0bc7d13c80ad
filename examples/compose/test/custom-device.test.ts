import { describe, expect, it } from "vitest";
import { counterProgram, main, STEP } from "../custom-device";
import { createCounterDevice } from "../lib/counter-device";

describe("examples/compose/custom-device", () => {
  it("the counter's state migrates: one unbroken sequence across the switchover", async () => {
    const r = await main({ print: false });
    expect(r.migration).toBe("completed");
    expect(r.exit).toBe("pass");
    expect(r.readsOnSource).toBeGreaterThan(0);
    expect(r.readsOnSource).toBeLessThan(1000); // migrated mid-run
    expect(r.readsTotal).toBe(1000);
    expect(r.values).toEqual(Array.from({ length: 1000 }, (_, i) => i * STEP));
  });

  it("without carrying the device state the destination's counter restarts (what breaks)", async () => {
    const r = await main({ print: false, migrateDeviceState: false });
    expect(r.migration).toBe("completed");
    expect(r.exit).toBe("pass");
    const k = r.readsOnSource;
    expect(r.values[k - 1]).toBe((k - 1) * STEP);
    expect(r.values[k]).toBe(0); // value reset, and the step back to 1
    expect(r.values[k + 1]).toBe(1);
  });

  it("the device validates the state it loads", () => {
    const d = createCounterDevice("c");
    expect(() => d.loadState({ value: -1, step: 1, reads: 0 })).toThrow(
      /invalid c state: value: expected an integer from 0 to 4294967295, found -1/,
    );
    d.loadState({ value: 7, step: 2, reads: 1 });
    expect(d.read(0, 4, { hartId: 0, nowNs: 0 })).toBe(7);
    expect(d.read(0, 4, { hartId: 0, nowNs: 0 })).toBe(9);
    expect(d.saveState()).toEqual({ value: 11, step: 2, reads: 3 });
  });

  it("assembles a program of whole instructions", () => {
    expect(counterProgram(10, 5).length % 4).toBe(0);
  });
});
