import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createRegistry, type FerryPlugin, MigrationConfigError } from "../src/index";

const plugin = (over: Partial<FerryPlugin>): FerryPlugin => ({
  name: "p",
  capabilities: [],
  register: () => {},
  ...over,
});

const plugins = (): FerryPlugin[] => [
  plugin({
    name: "xbzrle",
    capabilities: [
      { name: "xbzrle", description: "delta pages", default: false, conflicts: ["multifd"] },
    ],
    parameters: z.object({
      "xbzrle-cache-size": z
        .number()
        .int()
        .min(4096)
        .default(64 * 1024 * 1024),
    }),
  }),
  plugin({
    name: "multifd",
    capabilities: [{ name: "multifd", description: "many channels", default: false }],
  }),
  plugin({
    name: "postcopy",
    capabilities: [
      // "return-path" is a core capability (the framework's own): a plugin may require it.
      { name: "postcopy-preempt", description: "x", default: false, requires: ["return-path"] },
    ],
  }),
];

function refusal(fn: () => void): MigrationConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MigrationConfigError);
    return e as MigrationConfigError;
  }
  throw new Error("expected a MigrationConfigError");
}

describe("capability & parameter registry", () => {
  it("has the core parameters with QEMU defaults and the plugins' capabilities off", () => {
    const r = createRegistry(plugins());
    expect(r.queryParameters()).toEqual({
      "max-bandwidth": 134217728,
      "downtime-limit": 300,
      "avail-switchover-bandwidth": 0,
      "x-page-cost-ns": 0,
      "x-flush-pages": 32,
      "x-integrity": "auto",
      "xbzrle-cache-size": 64 * 1024 * 1024,
    });
    expect(r.capabilities()).toEqual({
      xbzrle: false,
      multifd: false,
      "postcopy-preempt": false,
      "return-path": false,
      "switchover-ack": false,
    });
    expect(r.queryCapabilities().find((c) => c.name === "xbzrle")?.plugin).toBe("xbzrle");
    expect(r.queryCapabilities().find((c) => c.name === "return-path")?.plugin).toBe("core");
  });

  it("sets valid values", () => {
    const r = createRegistry(plugins());
    r.setCapabilities({ xbzrle: true });
    r.setParameters({ "downtime-limit": 2000000, "max-bandwidth": 0 });
    expect(r.capabilities().xbzrle).toBe(true);
    expect(r.queryParameters()["downtime-limit"]).toBe(2000000);
    expect(r.queryParameters()["max-bandwidth"]).toBe(0);
  });

  it("refuses unknown names, wrong types and out-of-range values, naming the setting", () => {
    const r = createRegistry(plugins());
    expect(refusal(() => r.setCapabilities({ "auto-converge": true })).setting).toBe(
      "auto-converge",
    );
    expect(refusal(() => r.setCapabilities({ xbzrle: "yes" })).message).toMatch(
      /xbzrle: expected a boolean, got "yes"/,
    );
    expect(refusal(() => r.setParameters({ "max-bandwith": 1 })).message).toMatch(
      /unknown parameter/,
    );
    const wrongType = refusal(() => r.setParameters({ "downtime-limit": "300" }));
    expect(wrongType.setting).toBe("downtime-limit");
    expect(wrongType.message).toMatch(/got "300"/);
    const range = refusal(() => r.setParameters({ "downtime-limit": 2000001 }));
    expect(range.setting).toBe("downtime-limit");
    expect(refusal(() => r.setParameters({ "max-bandwidth": -1 })).setting).toBe("max-bandwidth");
    expect(refusal(() => r.setParameters({ "xbzrle-cache-size": 1.5 })).setting).toBe(
      "xbzrle-cache-size",
    );
  });

  it("refuses conflicts and missing requirements", () => {
    const r = createRegistry(plugins());
    expect(refusal(() => r.setCapabilities({ xbzrle: true, multifd: true })).message).toMatch(
      /xbzrle: conflicts with capability "multifd"/,
    );
    expect(refusal(() => r.setCapabilities({ "postcopy-preempt": true })).message).toMatch(
      /requires capability "return-path"/,
    );
    r.setCapabilities({ "postcopy-preempt": true, "return-path": true });
    expect(() => r.setCapabilities({ "return-path": false })).toThrow(/requires/);
    r.setCapabilities({ multifd: true });
    expect(() => r.setCapabilities({ xbzrle: true })).toThrow(/conflicts/);
  });

  it("changes nothing when a request is refused", () => {
    const r = createRegistry(plugins());
    const caps = r.capabilities();
    const params = r.queryParameters();
    expect(() => r.setCapabilities({ "return-path": true, xbzrle: true, bogus: true })).toThrow();
    expect(() => r.setCapabilities({ "return-path": true, xbzrle: true, multifd: true })).toThrow();
    expect(() => r.setParameters({ "max-bandwidth": 1000, "downtime-limit": -5 })).toThrow();
    expect(() => r.setParameters({ "max-bandwidth": 1000, nope: 1 })).toThrow();
    expect(r.capabilities()).toEqual(caps);
    expect(r.queryParameters()).toEqual(params);
  });

  it("refuses any change while a migration is active", () => {
    let active = true;
    const r = createRegistry(plugins(), () => active);
    expect(refusal(() => r.setCapabilities({ xbzrle: true })).message).toMatch(
      /cannot change capabilities while a migration is active/,
    );
    expect(() => r.setParameters({ "downtime-limit": 10 })).toThrow(/while a migration is active/);
    expect(r.capabilities().xbzrle).toBe(false);
    active = false;
    r.setCapabilities({ xbzrle: true });
    expect(r.capabilities().xbzrle).toBe(true);
  });

  it("refuses plugins that clash or refer to unknown capabilities", () => {
    expect(() =>
      createRegistry([
        plugin({ name: "a", capabilities: [{ name: "x", description: "", default: false }] }),
        plugin({ name: "b", capabilities: [{ name: "x", description: "", default: false }] }),
      ]),
    ).toThrow(/declared twice/);
    expect(() =>
      createRegistry([
        plugin({
          name: "a",
          capabilities: [{ name: "x", description: "", default: false, requires: ["y"] }],
        }),
      ]),
    ).toThrow(/unknown capability "y"/);
    // A conflict with a capability that no loaded plugin provides is vacuous.
    const reg = createRegistry([
      plugin({
        name: "a",
        capabilities: [{ name: "x", description: "", default: false, conflicts: ["y"] }],
      }),
    ]);
    reg.setCapabilities({ x: true });
    expect(reg.capabilities().x).toBe(true);
    expect(() =>
      createRegistry([
        plugin({ parameters: z.object({ "downtime-limit": z.number().default(1) }) }),
      ]),
    ).toThrow(/declared twice/);
    expect(() => createRegistry([plugin({ parameters: z.object({ x: z.number() }) })])).toThrow(
      /no default/,
    );
  });
});
