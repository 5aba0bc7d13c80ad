/**
 * Hostile and unlucky inputs to the `ferry` command: each is refused quickly with exit code 2 and
 * one line naming the file, field or limit — never a stack trace, a hang or unbounded memory.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_CONFIG_BYTES, MAX_SET_INDEX } from "../../src/input/limits";
import { example, expectCleanRejection, ferry, root, tmp } from "./helpers";

const hello = example("hello");
const workload = example("workload-small");

describe("--set list indexes are bounded before anything is built", () => {
  it.each([
    "4294967294",
    "4294967295",
    "4294967296",
    "100000000",
    "99999999999999999999999",
    String(MAX_SET_INDEX + 1),
  ])("guest.args.%s=1 is a quick exit-2 error naming the limit", async (index) => {
    const r = await ferry("config", "check", hello, "--set", `guest.args.${index}=1`);
    expectCleanRejection(r, new RegExp(`list index .* above the limit of ${MAX_SET_INDEX}`));
    expect(r.wallMs).toBeLessThan(5000);
  });

  it("an index within the limit reaches the schema's own limit (64 arguments)", async () => {
    const r = await ferry("config", "check", hello, "--set", `guest.args.${MAX_SET_INDEX}=1`);
    expectCleanRejection(r, /guest\.args: expected at most 64 items/);
  });

  it("paths with too many segments and oversized arguments are refused", async () => {
    expectCleanRejection(
      await ferry("config", "check", hello, "--set", `${"a.".repeat(40)}b=1`),
      /above the limit of 16/,
    );
    expectCleanRejection(
      await ferry("config", "check", hello, "--set", `name=${"x".repeat(70_000)}`),
      /above the limit of 65536/,
    );
  });
});

describe("config files: size, kind, encoding, YAML resources", () => {
  const dir = tmp();
  const bomb = join(dir, "bomb.yaml");
  const levels = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
  writeFileSync(
    bomb,
    `${levels
      .map((l, i) =>
        i === 0
          ? `${l}: &${l} [x, x, x, x, x, x, x, x, x]`
          : `${l}: &${l} [${Array(9)
              .fill(`*${levels[i - 1]}`)
              .join(", ")}]`,
      )
      .join("\n")}\nname: bomb\n`,
  );
  const big = join(dir, "big.yaml");
  writeFileSync(big, `name: big\n# ${"x".repeat(MAX_CONFIG_BYTES)}\n`);
  const deep = join(dir, "deep.yaml");
  writeFileSync(deep, `name: deep\nguest: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`);
  const deepBlock = join(dir, "deep-block.yaml");
  writeFileSync(deepBlock, `name: deep\nguest: ${"{a: ".repeat(80)}1${"}".repeat(80)}\n`);
  const binary = join(dir, "binary.yaml");
  writeFileSync(binary, Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0xfe, 0x0a]));
  const subdir = join(dir, "a-directory");
  mkdirSync(subdir);

  it.each([
    ["/dev/zero", /\/dev\/zero: expected the config as a regular file, found a character device/],
    [subdir, /expected the config as a regular file, found a directory/],
    [join(dir, "missing.yaml"), /missing\.yaml: cannot read the config: no such file/],
    [big, new RegExp(`above the limit of ${MAX_CONFIG_BYTES} bytes`)],
    [bomb, /alias expansions/],
    [deep, /nests .* more than 64 levels deep/],
    [deepBlock, /nests .* 64 levels deep/],
    [binary, /expected UTF-8 text, found invalid UTF-8 at byte 6/],
  ])("config check %s", async (file, pattern) => {
    const r = await ferry("config", "check", file);
    expectCleanRejection(r, pattern);
    expect(r.wallMs).toBeLessThan(10_000);
  });

  it("more than 20 problems are listed as 20 lines and a count", async () => {
    const many = join(dir, "many.yaml");
    writeFileSync(many, Array.from({ length: 50 }, (_, i) => `k${i}: 1`).join("\n"));
    const r = await ferry("config", "check", many);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/… and \d+ more/);
    expect(r.err.split("\n").length).toBeLessThan(25);
  });
});

describe("configs that pass config check can run", () => {
  it.each([
    [
      ["machine.mips=1e-9"],
      /machine\.mips: expected machine\.slice × machine\.mips to allow at least one instruction/,
    ],
    [["machine.slice=1ns"], /machine\.slice: expected a slice of at least 1us/],
    [
      ["machine.slice=5us", "machine.mips=0.1"],
      /at least one instruction per slice \(slice ≥ 10000 ns/,
    ],
    [["run.time-limit=1e10"], /run\.time-limit: expected a duration of at most 2\^53-1 ns/],
    [["run.time-limit=9007199254740993ns"], /at most 2\^53-1 ns/],
    [
      ["migration.start-after=1e300"],
      /migration\.start-after: expected a duration of at most 2\^53-1 ns/,
    ],
    [
      ["guest.elf=/tmp"],
      /guest\.elf: expected an ELF file at \/tmp: expected the guest ELF as a regular file, found a directory/,
    ],
    [["guest.elf=/dev/zero"], /guest\.elf: .*found a character device/],
    [["guest.elf=/etc/hostname"], /guest\.elf: .*ELF: /],
  ])("config check hello --set %j is refused", async (sets, pattern) => {
    const r = await ferry("config", "check", hello, ...sets.flatMap((s) => ["--set", s]));
    expectCleanRejection(r, pattern);
  });

  it("run refuses a device as guest.elf before reading it", async () => {
    expectCleanRejection(
      await ferry("run", hello, "--set", "guest.elf=/dev/zero"),
      /guest\.elf: .*character device/,
    );
  });

  it("link.bandwidth 0 is refused; unlimited is explicit", async () => {
    expectCleanRejection(
      await ferry("config", "check", workload, "--set", "migration.link.bandwidth=0"),
      /migration\.link\.bandwidth: expected a bandwidth above 0 \(write "unlimited" for no limit\)/,
    );
    const ok = await ferry(
      "config",
      "check",
      workload,
      "--set",
      "migration.link.bandwidth=unlimited",
    );
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/link unlimited/);
    const m = await ferry(
      "migrate",
      workload,
      "--set",
      "migration.link.bandwidth=unlimited",
      "--set",
      "run.time-limit=700ms",
      "--json",
    );
    expect(JSON.parse(m.out)).toMatchObject({ status: "completed", exitCode: 0 });
  });

  it("the largest accepted slice × mips and durations still pass", async () => {
    const r = await ferry(
      "config",
      "check",
      hello,
      "--set",
      "machine.slice=10us",
      "--set",
      "machine.mips=0.1",
      "--set",
      "run.time-limit=9007199254740991ns",
    );
    expect(r.code, r.err).toBe(0);
  });
});

describe("output paths are checked before the work", () => {
  const dir = tmp();
  const aFile = join(dir, "a-file");
  writeFileSync(aFile, "x");

  it.each([
    [join(dir, "missing", "x.snap"), /its directory .* is no such file or directory/],
    [dir, /expected a file name for the snapshot file, found a directory/],
    ["/dev/full", /expected a regular file for the snapshot file/],
    [join(aFile, "x.snap"), /is not a directory/],
  ])("snapshot --out %s", async (out, pattern) => {
    // --at is far beyond the guest's end: a check after the run would not be reached quickly
    const r = await ferry("snapshot", workload, "--at", "2s", "--out", out);
    expectCleanRejection(r, pattern);
    expect(r.wallMs).toBeLessThan(5000);
  });

  it.each([
    ["/proc/x", /cannot create the report directory \(\/proc\/x\)/],
    ["/proc/self/x/y", /report directory/],
    [aFile, /a-file is not a directory/],
    [join(aFile, "sub"), /not a directory/],
  ])("migrate --report %s fails before the migration, without looping", async (report, pattern) => {
    const r = await ferry("migrate", workload, "--report", report);
    expectCleanRejection(r, pattern);
    expect(r.wallMs).toBeLessThan(5000);
  });

  it("compare --report checks first too", async () => {
    const r = await ferry("compare", workload, "--strategies", "precopy", "--report", aFile);
    expectCleanRejection(r, /not a directory/);
  });
});

describe("plugins and error messages", () => {
  const fixture = join(root, "packages/cli/test/fixtures/throwing-register-plugin.ts");

  it("a plugin whose register() throws is exit 2 with a cut, one-line message", async () => {
    const r = await ferry("migrate", workload, "--plugin", fixture);
    expectCleanRejection(r, /its register\(\) threw: register failed: x+… \(\d+ more characters\)/);
    expect(r.err.length).toBeLessThan(1000);
  });

  it("--json carries the same bounded message", async () => {
    const r = await ferry("migrate", workload, "--plugin", fixture, "--json");
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.out) as { error: string };
    expect(doc.error.length).toBeLessThan(1000);
  });

  it("a huge bad value is quoted with at most a few dozen bytes", async () => {
    const r = await ferry(
      "config",
      "check",
      hello,
      "--set",
      `machine.memory=${"9".repeat(60_000)}x`,
    );
    expectCleanRejection(r, /machine\.memory/);
  });
});

describe("other commands' inputs", () => {
  it.each([
    [["isa-test", "/tmp"], /\/tmp: expected the ELF file as a regular file, found a directory/],
    [["isa-test", "/dev/zero"], /found a character device/],
    [
      ["isa-test", join(root, "examples/guests/hello.elf"), "--time-limit", "soon"],
      /expected a duration/,
    ],
    [
      ["isa-test", join(root, "examples/guests/hello.elf"), "--time-limit", "200000000s"],
      /at most 2\^53-1 ns/,
    ],
    [
      ["snapshot", hello, "--at", "9999999999s", "--out", "/tmp/x.snap"],
      /--at 9999999999s: expected a duration of at most 2\^53-1 ns/,
    ],
  ])("ferry %j", async (argv, pattern) => {
    const r = await ferry(...argv);
    expect(r.err.split("\n")[0]).toMatch(pattern);
    expect(r.code).toBe(2);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
