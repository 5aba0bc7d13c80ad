/**
 * Multifd on real RISC-V guests through the CLI's `runMigration` (what `ferry migrate` and
 * `ferry compare` run): pages travel in packets over the link's data channels, with and without
 * compression, alone and with auto-converge, and every run is verified (RAM and state equal at
 * switchover, destination output and exit equal to an unmigrated run).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig, type MigrateReport, runMigration } from "../src/index";

const config = (name: string) =>
  fileURLToPath(new URL(`../../../examples/configs/${name}.yaml`, import.meta.url));

async function migrate(
  name: string,
  capabilities: Record<string, boolean>,
  parameters: Record<string, string> = {},
): Promise<MigrateReport> {
  const file = config(name);
  return runMigration(loadConfig(file, []), { configFile: file, capabilities, parameters });
}

function multifdOf(r: MigrateReport): Record<string, number> {
  return r.stats?.["x-multifd"] as Record<string, number>;
}

describe("multifd on real guests", () => {
  it("memtouch: 4 channels with zlib, verified; the pages went on the channels", async () => {
    const r = await migrate(
      "memtouch-migrate",
      { multifd: true },
      { "multifd-channels": "4", "multifd-compression": "zlib" },
    );
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    const ram = r.stats?.ram;
    expect(ram?.["multifd-bytes"]).toBeGreaterThan(0);
    expect(ram?.transferred).toBeGreaterThan(ram?.["multifd-bytes"] ?? 0);
    const m = multifdOf(r);
    expect(m.channels).toBe(4);
    // memtouch's pages are pseudo-random words: zlib saves nothing on them
    expect(m["compression-ratio"]).toBeGreaterThan(0.99);
    expect(m.syncs).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 4; i++) expect(m[`channel-${i}-bytes`]).toBeGreaterThan(0);
  });

  it("multihart: 2 channels with zstd, verified", async () => {
    const r = await migrate("multihart", { multifd: true }, { "multifd-compression": "zstd" });
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    expect(multifdOf(r).channels).toBe(2);
  });

  it("memtouch-autoconverge: multifd + auto-converge completes, verified", async () => {
    // max-bandwidth counts multifd bytes per 512 KiB packet, as in QEMU: the 512 KiB working set
    // leaves in one packet before a 64 KiB window can stop it, so this converges unthrottled.
    const r = await migrate("memtouch-autoconverge", { multifd: true, "auto-converge": true });
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    expect(multifdOf(r).syncs).toBeGreaterThanOrEqual(2);
  });

  it("refuses xbzrle with multifd (QEMU's rule)", async () => {
    await expect(migrate("memtouch-migrate", { multifd: true, xbzrle: true })).rejects.toThrow(
      /conflicts with capability "(xbzrle|multifd)"/,
    );
  });
});
