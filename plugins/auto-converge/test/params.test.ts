import { createRegistry, MigrationConfigError } from "@ferry/migration";
import { describe, expect, it } from "vitest";
import { autoConverge, DEFAULT_SETTINGS, readSettings } from "../src/index";

function refusal(f: () => void): MigrationConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MigrationConfigError);
    return e as MigrationConfigError;
  }
  throw new Error("expected a refusal");
}

describe("auto-converge parameters", () => {
  it("registers the capability (off) and QEMU's defaults", () => {
    const r = createRegistry([autoConverge()]);
    expect(r.capabilities()["auto-converge"]).toBe(false);
    const p = r.queryParameters();
    expect(p["throttle-trigger-threshold"]).toBe(50);
    expect(p["cpu-throttle-initial"]).toBe(20);
    expect(p["cpu-throttle-increment"]).toBe(10);
    expect(p["cpu-throttle-tailslow"]).toBe(false);
    expect(p["max-cpu-throttle"]).toBe(99);
    expect(p["x-auto-converge-policy"]).toBe("qemu");
    expect(readSettings(p)).toEqual(DEFAULT_SETTINGS);
    r.setCapabilities({ "auto-converge": true });
    expect(r.capabilities()["auto-converge"]).toBe(true);
  });

  it("accepts the range ends", () => {
    const r = createRegistry([autoConverge()]);
    r.setParameters({
      "throttle-trigger-threshold": 100,
      "cpu-throttle-initial": 99,
      "cpu-throttle-increment": 1,
      "cpu-throttle-tailslow": true,
      "max-cpu-throttle": 99,
      "x-auto-converge-policy": "rfc-2013",
    });
    const s = readSettings(r.queryParameters());
    expect(s).toMatchObject({ triggerThreshold: 100, initial: 99, increment: 1, tailslow: true });
    expect(s.policy).toBe("rfc-2013");
    r.setParameters({ "throttle-trigger-threshold": 1, "cpu-throttle-initial": 1 });
    expect(r.queryParameters()["throttle-trigger-threshold"]).toBe(1);
  });

  it("refuses out-of-range and mistyped values, naming the parameter and the range", () => {
    const r = createRegistry([autoConverge()]);
    const cases: Array<[string, unknown, RegExp]> = [
      ["throttle-trigger-threshold", 0, /from 1 to 100/],
      ["throttle-trigger-threshold", 101, /from 1 to 100/],
      ["throttle-trigger-threshold", 50.5, /integer/],
      ["cpu-throttle-initial", 0, /from 1 to 99/],
      ["cpu-throttle-initial", 100, /from 1 to 99/],
      ["cpu-throttle-increment", 0, /from 1 to 99/],
      ["cpu-throttle-increment", 100, /from 1 to 99/],
      ["max-cpu-throttle", 100, /from 1 to 99/],
      ["max-cpu-throttle", "99", /got "99"/],
      ["cpu-throttle-tailslow", 1, /boolean/],
      ["x-auto-converge-policy", "rfc", /"qemu" or "rfc-2013"/],
      ["x-rfc2013-sleep-ms", 0, /from 1 to 10000/],
    ];
    for (const [key, value, re] of cases) {
      const e = refusal(() => r.setParameters({ [key]: value }));
      expect(e.setting, key).toBe(key);
      expect(e.message, e.message).toMatch(new RegExp(`^${key}: `));
      expect(e.message, e.message).toMatch(re);
    }
    // nothing changed
    expect(readSettings(r.queryParameters())).toEqual(DEFAULT_SETTINGS);
  });

  it("enforces max-cpu-throttle >= cpu-throttle-initial when the settings are read", () => {
    const r = createRegistry([autoConverge()]);
    r.setParameters({ "cpu-throttle-initial": 60, "max-cpu-throttle": 50 });
    const e = refusal(() => readSettings(r.queryParameters()));
    expect(e.setting).toBe("max-cpu-throttle");
    expect(e.message).toMatch(/from cpu-throttle-initial \(60\) to 99, got 50/);
    expect(readSettings({ "cpu-throttle-initial": 50, "max-cpu-throttle": 50 }).max).toBe(50);
    expect(refusal(() => readSettings({ "cpu-throttle-initial": 0 })).setting).toBe(
      "cpu-throttle-initial",
    );
  });
});
