/**
 * `xbzrle-cache-size` changed during a migration (QEMU's `xbzrle_cache_resize` from
 * `migrate_params_apply`): the cache is replaced by an empty one of the new size, the migration
 * stays correct (destination RAM equals the source's at switchover) and reports the new size.
 */
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { createLink, createMigrationManager, incoming } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { uniformDirtier } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import { type XbzrleCacheQmp, xbzrle } from "../src/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;

function machine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 200_000, footprintPages: 600, seed: 9 }),
    vcpus: 2,
    memory: { size: 4 * MiB },
  });
}

describe("live xbzrle-cache-size", () => {
  it("resizes the cache mid-migration; the migration completes with equal RAM", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    await s.run({ untilNs: 50 * MS });
    const mgr = createMigrationManager({ plugins: [precopy(), xbzrle()] });
    mgr.setCapabilities({ xbzrle: true });
    mgr.setParameters({
      "xbzrle-cache-size": 4 * MiB,
      "max-bandwidth": 2 * MiB,
      "downtime-limit": 0,
    });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: MS });
    incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
    const m = mgr.migrate({ machine: src, transport: link.source });
    let equal: boolean | null = null;
    m.events.on("complete", () => {
      const x = src.ram.backend.bytes!;
      const y = dst.ram.backend.bytes!;
      equal = Buffer.from(x).equals(Buffer.from(y));
    });
    await s.run({ untilNs: s.now() + 2000 * MS });
    expect(m.status).toBe("active");
    const before = m.info()["xbzrle-cache"] as XbzrleCacheQmp;
    expect(before["cache-size"]).toBe(4 * MiB);
    expect(before.pages).toBeGreaterThan(0);
    mgr.setParameters({ "xbzrle-cache-size": 64 * 1024 });
    expect((m.info()["xbzrle-cache"] as XbzrleCacheQmp)["cache-size"]).toBe(64 * 1024);
    const missesAt = (m.info()["xbzrle-cache"] as XbzrleCacheQmp)["cache-miss"];
    await s.run({ untilNs: s.now() + 1000 * MS });
    // the new cache starts empty: pages miss again
    expect((m.info()["xbzrle-cache"] as XbzrleCacheQmp)["cache-miss"]).toBeGreaterThan(missesAt);
    src.pause();
    await s.run({
      untilNs: s.now() + 20_000 * MS,
      stopWhen: () => m.status === "completed" || m.status === "failed",
    });
    expect(m.status).toBe("completed");
    expect(equal).toBe(true);
  });
});
