import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** `ferry migrate <config> --json` with `machine.cpu-engine` set, as parsed JSON without wall time. */
function migrate(config: string, engine: string, ...extra: string[]): Record<string, unknown> {
  const p = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "packages/cli/src/bin.ts",
      "migrate",
      config,
      "--set",
      `machine.cpu-engine=${engine}`,
      "--json",
      ...extra,
    ],
    { cwd: root, encoding: "utf8" },
  );
  expect(p.status).toBe(0);
  const report = JSON.parse(p.stdout) as Record<string, unknown>;
  delete report.wallMs;
  return report;
}

describe("machine.cpu-engine", () => {
  it("jit and interpreter give the same migration: statistics, series, dirty pages, output", () => {
    const jit = migrate("examples/configs/multihart.yaml", "jit");
    const interpreter = migrate("examples/configs/multihart.yaml", "interpreter");
    expect(jit.status).toBe("completed");
    expect(jit).toEqual(interpreter);
  }, 120_000);

  it("and the same auto-converge migration (throttling through the pre-run hook)", () => {
    const args = ["--capability", "auto-converge=on"];
    const jit = migrate("examples/configs/memtouch-autoconverge.yaml", "jit", ...args);
    const interpreter = migrate(
      "examples/configs/memtouch-autoconverge.yaml",
      "interpreter",
      ...args,
    );
    expect(jit.status).toBe("completed");
    const ac = (jit.stats as { "auto-converge": { "throttle-sleeps": number } })["auto-converge"];
    expect(ac["throttle-sleeps"]).toBeGreaterThan(0);
    expect(jit).toEqual(interpreter);
  }, 180_000);

  it("refuses an unknown engine with exit 2", () => {
    const p = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "packages/cli/src/bin.ts",
        "run",
        "examples/configs/hello.yaml",
        "--set",
        "machine.cpu-engine=qemu",
      ],
      { cwd: root, encoding: "utf8" },
    );
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/machine\.cpu-engine/);
  });
});

describe("an ELF whose entry point is outside RAM/ROM", () => {
  it("is refused with exit 2 and a message naming the entry point", () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-entry-"));
    const elf = new Uint8Array(readFileSync(join(root, "examples/guests/hello.elf")));
    new DataView(elf.buffer).setUint32(24, 0x10000000, true); // e_entry: the UART
    writeFileSync(join(dir, "bad.elf"), elf);
    writeFileSync(join(dir, "bad.yaml"), "name: bad\nguest: { elf: bad.elf }\n");
    const p = spawnSync(
      process.execPath,
      ["--import", "tsx", "packages/cli/src/bin.ts", "run", join(dir, "bad.yaml")],
      { cwd: root, encoding: "utf8" },
    );
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/entry point 0x10000000 is outside every RAM\/ROM region/);
  });
});
