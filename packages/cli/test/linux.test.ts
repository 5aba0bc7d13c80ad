/**
 * End-to-end: the committed Linux guest (examples/guests/linux) boots on ferry's `virt` machine
 * with its SBI firmware, runs a short /init workload and powers off with exit 0. Runs as a
 * process (tsx) because the interpreter is much slower under vitest's module transform.
 */
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A short workload: 2 workers, 32 KiB each, 2 passes. */
const SHORT = "console=ttyS0 earlycon=sbi procs=2 ws=32 passes=2 every=1";

function ferryProcess(...argv: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    cwd: root,
    encoding: "utf8",
    timeout: 600_000,
  });
}

describe("Linux guest", () => {
  it("boots, runs /init's workers, verifies them and powers off (exit 0)", () => {
    const p = ferryProcess(
      "run",
      "examples/configs/linux.yaml",
      "--set",
      `guest.bootargs=${SHORT}`,
    );
    expect(p.stdout).toMatch(/Linux version 6\.1\.\d+/);
    expect(p.stdout).toContain("Machine model: ferry,virt");
    expect(p.stdout).toContain("ferry-linux-init: 2 workers, 32 KiB each, 2 passes, spin 0");
    for (const w of [0, 1]) {
      expect(p.stdout).toContain(`worker ${w} pass 2 checksum`);
      expect(p.stdout).toContain(`worker ${w} verified 32 KiB`);
    }
    expect(p.stdout).toContain("ferry-linux-init: all workers verified, powering off");
    expect(p.stderr).toMatch(/^ferry: linux: pass \(guest code 0\)/);
    expect(p.status).toBe(0);
  }, 600_000);

  it("live-migrates mid-workload with pre-copy and verifies (RAM, state, output, exit)", () => {
    const p = ferryProcess(
      "migrate",
      "examples/configs/linux-migrate.yaml",
      "--set",
      "guest.bootargs=console=ttyS0 earlycon=sbi printk.time=0 procs=2 ws=128 passes=6 every=2",
      "--set",
      "migration.start-after=240ms",
    );
    expect(p.stdout).toContain("Migration status: completed");
    expect(p.stdout).toMatch(/guest output = unmigrated: +ok/);
    expect(p.stdout).toContain("verified: yes");
    expect(p.stdout).toContain("ferry-linux-init: all workers verified, powering off");
    expect(p.status).toBe(0);
  }, 600_000);
});
