import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  ConfigError,
  describeFound,
  configJsonSchema,
  formatSize,
  loadConfig,
  parseBandwidth,
  parseConfigText,
  parseDuration,
  parseOverride,
  parseSize,
  UnitError,
} from "../src/config";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const configsDir = join(root, "examples/configs");

function issuesOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const MINIMAL = "name: t\nguest: { elf: g.elf }\n";

describe("units", () => {
  it("parses sizes", () => {
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize("64KiB")).toBe(65536);
    expect(parseSize("16MiB")).toBe(16 * 1024 * 1024);
    expect(parseSize("1GiB")).toBe(1024 ** 3);
    expect(parseSize("256GiB")).toBe(256 * 1024 ** 3);
    expect(parseSize("1.5KiB")).toBe(1536);
    expect(parseSize("2MB")).toBe(2_000_000);
    expect(parseSize("512")).toBe(512);
    expect(parseSize(" 8 kib ")).toBe(8192);
  });

  it("rejects bad sizes with what was expected and found", () => {
    expect(() => parseSize("12 parsecs")).toThrow(UnitError);
    expect(() => parseSize("12 parsecs")).toThrow(/expected a size.*found unknown unit "parsecs"/);
    expect(() => parseSize("-1KiB")).toThrow(/found "-1KiB"/);
    expect(() => parseSize(-1)).toThrow(/found -1/);
    expect(() => parseSize(1.5)).toThrow(/whole number of bytes/);
    expect(() => parseSize("0.1B")).toThrow(/whole number/);
  });

  it("parses durations to ns (bare numbers are seconds)", () => {
    expect(parseDuration(2)).toBe(2e9);
    expect(parseDuration(0.25)).toBe(250e6);
    expect(parseDuration("300ms")).toBe(300e6);
    expect(parseDuration("2s")).toBe(2e9);
    expect(parseDuration("1.5min")).toBe(90e9);
    expect(parseDuration("20us")).toBe(20e3);
    expect(parseDuration("7ns")).toBe(7);
    expect(parseDuration("1h")).toBe(3600e9);
    expect(() => parseDuration("3 fortnights")).toThrow(/expected a duration.*"fortnights"/);
    expect(() => parseDuration("300")).toThrow(UnitError);
  });

  it("parses bandwidths to bytes/s", () => {
    expect(parseBandwidth(1000)).toBe(1000);
    expect(parseBandwidth("1Gbit/s")).toBe(125_000_000);
    expect(parseBandwidth("100Mbit/s")).toBe(12_500_000);
    expect(parseBandwidth("128MiB/s")).toBe(128 * 1024 * 1024);
    expect(parseBandwidth("10Gbps")).toBe(1_250_000_000);
    expect(parseBandwidth("8Mb/s")).toBe(1_000_000);
    expect(parseBandwidth("1MB/s")).toBe(1_000_000);
    expect(() => parseBandwidth("1Gbit")).toThrow(/ending in \/s/);
    expect(() => parseBandwidth("1Gfoo/s")).toThrow(/unknown unit "Gfoo"/);
  });

  it("round-trips sizes through formatSize (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (n) => {
        expect(parseSize(formatSize(n))).toBe(n);
      }),
    );
  });

  it("scales any integer by the unit factor (property)", () => {
    const units: [string, number][] = [
      ["B", 1],
      ["KiB", 1024],
      ["MiB", 1024 ** 2],
      ["GiB", 1024 ** 3],
      ["kB", 1000],
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(...units),
        (n, [u, f]) => {
          expect(parseSize(`${n}${u}`)).toBe(n * f);
        },
      ),
    );
  });
});

describe("parseConfigText", () => {
  it("fills defaults and converts units", () => {
    const c = parseConfigText(MINIMAL);
    expect(c.machine).toEqual({
      vcpus: 1,
      memoryBytes: 16 * 1024 * 1024,
      mips: 100,
      cpuEngine: "jit",
      ramBackend: "array",
      memPrealloc: false,
      sliceNs: 100_000,
      dirtyTracking: { kind: "bitmap", ringSize: 4096 },
    });
    expect(c.workload).toBeUndefined();
    expect(c.guest).toEqual({ elf: "g.elf", args: [] });
    expect(c.run).toEqual({ timeLimitNs: 30e9, seed: 1 });
    expect(c.migration.link).toEqual({
      bandwidthBytesPerSec: 125_000_000,
      latencyNs: 0,
      bufferBytes: 1048576,
    });
  });

  it("reads the brief's full example", () => {
    const c = parseConfigText(
      [
        "name: memtouch",
        "machine: { vcpus: 2, memory: 16MiB, mips: 100, ram-backend: array }",
        "guest: { elf: ../guests/memtouch.elf, args: [1048576, 4KiB, 50] }",
        "run: { time-limit: 30s, seed: 1 }",
        "migration:",
        "  start-after: 50ms",
        "  link: { bandwidth: 1Gbit/s, latency: 1ms }",
        "  capabilities: { xbzrle: false }",
        "  parameters: { downtime-limit: 300ms, max-bandwidth: 128MiB/s }",
      ].join("\n"),
      { baseDir: "/cfg/dir" },
    );
    expect(c.machine.vcpus).toBe(2);
    expect(c.guest!.elf).toBe("/cfg/guests/memtouch.elf");
    expect(c.guest!.args).toEqual([1048576, 4096, 50]);
    expect(c.migration.startAfterNs).toBe(50e6);
    expect(c.migration.link.latencyNs).toBe(1e6);
    expect(c.migration.capabilities).toEqual({ xbzrle: false });
    expect(c.migration.parameters).toEqual({
      "downtime-limit": "300ms",
      "max-bandwidth": "128MiB/s",
    });
  });

  it("reports the path, expectation, found value and line/column of each problem", () => {
    const err = issuesOf(() =>
      parseConfigText(
        [
          "name: t",
          "machine:",
          "  memory: 16 MB x",
          "  mips: fast",
          "guest: { elf: g.elf, args: [1, 5GiB] }",
          "migration:",
          "  link: { bandwidth: 1Gbit }",
          "  parameters: { downtime-limit: [300] }",
          "colour: red",
        ].join("\n"),
        { file: "bad.yaml" },
      ),
    );
    const byPath = new Map(err.issues.map((i) => [i.path, i]));
    expect([...byPath.keys()].sort()).toEqual(
      [
        "colour",
        "guest.args.1",
        "machine.memory",
        "machine.mips",
        "migration.link.bandwidth",
        "migration.parameters.downtime-limit",
      ].sort(),
    );
    expect(byPath.get("machine.memory")).toMatchObject({ line: 3, column: 11 });
    expect(byPath.get("machine.memory")?.message).toMatch(/expected a size.*found "16 MB x"/);
    expect(byPath.get("machine.mips")?.message).toBe('expected a number, found "fast"');
    expect(byPath.get("guest.args.1")?.message).toMatch(/above 2\^32-1/);
    expect(byPath.get("migration.link.bandwidth")).toMatchObject({ line: 7 });
    expect(byPath.get("migration.parameters.downtime-limit")?.message).toMatch(
      /expected a string, a number or a boolean.*found a list/,
    );
    expect(byPath.get("colour")?.message).toBe('unknown field "colour"');
    expect(err.message).toContain("bad.yaml:3:11: machine.memory: expected a size");
  });

  it("reports missing required fields and range errors", () => {
    const err = issuesOf(() =>
      parseConfigText("name: t\nmachine: { vcpus: 0, memory: 4096, ram-backend: disk }\n"),
    );
    const msg = Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
    expect(msg.guest).toBe(
      "expected a guest (an ELF program) or a workload (a synthetic dirtier), found neither",
    );
    expect(msg["machine.vcpus"]).toBe("expected >= 1, found 0");
    expect(msg["machine.memory"]).toMatch(/at least 64KiB/);
    expect(msg["machine.ram-backend"]).toMatch(
      /expected one of "array", "shared", "synthetic", found "disk"/,
    );
  });

  it("reports YAML syntax errors with their position", () => {
    const err = issuesOf(() => parseConfigText("name: t\nguest: { elf: [\n", { file: "x.yaml" }));
    expect(err.issues[0].message).toMatch(/^invalid YAML/);
    expect(err.issues[0].line).toBeGreaterThanOrEqual(2);
    expect(err.message).toMatch(/^x\.yaml:\d+:\d+: invalid YAML/);
  });

  it("cuts a YAML error that quotes the rest of the file to one short line", () => {
    // Found by the config fuzzer: a '"' at the start of a line after a stray top-level scalar
    // made the parser quote everything up to the next '"' in its message (967 characters).
    const rest = Array.from({ length: 40 }, (_, i) => `# comment line ${i} of the config`).join(
      "\n",
    );
    const err = issuesOf(() =>
      parseConfigText(`# x\n every hart\n# more\n"#\n${rest}\nname: t\n"\n`, { file: "x.yaml" }),
    );
    const m = err.issues[0].message;
    expect(m).toMatch(/^invalid YAML: Unexpected double-quoted-scalar token/);
    expect(m).not.toContain("\n");
    expect(m.length).toBeLessThanOrEqual(260);
    expect(m).toMatch(/…( at line \d+, column \d+:?)?$/);
    expect(err.issues[0].line).toBe(4);
  });

  it("names a long found string by its start and length (a whole file read as one scalar)", () => {
    // Found by the config fuzzer: a '>' at the start of idle.yaml made the file a folded scalar,
    // and the message quoted all of it (730 characters).
    const text = `>\n${Array.from({ length: 30 }, (_, i) => `word${i}`).join(" ")}\n`;
    const err = issuesOf(() => parseConfigText(text, { file: "x.yaml" }));
    const m = err.issues[0].message;
    expect(m).toMatch(
      /^expected a mapping, found "word0 word1 .*"… \(a string of \d+ characters\)$/,
    );
    expect(m.length).toBeLessThan(160);
    expect(describeFound("short")).toBe('"short"');
  });

  it("limits guest.args to the boot-argument block and 32-bit values", () => {
    const many = Array.from({ length: 65 }, (_, i) => i).join(", ");
    const err = issuesOf(() => parseConfigText(`name: t\nguest: { elf: g, args: [${many}] }\n`));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({
      path: "guest.args",
      message: "expected at most 64 items, found a list",
    });
    expect(
      parseConfigText("name: t\nguest: { elf: g, args: [4294967295, 3GiB] }\n").guest!.args,
    ).toEqual([0xffff_ffff, 3 * 1024 ** 3]);
    expect(() => parseConfigText("name: t\nguest: { elf: g, args: [1.5] }\n")).toThrow(
      /guest\.args\.0/,
    );
  });

  it("builds a config from overrides alone (empty file)", () => {
    const c = parseConfigText("", {
      overrides: ["name=x", "guest.elf=a.elf", "guest.args=[1, 2]"],
    });
    expect(c.name).toBe("x");
    expect(c.guest!.args).toEqual([1, 2]);
    const err = issuesOf(() => parseConfigText("# nothing\n"));
    expect(err.issues.map((i) => i.path).sort()).toEqual(["guest", "name"]);
  });

  it("rejects duplicate keys", () => {
    expect(() => parseConfigText("name: a\nname: b\nguest: { elf: g }\n")).toThrow(ConfigError);
  });
});

describe("Linux guests (guest.kernel)", () => {
  it("parses kernel, initrd and bootargs (with the default command line)", () => {
    const c = parseConfigText("name: t\nguest: { kernel: Image, initrd: rd.cpio }\n");
    expect(c.guest).toEqual({
      elf: "Image",
      args: [],
      linux: { initrd: "rd.cpio", bootargs: "console=ttyS0 earlycon=sbi" },
    });
    const d = parseConfigText("name: t\nguest: { kernel: Image, bootargs: quiet }\n");
    expect(d.guest?.linux).toEqual({ initrd: null, bootargs: "quiet" });
  });

  it("refuses elf with kernel, kernel options without kernel, args with kernel", () => {
    expect(
      issuesOf(() => parseConfigText("name: t\nguest: { elf: a, kernel: b }\n")).issues[0],
    ).toMatchObject({
      path: "guest.kernel",
    });
    expect(
      issuesOf(() => parseConfigText("name: t\nguest: { elf: a, initrd: b }\n")).issues[0],
    ).toMatchObject({
      path: "guest.initrd",
    });
    expect(
      issuesOf(() => parseConfigText("name: t\nguest: { kernel: a, args: [1] }\n")).issues[0],
    ).toMatchObject({
      path: "guest.args",
    });
    expect(
      issuesOf(() => parseConfigText("name: t\nguest: { args: [1] }\n")).issues[0],
    ).toMatchObject({
      path: "guest.elf",
    });
  });
});

describe("--set overrides", () => {
  it("parses path=value with YAML values", () => {
    expect(parseOverride("run.time-limit=2s")).toMatchObject({
      path: ["run", "time-limit"],
      value: "2s",
    });
    expect(parseOverride("machine.vcpus=4")).toMatchObject({ value: 4 });
    expect(parseOverride("migration.capabilities.xbzrle=true")).toMatchObject({ value: true });
    expect(parseOverride("guest.args.2=7")).toMatchObject({ path: ["guest", "args", 2], value: 7 });
    expect(parseOverride("guest.args=[1, 2]")).toMatchObject({ value: [1, 2] });
    expect(parseOverride("description=")).toMatchObject({ value: "" });
    expect(() => parseOverride("novalue")).toThrow(/expected --set path=value/);
    expect(() => parseOverride("a..b=1")).toThrow(/dotted path/);
  });

  it("overrides any field, including list items and absent sections", () => {
    const c = parseConfigText("name: t\nguest: { elf: g.elf, args: [1, 2, 3] }\n", {
      overrides: [
        "machine.memory=64MiB",
        "guest.args.1=9",
        "run.time-limit=1.5",
        "migration.parameters.downtime-limit=300ms",
        "migration.capabilities.xbzrle=true",
      ],
    });
    expect(c.machine.memoryBytes).toBe(64 * 1024 * 1024);
    expect(c.guest!.args).toEqual([1, 9, 3]);
    expect(c.run.timeLimitNs).toBe(1.5e9);
    expect(c.migration.parameters).toEqual({ "downtime-limit": "300ms" });
    expect(c.migration.capabilities).toEqual({ xbzrle: true });
  });

  it("names the override in validation errors", () => {
    const err = issuesOf(() => parseConfigText(MINIMAL, { overrides: ["machine.vcpus=many"] }));
    expect(err.issues[0].path).toBe("machine.vcpus");
    expect(err.issues[0].message).toBe(
      'expected a number, found "many" (set by --set machine.vcpus=many)',
    );
    const err2 = issuesOf(() => parseConfigText(MINIMAL, { overrides: ["name.first=x"] }));
    expect(err2.issues[0].message).toMatch(/--set name.first=x: cannot set this path/);
  });
});

describe("loadConfig", () => {
  it("loads every example config and resolves the ELF next to the guests", () => {
    const files = readdirSync(configsDir).filter((f) => f.endsWith(".yaml"));
    expect(files).toEqual(
      expect.arrayContaining(["hello.yaml", "memtouch.yaml", "multihart.yaml"]),
    );
    for (const f of files) {
      const c = loadConfig(join(configsDir, f));
      expect(c.name).toBe(f.replace(".yaml", ""));
      if (c.guest === undefined) {
        expect(c.workload, f).toBeDefined();
        continue;
      }
      if (c.guest.linux !== undefined) {
        expect(dirname(c.guest.elf)).toBe(join(root, "examples/guests/linux"));
        expect(c.guest.linux.initrd).toBe(join(root, "examples/guests/linux/initramfs.cpio"));
      } else expect(dirname(c.guest.elf)).toBe(join(root, "examples/guests"));
      expect(existsSync(c.guest.elf), c.guest.elf).toBe(true);
    }
  });

  it("applies overrides and reports a missing file", () => {
    const c = loadConfig(join(configsDir, "memtouch.yaml"), ["guest.args.2=3"]);
    expect(c.guest!.args).toEqual([1048576, 4096, 3, 1024, 0, 10]);
    expect(() => loadConfig(join(configsDir, "nope.yaml"))).toThrow(
      /nope\.yaml: cannot read the config: no such file/,
    );
  });
});

describe("configJsonSchema", () => {
  const schema = configJsonSchema() as {
    type: string;
    required: string[];
    additionalProperties: boolean;
    properties: Record<
      string,
      { properties?: Record<string, { default?: unknown; anyOf?: unknown[] }> }
    >;
  };

  it("describes the file as written (kebab-case, units as strings, strict objects)", () => {
    expect(schema.type).toBe("object");
    expect(schema.required.sort()).toEqual(["name"]);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties).sort()).toEqual(
      ["description", "guest", "machine", "migration", "name", "plugins", "run", "workload"].sort(),
    );
    expect(schema.properties.machine.properties?.["ram-backend"]).toMatchObject({
      enum: ["array", "shared", "synthetic"],
    });
    expect(schema.properties.run.properties?.["time-limit"]?.default).toBe("30s");
    expect(schema.properties.machine.properties?.memory?.anyOf).toHaveLength(2);
  });

  it("lists every key the example configs use", () => {
    for (const f of ["hello.yaml", "memtouch.yaml", "multihart.yaml", "idle.yaml"]) {
      const doc = parseYaml(readFileSync(join(configsDir, f), "utf8")) as Record<string, unknown>;
      for (const [key, value] of Object.entries(doc)) {
        expect(schema.properties).toHaveProperty(key);
        if (value && typeof value === "object" && !Array.isArray(value) && key !== "migration") {
          for (const sub of Object.keys(value)) {
            expect(schema.properties[key].properties, `${f}: ${key}.${sub}`).toHaveProperty(sub);
          }
        }
      }
    }
  });
});
