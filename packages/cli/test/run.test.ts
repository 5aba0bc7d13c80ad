import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { captureIo, type GuestRunReport, loadConfig, main, runGuest } from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const config = (name: string): string => join(root, "examples/configs", `${name}.yaml`);
const expected = (name: string): string =>
  readFileSync(join(root, "examples/guests/expected", `${name}.txt`), "utf8");

async function ferry(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** Run the real binary (tsx-compiled; much faster than the vitest transform for long guests). */
function ferryProcess(...argv: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    cwd: root,
    encoding: "utf8",
  });
}

describe("ferry run on every committed guest", () => {
  // memtouch (~118 M instructions) runs as a process: under vitest's module transform the
  // interpreter is ~10x slower than under tsx.
  it("memtouch: output equals QEMU's expected output, exit 0", () => {
    const p = ferryProcess("run", "examples/configs/memtouch.yaml");
    expect(p.stdout).toBe(expected("memtouch"));
    expect(p.stderr).toMatch(
      /^ferry: memtouch: pass \(guest code 0\) after 118[0-9.]+ ms virtual, 1183\d{5} instructions/,
    );
    expect(p.status).toBe(0);
  });

  for (const guest of ["hello", "idle", "multihart"]) {
    it(`${guest}: output equals QEMU's expected output, exit 0`, async () => {
      const r = await ferry("run", config(guest));
      expect(r.out).toBe(expected(guest));
      expect(r.err).toMatch(new RegExp(`^ferry: ${guest}: pass \\(guest code 0\\) after`));
      expect(r.code).toBe(0);
    });
  }
});

describe("ferry run outcomes", () => {
  it("--json reports status, exit code, output, virtual time and instructions", async () => {
    const r = await ferry("run", config("hello"), "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as GuestRunReport;
    expect(report).toMatchObject({
      status: "pass",
      exitCode: 0,
      guestCode: 0,
      guestOutput: expected("hello"),
    });
    expect(report.virtualTimeNs).toBeGreaterThan(0);
    expect(report.instructions).toBeGreaterThan(1000);
    expect(typeof report.wallMs).toBe("number");
  });

  it("passes guest.args through the boot-argument block", async () => {
    const r = await ferry(
      "run",
      config("memtouch"),
      "--set",
      "guest.args=[64KiB, 8192, 3, 16, 5, 1]",
    );
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toBe("memtouch: ws=65536 stride=8192 passes=3 words=16 spin=5 print-every=1");
    expect(lines.filter((l) => l.startsWith("pass "))).toHaveLength(3);
    const idle = await ferry("run", config("idle"), "--set", "guest.args.0=3");
    expect(idle.out).toBe("idle: ticks=3 period-us=1000\ntick 1\ntick 2\ntick 3\nidle done\n");
  });

  it("is deterministic: the same config gives the same report (but wall time)", async () => {
    const c = loadConfig(config("multihart"), ["guest.args.2=2"]);
    const a = await runGuest(c);
    const b = await runGuest(c);
    expect({ ...a, wallMs: 0 }).toEqual({ ...b, wallMs: 0 });
    expect(a.status).toBe("pass");
  });

  it("exits 1 when the guest exits fail, with its code", async () => {
    const r = await ferry("run", config("memtouch"), "--set", "guest.args.0=64MiB", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ status: "fail", exitCode: 1, guestCode: 2 });
  });

  it("exits 3 on the time limit, keeping the output so far", async () => {
    const r = await ferry("run", config("idle"), "--set", "run.time-limit=5ms");
    expect(r.code).toBe(3);
    expect(expected("idle").startsWith(r.out)).toBe(true);
    expect(r.out).toContain("tick 3\n");
    expect(r.out).not.toContain("tick 6\n");
    expect(r.err).toMatch(/time-limit/);
  });

  it("exits 2 on bad input: missing config, invalid config, missing or invalid ELF, usage", async () => {
    const missing = await ferry("run", join(root, "examples/configs/none.yaml"));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/none\.yaml: cannot read the config/);

    const invalid = await ferry("run", config("hello"), "--set", "machine.vcpus=0");
    expect(invalid.code).toBe(2);
    expect(invalid.err).toMatch(/machine\.vcpus: expected >= 1, found 0/);

    const dir = mkdtempSync(join(tmpdir(), "ferry-cli-"));
    writeFileSync(join(dir, "noelf.yaml"), "name: x\nguest: { elf: nothing.elf }\n");
    const noElf = await ferry("run", join(dir, "noelf.yaml"));
    expect(noElf.code).toBe(2);
    expect(noElf.err).toMatch(/guest\.elf: expected an ELF file, found no file/);

    writeFileSync(join(dir, "notelf.yaml"), "name: x\nguest: { elf: notelf.yaml }\n");
    const notElf = await ferry("run", join(dir, "notelf.yaml"), "--json");
    expect(notElf.code).toBe(2);
    expect(JSON.parse(notElf.out)).toMatchObject({ status: "error", exitCode: 2 });
    expect(JSON.parse(notElf.out).error).toMatch(/ELF/);

    const usage = await ferry("run");
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/expected one config file, found 0/);
    expect(usage.err).toContain("Usage: ferry run");
    const unknown = await ferry("run", config("hello"), "--bogus");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/bogus/);
  });
});

describe("the ferry binary", () => {
  it("maps the outcome to the process exit code", () => {
    const p = ferryProcess("run", "examples/configs/idle.yaml", "--set", "run.time-limit=1us");
    expect(p.status).toBe(3);
    expect(p.stderr).toMatch(/time-limit/);
  });
});
