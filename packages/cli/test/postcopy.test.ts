/**
 * Post-copy on real RISC-V guests through the CLI's `runMigration` (what `ferry migrate` runs):
 * memtouch and multihart switch to post-copy after one pre-copy pass; the destination faults
 * pages in from the source; output and exit equal an unmigrated run, the shadow source's
 * continuation matches, and the RAM check holds at the end (every page the destination did not
 * write equals the source's at the switch).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig, runMigration } from "../src/index";

const config = (name: string): string =>
  fileURLToPath(new URL(`../../../examples/configs/${name}`, import.meta.url));

async function postcopyRun(
  name: string,
  parameters: Record<string, string | number>,
  overrides: string[] = [],
) {
  const file = config(name);
  return runMigration(loadConfig(file, overrides), {
    configFile: file,
    capabilities: { "postcopy-ram": true },
    parameters,
  });
}

describe("post-copy on RISC-V guests (ferry migrate)", () => {
  it("memtouch: switches after one pass and verifies", async () => {
    const r = await postcopyRun("memtouch-migrate.yaml", {
      "x-postcopy-after-passes": 1,
      "max-bandwidth": "16MiB/s",
    });
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    expect(r.verification.ramEqual).toBe(true);
    expect(r.verification.destinationRamHash).toBe("postcopy");
    const info = r.stats as Record<string, unknown>;
    const ram = info.ram as Record<string, number>;
    expect(ram["postcopy-requests"]).toBeGreaterThan(0);
    expect(info["postcopy-latency"]).toBeGreaterThan(0);
    expect(r.guestOutput.combined).toBe(r.guestOutput.reference);
  });

  it("memtouch with dirty rings: the RAM check sees the destination's ring-tracked writes", async () => {
    // Regression: with `dirty-tracking: ring` the destination's writes sit in its rings (or were
    // harvested and re-armed) — the check must sync the log, not read its live words.
    const r = await postcopyRun(
      "memtouch-migrate.yaml",
      { "x-postcopy-after-passes": 1, "max-bandwidth": "32MiB/s" },
      ["machine.dirty-tracking=ring", "machine.dirty-ring-size=256", "guest.args.2=60"],
    );
    expect(r.status).toBe("completed");
    expect(r.verification.ramEqual).toBe(true);
    expect(r.verification.verified).toBe(true);
  });

  it("xbzrle + post-copy: deltas in pre-copy, whole pages after the switch; verifies", async () => {
    const r = await runMigration(loadConfig(config("memtouch-migrate.yaml"), []), {
      configFile: config("memtouch-migrate.yaml"),
      capabilities: { "postcopy-ram": true, xbzrle: true },
      parameters: {
        "x-postcopy-after-passes": 2,
        "max-bandwidth": "16MiB/s",
        "downtime-limit": "10ms",
      },
    });
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    const info = r.stats as Record<string, unknown>;
    expect(info["xbzrle-cache"]).toBeTypeOf("object");
    expect((info.ram as Record<string, number>)["postcopy-bytes"]).toBeGreaterThan(0);
  });

  it("multihart (2 vCPUs): switches 3 ms in, in the middle of the bulk pass, and verifies", async () => {
    // A slow link with a small buffer paces the bulk pass, so the switch comes before it ends:
    // the pages never sent are discarded too and fault in from the source.
    const r = await postcopyRun("multihart.yaml", { "x-postcopy-after-ms": 3 }, [
      "guest.args=[2, 64KiB, 200, 500]",
      "migration.start-after=2ms",
      "migration.link.bandwidth=20Mbit/s",
      "migration.link.buffer=32KiB",
    ]);
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    const info = r.stats as Record<string, unknown>;
    expect((info["postcopy-vcpu-blocktime"] as number[]).length).toBe(2);
    expect(r.verification.ramEqual).toBe(true);
    expect(r.verification.continuationEqual).toBe(true);
  });
});
