/**
 * End-to-end migrations with the `xbzrle` capability on: two machines on one VirtualScheduler
 * over a virtual link, with the dirtying test backend and with the committed RISC-V guests.
 */
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier, type UniformDirtierOptions } from "@ferry/sim";
import {
  createLink,
  createMigrationManager,
  formatInfoMigrate,
  incoming,
  type Migration,
  type SyncStats,
} from "@ferry/migration";
import { describe, expect, it } from "vitest";
import { precopy } from "@ferry/plugin-precopy";
import { type XbzrleCacheQmp, xbzrle } from "../src/index";
import { type GuestSpec, runMigrated, runPlain } from "./guest";

const MiB = 1024 * 1024;
const MS = 1_000_000;

function dirtierMachine(s: VirtualScheduler, opts: UniformDirtierOptions): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier(opts),
    vcpus: 2,
    memory: { size: 4 * MiB },
  });
}

function sameRam(a: Machine, b: Machine): boolean {
  const x = a.ram.backend.bytes!;
  const y = b.ram.backend.bytes!;
  return Buffer.from(x.buffer, x.byteOffset, x.length).equals(
    Buffer.from(y.buffer, y.byteOffset, y.length),
  );
}

async function runUntilDone(s: VirtualScheduler, m: Migration, limitNs: number): Promise<void> {
  await s.run({
    untilNs: s.now() + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed" || m.status === "cancelled",
  });
}

function xbzrleInfo(m: Migration): XbzrleCacheQmp {
  return m.info()["xbzrle-cache"] as XbzrleCacheQmp;
}

describe("xbzrle with the dirtying test backend", () => {
  const dirty: UniformDirtierOptions = { writesPerSecond: 40_000, footprintPages: 300, seed: 9 };

  /** Migrate with xbzrle on; with `pauseAfterNs`, the source is paused then (it converges). */
  async function migrate(cacheSize: number, downtimeLimit: number, pauseAfterNs?: number) {
    const s = new VirtualScheduler();
    const src = dirtierMachine(s, dirty);
    const dst = dirtierMachine(s, dirty);
    src.start();
    await s.run({ untilNs: 50 * MS });
    const mgr = createMigrationManager({ plugins: [precopy(), xbzrle()] });
    mgr.setCapabilities({ xbzrle: true });
    mgr.setParameters({
      "xbzrle-cache-size": cacheSize,
      "max-bandwidth": 2 * MiB,
      "downtime-limit": downtimeLimit,
    });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: MS });
    const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
    const m = mgr.migrate({ machine: src, transport: link.source });
    let equal: boolean | null = null;
    const syncs: SyncStats[] = [];
    m.events.on("sync", (st) => syncs.push(st));
    m.events.on("complete", () => {
      equal = sameRam(src, dst);
    });
    let activeAtPause = "";
    if (pauseAfterNs !== undefined) {
      await runUntilDone(s, m, pauseAfterNs);
      activeAtPause = m.status;
      await src.pause();
    }
    await runUntilDone(s, m, 30_000 * MS);
    const r = await inc.done;
    return { m, equal, syncs, r, src, dst, s, activeAtPause };
  }

  it("destination RAM and state equal the source's at switchover (default 64 MiB cache)", async () => {
    const { m, equal, r, src, dst, s } = await migrate(64 * MiB, 20);
    expect(m.status).toBe("completed");
    expect(equal).toBe(true);
    expect(r.status).toBe("completed");
    expect(dst.saveState()).toEqual(src.saveState());
    const x = xbzrleInfo(m);
    expect(x["cache-size"]).toBe(64 * MiB);
    expect(x.pages).toBeGreaterThan(100);
    expect(x["cache-miss"]).toBeGreaterThan(0);
    expect(x.bytes).toBeGreaterThan(0);
    // a page with a few 4-byte stores costs far less than 4 KiB
    expect(x.bytes / x.pages).toBeLessThan(1024);
    const info = m.info();
    expect(info.ram!["dirty-sync-count"]).toBeGreaterThan(3);
    const text = formatInfoMigrate(info);
    expect(text).toContain(`cache size: ${64 * MiB} bytes\n`);
    expect(text).toContain(`xbzrle transferred: ${Math.floor(x.bytes / 1024)} kbytes\n`);
    expect(text).toContain(`xbzrle pages: ${x.pages} pages\n`);
    expect(text).toContain(`xbzrle cache miss: ${x["cache-miss"]} pages\n`);
    expect(text).toMatch(/\nxbzrle cache miss rate: \d+\.\d\d\n/);
    expect(text).toMatch(/\nxbzrle encoding rate: \d+\.\d\d\n/);
    expect(text).toContain(`xbzrle overflow: ${x.overflow}\n`);
    // the destination runs on
    const before = dst.workDone();
    await s.run({ untilNs: s.now() + 10 * MS });
    expect(dst.workDone()).toBeGreaterThan(before);
  });

  it("stays correct with a cache smaller than RAM (pages share slots, inserts are refused)", async () => {
    // 256 slots for 1024 pages: working-set pages 0..43 and 256..299 share slots. The ~40 misses
    // per round keep it from converging at 2 MiB/s, so after 2 s of rounds the source is paused
    // (as a user would): the next sync sees a paused machine, then the switchover.
    const { m, equal, r, syncs, activeAtPause } = await migrate(256 * 4096, 300, 2000 * MS);
    expect(activeAtPause).toBe("active");
    expect(m.status).toBe("completed");
    expect(equal).toBe(true);
    expect(r.status).toBe("completed");
    const x = xbzrleInfo(m);
    expect(x["cache-size"]).toBe(256 * 4096);
    expect(x.pages).toBeGreaterThan(0);
    expect(x.pages).toBeGreaterThan(1000);
    expect(x["cache-miss"]).toBeGreaterThan(500);
    // the migration lasts over a second: QEMU's per-second rates were computed
    expect(syncs[syncs.length - 1].nowNs - syncs[0].nowNs).toBeGreaterThan(1000 * MS);
    expect(x["cache-miss-rate"]).toBeGreaterThan(0);
    expect(x["cache-miss-rate"]).toBeLessThanOrEqual(1);
    expect(x["encoding-rate"]).toBeGreaterThan(1);
  });

  it("the capability off: the same guest does not converge; no xbzrle-cache section", async () => {
    const s = new VirtualScheduler();
    const src = dirtierMachine(s, dirty);
    const dst = dirtierMachine(s, dirty);
    src.start();
    await s.run({ untilNs: 50 * MS });
    const mgr = createMigrationManager({ plugins: [precopy(), xbzrle()] });
    mgr.setParameters({ "max-bandwidth": 2 * MiB, "downtime-limit": 20 });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: MS });
    const inc = incoming({ machine: dst, transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    await runUntilDone(s, m, 3000 * MS);
    expect(m.status).toBe("active");
    expect(m.info()["xbzrle-cache"]).toBeUndefined();
    expect(formatInfoMigrate(m.info())).not.toContain("xbzrle");
    m.cancel();
    await runUntilDone(s, m, 1000 * MS);
    expect(m.status).toBe("cancelled");
    expect((await inc.done).status).toBe("failed");
  });
});

describe("xbzrle with RISC-V guests", () => {
  const LIMIT = 30_000 * MS;

  it("memtouch migrated mid-run ends with the output, checksum and exit code of an unmigrated run", async () => {
    const spec: GuestSpec = {
      elf: "memtouch",
      vcpus: 1,
      memoryBytes: 4 * MiB,
      mips: 50,
      args: [512 * 1024, 4096, 40, 16, 2000, 10],
    };
    const plain = await runPlain(new VirtualScheduler(), spec, LIMIT);
    expect(plain.reason).toBe("shutdown");
    expect(plain.code).toBe(0);
    expect(plain.output).toMatch(/memtouch done: passes=40 checksum=0x[0-9a-f]{8}\n$/);
    const r = await runMigrated(new VirtualScheduler(), spec, {
      plugins: [precopy(), xbzrle()],
      capabilities: { xbzrle: true },
      parameters: { "max-bandwidth": 4 * MiB, "downtime-limit": 20 },
      startAfterNs: 50 * MS,
      bandwidth: 100 * MiB,
      latencyNs: MS,
      migrationLimitNs: 5000 * MS,
      limitNs: LIMIT,
    });
    expect(r.info.status).toBe("completed");
    expect(r.ramEqualAtSwitchover).toBe(true);
    const x = r.info["xbzrle-cache"] as XbzrleCacheQmp;
    // every page of the working set was re-sent as a delta at least once
    expect(x.pages).toBeGreaterThanOrEqual(128);
    expect(r.reason).toBe("shutdown");
    expect(r.code).toBe(plain.code);
    expect(r.output).toBe(plain.output);
  });

  it("multihart migrated mid-run ends like an unmigrated run", async () => {
    const spec: GuestSpec = {
      elf: "multihart",
      vcpus: 2,
      memoryBytes: 4 * MiB,
      mips: 50,
      args: [2, 64 * 1024, 8, 500],
    };
    const plain = await runPlain(new VirtualScheduler(), spec, LIMIT);
    expect(plain.reason).toBe("shutdown");
    expect(plain.code).toBe(0);
    expect(plain.output).toContain("counter 16000 expected 16000\nmultihart done\n");
    const r = await runMigrated(new VirtualScheduler(), spec, {
      plugins: [precopy(), xbzrle()],
      capabilities: { xbzrle: true },
      parameters: { "max-bandwidth": 8 * MiB, "downtime-limit": 10 },
      startAfterNs: 5 * MS,
      bandwidth: 100 * MiB,
      latencyNs: MS,
      migrationLimitNs: 5000 * MS,
      limitNs: LIMIT,
    });
    expect(r.info.status).toBe("completed");
    expect(r.ramEqualAtSwitchover).toBe(true);
    expect(r.reason).toBe("shutdown");
    expect(r.code).toBe(plain.code);
    expect(r.output).toBe(plain.output);
  });
});

describe("the convergence scenario", () => {
  // memtouch rewrites 4 words of each page of a 1 MiB working set, a pass every ~32 ms: far
  // faster than a 4 MiB/s link carries 1 MiB of full pages (250 ms), but a delta is ~30 bytes.
  const spec: GuestSpec = {
    elf: "memtouch",
    vcpus: 1,
    memoryBytes: 4 * MiB,
    mips: 10,
    args: [1 * MiB, 4096, 100, 4, 400, 50],
  };
  const opts = {
    plugins: [precopy(), xbzrle()],
    parameters: { "max-bandwidth": 4 * MiB, "downtime-limit": 30 },
    startAfterNs: 100 * MS,
    bandwidth: 100 * MiB,
    latencyNs: MS,
    migrationLimitNs: 2500 * MS,
    limitNs: 30_000 * MS,
  };

  it("does not converge without xbzrle; converges with it, moving several times fewer bytes", async () => {
    const plain = await runPlain(new VirtualScheduler(), spec, opts.limitNs);
    expect(plain.code).toBe(0);
    const off = await runMigrated(new VirtualScheduler(), spec, { ...opts, capabilities: {} });
    expect(off.info.status).toBe("active");
    // Still dirtying: the last syncs found pages newly dirty (remaining itself may be caught at 0,
    // between the end of a pass and the next sync).
    expect(off.info.ram!["dirty-pages-rate"]).toBeGreaterThan(0);
    const on = await runMigrated(new VirtualScheduler(), spec, {
      ...opts,
      capabilities: { xbzrle: true },
    });
    expect(on.info.status).toBe("completed");
    expect(on.ramEqualAtSwitchover).toBe(true);
    expect(on.output).toBe(plain.output);
    expect(on.code).toBe(0);
    const offBytes = off.info.ram!.transferred;
    const onBytes = on.info.ram!.transferred;
    const x = on.info["xbzrle-cache"] as XbzrleCacheQmp;
    expect(x.pages).toBeGreaterThan(200);
    expect(offBytes / onBytes).toBeGreaterThanOrEqual(3);
    console.log(
      `convergence: without xbzrle ${off.info.status} after ${off.info["total-time"]} ms, ` +
        `${offBytes} bytes sent, ${off.info.ram!.remaining} bytes remaining, ` +
        `${off.info.ram!["dirty-sync-count"]} syncs; with xbzrle ${on.info.status} in ` +
        `${on.info["total-time"]} ms (downtime ${on.info.downtime} ms), ${onBytes} bytes sent, ` +
        `${on.info.ram!["dirty-sync-count"]} syncs, xbzrle ${JSON.stringify(x)}; ` +
        `ratio ${(offBytes / onBytes).toFixed(2)}`,
    );
  });
});
