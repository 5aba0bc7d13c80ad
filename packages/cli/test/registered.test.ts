import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type CapabilityRow, captureIo, main, type ParameterRow, type PluginRow } from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const rateConvergeConfig = join(root, "examples/configs/workload-rate-converge.yaml");
const rateConvergeSource = join(root, "examples/plugin-authoring/src/index.ts");

async function ferry(argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe("ferry plugins / capabilities / params", () => {
  it("lists the built-in plugins as a table and as JSON", async () => {
    const r = await ferry(["plugins"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^plugin +source +capabilities +parameters +stream records\n/);
    expect(r.out).toMatch(/\nxbzrle +built-in +xbzrle +1 +xbzrle\n/);
    const j = JSON.parse((await ferry(["plugins", "--json"])).out) as PluginRow[];
    expect(j.map((p) => p.name)).toEqual([
      "precopy",
      "xbzrle",
      "auto-converge",
      "dirty-limit",
      "multifd",
      "postcopy",
    ]);
    expect(j.find((p) => p.name === "multifd")?.parameters).toContain("multifd-channels");
    expect(j.find((p) => p.name === "auto-converge")?.parameters).toContain("cpu-throttle-initial");
  });

  it("lists parameters with default, range, unit and the plugin providing each", async () => {
    const r = await ferry(["params"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\ndowntime-limit +300 +0\.\.2000000 +ms +core\n/);
    expect(r.out).toMatch(/\nx-auto-converge-policy +qemu +qemu \| rfc-2013 +auto-converge\n/);
    const rows = JSON.parse((await ferry(["params", "--json"])).out) as ParameterRow[];
    expect(rows.find((p) => p.name === "cpu-throttle-initial")).toEqual({
      name: "cpu-throttle-initial",
      plugin: "auto-converge",
      type: "integer",
      default: 20,
      minimum: 1,
      maximum: 99,
    });
    expect(rows.find((p) => p.name === "max-bandwidth")).toMatchObject({
      default: 134217728,
      unit: "bytes/s",
      plugin: "core",
    });
  });

  it("includes the plugins a config names and those given with --plugin", async () => {
    const fromConfig = JSON.parse(
      (await ferry(["capabilities", rateConvergeConfig, "--json"])).out,
    ) as CapabilityRow[];
    expect(fromConfig.find((c) => c.name === "rate-converge")).toMatchObject({
      plugin: "rate-converge",
      default: false,
      conflicts: ["auto-converge"],
    });
    const r = await ferry(["plugins", "--plugin", rateConvergeSource]);
    // columns are padded to the widest cell (the built-ins' capability lists set the width)
    const row = r.out.split("\n").find((l) => l.startsWith("rate-converge "));
    expect(row?.split(/\s{2,}/)).toEqual([
      "rate-converge",
      rateConvergeSource,
      "rate-converge",
      "3",
      "-",
    ]);
  });

  it("refuses a plugin that cannot be loaded with exit 2", async () => {
    const r = await ferry(["params", "--plugin", "./no/such/plugin.js"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/plugin "\.\/no\/such\/plugin\.js" \(--plugin\): cannot be resolved/);
  });
});
