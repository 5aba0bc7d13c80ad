import { describe, expect, it } from "vitest";
import { main } from "../migrate-two-machines";

describe("examples/compose/migrate-two-machines", () => {
  it("migrates memtouch from A to B with xbzrle + auto-converge; B finishes it identically", async () => {
    const r = await main({ print: false });
    expect(r.status).toBe("completed");
    expect(r.states).toEqual(["setup", "active", "device", "completed"]);
    expect(r.exit).toBe("pass");
    expect(r.output).toBe(r.referenceOutput);
    expect(r.outputOnB).toMatch(/memtouch done: passes=200 checksum=0x[0-9a-f]{8}\n$/);
    expect(r.output.length).toBeGreaterThan(r.outputOnB.length); // A printed the start
    // Both capabilities really worked.
    expect(r.maxThrottle).toBeGreaterThanOrEqual(20);
    const cache = r.info["xbzrle-cache"] as Record<string, number>;
    expect(cache.pages).toBeGreaterThan(0);
    expect(r.syncs).toBe(r.info.ram!["dirty-sync-count"]);
    expect(r.report).toMatch(/^Migration status: completed/);
    expect(r.report).toMatch(/xbzrle pages: \d+ pages/);
  });
});
