import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { captureIo, type Command, main } from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const memtouch = join(root, "examples/configs/memtouch.yaml");

async function ferry(argv: string[], list?: readonly Command[]) {
  const io = captureIo();
  const code = await main(argv, io, list);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe("ferry dispatch", () => {
  it("prints help listing the commands and exit codes", async () => {
    const r = await ferry(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ferry: /);
    expect(r.out).toMatch(/\n {2}run {4}/);
    expect(r.out).toMatch(/\n {2}config {1}/);
    expect(r.out).toContain("3 time limit reached");
    expect((await ferry([])).code).toBe(2);
  });

  it("gives each command its own --help", async () => {
    for (const argv of [
      ["run", "--help"],
      ["config", "--help"],
      ["config", "check", "-h"],
    ]) {
      const r = await ferry(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage:/);
    }
  });

  it("rejects an unknown command with exit 2, as JSON with --json", async () => {
    const r = await ferry(["fly"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /unknown command "fly" \(expected one of: run, migrate, compare, dirty-rate, snapshot, restore, config, plugins, capabilities, params, isa-test\)/,
    );
    const j = await ferry(["fly", "--json"]);
    expect(JSON.parse(j.out)).toEqual({
      status: "error",
      exitCode: 2,
      error:
        'unknown command "fly" (expected one of: run, migrate, compare, dirty-rate, snapshot, restore, config, plugins, capabilities, params, isa-test)',
    });
  });

  it("maps an unexpected exception to exit 70", async () => {
    const broken: Command = {
      name: "boom",
      summary: "throws",
      help: "",
      run: async () => {
        throw new TypeError("kaput");
      },
    };
    const r = await ferry(["boom"], [broken]);
    expect(r.code).toBe(70);
    expect(r.err).toMatch(/internal error: TypeError: kaput/);
  });
});

describe("ferry config", () => {
  it("check prints the normalized config", async () => {
    const r = await ferry(["config", "check", memtouch, "--set", "machine.memory=32MiB"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("memtouch.yaml: ok");
    expect(r.out).toContain("1 vCPU, 32MiB RAM (array), 100 MIPS");
    expect(r.out).toContain("args:      [1048576, 4096, 50, 1024, 0, 10]");
  });

  it("check --json prints the config in base units", async () => {
    const r = await ferry(["config", "check", memtouch, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.status).toBe("ok");
    expect(doc.config.migration).toEqual({
      startAfterNs: 50e6,
      link: { bandwidthBytesPerSec: 125e6, latencyNs: 1e6, bufferBytes: 1048576 },
      capabilities: { xbzrle: false },
      parameters: { "downtime-limit": "300ms", "max-bandwidth": "128MiB/s" },
      actions: [],
    });
  });

  it("check exits 2 listing every problem", async () => {
    const r = await ferry([
      "config",
      "check",
      memtouch,
      "--set",
      "machine.mips=-1",
      "--set",
      "run.seed=x",
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^ferry: 2 problems in the config:/);
    expect(r.err).toMatch(
      /machine\.mips: expected > 0, found -1 \(set by --set machine\.mips=-1\)/,
    );
    expect(r.err).toMatch(/run\.seed: expected a number, found "x"/);
    const missingElf = await ferry(["config", "check", memtouch, "--set", "guest.elf=gone.elf"]);
    expect(missingElf.code).toBe(2);
    expect(missingElf.err).toMatch(/guest\.elf: expected an ELF file, found no file/);
  });

  it("schema prints a JSON Schema", async () => {
    const r = await ferry(["config", "schema"]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out);
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(schema.required).toContain("name");
    expect((await ferry(["config", "schema", "extra"])).code).toBe(2);
    expect((await ferry(["config", "frobnicate"])).code).toBe(2);
  });
});
