import { createMigrationManager, type FerryPlugin, MigrationConfigError } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { describe, expect, it } from "vitest";
import rateConvergeDefault, {
  DEFAULT_RATE_CONVERGE_SETTINGS,
  rateConverge,
  readRateConvergeSettings,
} from "../src/index";

/** A stand-in for the auto-converge plugin: only its capability (no controller). */
const fakeAutoConverge: FerryPlugin = {
  name: "fake-auto-converge",
  capabilities: [{ name: "auto-converge", description: "stand-in", default: false }],
  register() {},
};

describe("parameters", () => {
  it("has defaults and ranges", () => {
    expect(DEFAULT_RATE_CONVERGE_SETTINGS).toEqual({
      targetRatio: 0.5,
      maxThrottlePct: 99,
      windowNs: 1_000_000_000,
    });
    expect(
      readRateConvergeSettings({
        "rate-converge-target-ratio": 0.8,
        "rate-converge-max-throttle": 70,
        "rate-converge-window-ms": 250,
        "downtime-limit": 300,
      }),
    ).toEqual({ targetRatio: 0.8, maxThrottlePct: 70, windowNs: 250_000_000 });
  });

  it("are registered with the manager and validated by it", () => {
    const mgr = createMigrationManager({ plugins: [precopy(), rateConverge()] });
    const params = mgr.queryParameters();
    expect(params["rate-converge-target-ratio"]).toBe(0.5);
    expect(params["rate-converge-max-throttle"]).toBe(99);
    const cap = mgr.queryCapabilities().find((c) => c.name === "rate-converge");
    expect(cap).toMatchObject({ state: false, plugin: "rate-converge" });
    expect(() => mgr.setParameters({ "rate-converge-target-ratio": 0 })).toThrow(
      MigrationConfigError,
    );
    expect(() => mgr.setParameters({ "rate-converge-max-throttle": 100 })).toThrow(
      /rate-converge-max-throttle/,
    );
    expect(() => mgr.setParameters({ "rate-converge-window-ms": "1s" })).toThrow(
      MigrationConfigError,
    );
    expect(mgr.queryParameters()["rate-converge-max-throttle"]).toBe(99);
    mgr.setParameters({ "rate-converge-target-ratio": 0.25 });
    expect(mgr.queryParameters()["rate-converge-target-ratio"]).toBe(0.25);
  });

  it("readRateConvergeSettings names the bad parameter and the value", () => {
    expect(() => readRateConvergeSettings({ "rate-converge-target-ratio": 2 })).toThrow(
      /^rate-converge-target-ratio: expected a number greater than 0 and at most 1 \(got 2\)$/,
    );
  });
});

describe("the plugin object", () => {
  it("is the module's default export (loadable by package name)", () => {
    expect(rateConvergeDefault).toBe(rateConverge);
    const p = rateConvergeDefault();
    expect(p.name).toBe("rate-converge");
    expect(p.capabilities.map((c) => c.name)).toEqual(["rate-converge"]);
    expect(p.parameters).toBeDefined();
  });

  it("declares the conflict with auto-converge in the registry", () => {
    const mgr = createMigrationManager({
      plugins: [precopy(), fakeAutoConverge, rateConverge()],
    });
    expect(() => mgr.setCapabilities({ "auto-converge": true, "rate-converge": true })).toThrow(
      MigrationConfigError,
    );
    expect(mgr.capabilities()["rate-converge"]).toBe(false);
    mgr.setCapabilities({ "rate-converge": true });
    expect(mgr.capabilities()["rate-converge"]).toBe(true);
  });
});
