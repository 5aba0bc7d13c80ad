import { describe, expect, it } from "vitest";
import { main } from "../snapshot-restore";

describe("examples/compose/snapshot-restore", () => {
  it("a restored machine continues from the snapshot point with identical output", async () => {
    const r = await main({ print: false });
    expect(r.exitA).toBe("pass");
    expect(r.exitB).toBe("pass");
    expect(r.beforeSnapshot.length).toBeGreaterThan(0); // the snapshot was taken mid-run
    expect(r.outputB.length).toBeGreaterThan(0);
    expect(r.beforeSnapshot + r.outputB).toBe(r.outputA);
    expect(r.outputA).toMatch(/memtouch done: passes=30 checksum=0x[0-9a-f]{8}\n$/);
    // 16 MiB of RAM: every page is in the file, zero pages as ZERO records.
    expect(r.snapshot.zeroPages + r.snapshot.normalPages).toBe(4096);
    expect(r.snapshot.normalPages).toBeGreaterThanOrEqual(256); // the 1 MiB working set
    expect(r.fileBytes).toBe(r.snapshot.bytes);
  });
});
