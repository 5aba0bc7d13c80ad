import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { type Machine, PAGE_SIZE, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier, type UniformDirtierOptions } from "@ferry/sim";
import { precopy } from "@ferry/plugin-precopy";
import { afterAll, describe, expect, it } from "vitest";
import {
  createDirtyRateMeter,
  createLink,
  createMigrationManager,
  type IncomingTransport,
  incoming,
  type Migration,
  restoreSnapshot,
  saveSnapshot,
  StreamError,
  formatInfoMigrate,
} from "@ferry/migration";

const MiB = 1024 * 1024;
const MS = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), "ferry-migration-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function machine(scheduler: VirtualScheduler, opts: UniformDirtierOptions, ramMiB = 4): Machine {
  return createMachine({
    scheduler,
    cpu: uniformDirtier(opts),
    vcpus: 2,
    memory: { size: ramMiB * MiB },
  });
}

function ramHash(m: Machine): string {
  return createHash("sha256").update(m.ram.backend.bytes!).digest("hex");
}

/** Run the scheduler until `m` ends (or `limitNs` passes). */
async function runUntilDone(s: VirtualScheduler, m: Migration, limitNs: number): Promise<void> {
  const end = s.now() + limitNs;
  await s.run({
    untilNs: end,
    stopWhen: () => m.status === "completed" || m.status === "failed" || m.status === "cancelled",
  });
}

const dirty: UniformDirtierOptions = { writesPerSecond: 20_000, footprintPages: 200, seed: 7 };

describe("end-to-end migration over a virtual link", () => {
  it("converges; destination RAM and state equal the source's at switchover; destination runs on", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, dirty);
    const dst = machine(s, dirty);
    src.start();
    await s.run({ untilNs: 50 * MS });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: 2 * MS });
    const mgr = createMigrationManager({ plugins: [precopy()] });
    const inc = incoming({ machine: dst, transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    const states: string[] = [];
    const syncs: number[] = [];
    let atSwitch: { src: string; dst: string; srcState: unknown; dstState: unknown } | null = null;
    m.events.on("state", (st) => states.push(st));
    m.events.on("sync", (st) => syncs.push(st.syncCount));
    m.events.on("complete", () => {
      atSwitch = {
        src: ramHash(src),
        dst: ramHash(dst),
        srcState: src.saveState(),
        dstState: dst.saveState(),
      };
    });
    await runUntilDone(s, m, 20_000 * MS);
    expect(m.status).toBe("completed");
    expect(states).toEqual(["setup", "active", "device", "completed"]);
    expect(atSwitch).not.toBeNull();
    expect(atSwitch!.dst).toBe(atSwitch!.src);
    expect(atSwitch!.dstState).toEqual(atSwitch!.srcState);
    expect(syncs[0]).toBe(1);
    expect((await inc.done).status).toBe("completed");
    expect(dst.state).toBe("running");
    expect(src.state).toBe("paused");
    expect(src.ram.dirty.logging).toBe(false);

    const info = m.info();
    expect(info.status).toBe("completed");
    expect(info.ram!.total).toBe(4 * MiB);
    expect(info.ram!.duplicate).toBeGreaterThan(800);
    expect(info.ram!.normal).toBeGreaterThan(150);
    expect(info.ram!.remaining).toBeUndefined();
    expect(info.ram!["dirty-sync-count"]).toBe(syncs.length);
    expect(info.ram!.transferred).toBe(link.delivered);
    expect(info.ram!["downtime-bytes"] + info.ram!["precopy-bytes"]).toBe(info.ram!.transferred);
    const t = m.timings();
    expect(t.downtimeNs).toBeGreaterThanOrEqual(2 * MS);
    expect(info.downtime).toBeLessThanOrEqual(300 + 10);
    expect(formatInfoMigrate(info)).toMatch(/^Migration status: completed\ntotal time: \d+ ms\n/);
    expect(formatInfoMigrate(info)).toMatch(/\ndowntime: \d+ ms\n/);
    expect(m.series.length).toBeGreaterThan(0);

    // the destination keeps running the guest
    const before = dst.workDone();
    await s.run({ untilNs: s.now() + 10 * MS });
    expect(dst.workDone()).toBeGreaterThan(before);
  });

  it("a dirty-bitmap measurement ending mid-migration takes no dirty page from it", async () => {
    // The window holds the dirty log from before the migration until after it started. Ending it
    // must neither sync the log (the migration's pending pages) nor turn logging off under the
    // migration, or pages written afterwards would never be resent.
    const s = new VirtualScheduler();
    const src = machine(s, dirty);
    const dst = machine(s, dirty);
    // Non-zero pages, so the first pass takes about a second on the link.
    src.ram.backend.bytes!.fill(0x5a);
    src.start();
    await s.run({ untilNs: 50 * MS });
    const meter = createDirtyRateMeter({
      timer: s,
      blocks: () => [],
      machine: () => src,
    });
    meter.start({ calcTime: 300, unit: "millisecond", mode: "dirty-bitmap" });
    await s.run({ untilNs: 100 * MS });
    const link = createLink({ scheduler: s, bandwidth: 4 * MiB, latency: 2 * MS });
    const mgr = createMigrationManager({ plugins: [precopy()] });
    const inc = incoming({ machine: dst, transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    let atSwitch: { src: string; dst: string } | null = null;
    let windowEnded: string | null = null;
    meter.events.on("done", () => {
      windowEnded = m.status;
    });
    m.events.on("complete", () => {
      atSwitch = { src: ramHash(src), dst: ramHash(dst) };
    });
    await runUntilDone(s, m, 20_000 * MS);
    expect(windowEnded).toBe("active");
    expect(m.status).toBe("completed");
    expect(atSwitch).not.toBeNull();
    expect(atSwitch!.dst).toBe(atSwitch!.src);
    expect(meter.query().status).toBe("measured");
    expect(meter.query()["dirty-rate"]).toBeGreaterThan(0);
    expect((await inc.done).status).toBe("completed");
    // Both owners let go: tracking is off again.
    expect(src.ram.dirty.logging).toBe(false);
  });

  it("cancel leaves the source running and a second migration succeeds", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, { writesPerSecond: 200_000, seed: 3 });
    src.start();
    await s.run({ untilNs: 200 * MS });
    const mgr = createMigrationManager({ plugins: [precopy()] });
    mgr.setParameters({ "max-bandwidth": 8 * MiB });
    const link1 = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: MS });
    const dst1 = machine(s, dirty);
    const inc1 = incoming({ machine: dst1, transport: link1.destination });
    const m1 = mgr.migrate({ machine: src, transport: link1.source });
    await s.run({ untilNs: s.now() + 150 * MS });
    expect(m1.status).toBe("active");
    expect(() => mgr.setCapabilities({})).toThrow(/while a migration is active/);
    m1.cancel();
    await runUntilDone(s, m1, 1000 * MS);
    expect(m1.status).toBe("cancelled");
    expect((await m1.done).status).toBe("cancelled");
    expect((await inc1.done).status).toBe("failed");
    expect(dst1.state).toBe("created");
    expect(src.state).toBe("running");
    expect(src.ram.dirty.logging).toBe(false);
    const work = src.workDone();
    await s.run({ untilNs: s.now() + 10 * MS });
    expect(src.workDone()).toBeGreaterThan(work);

    mgr.setParameters({ "max-bandwidth": 0 });
    const link2 = createLink({ scheduler: s, bandwidth: 1000 * MiB, latency: MS });
    const dst2 = machine(s, dirty);
    const inc2 = incoming({ machine: dst2, transport: link2.destination });
    const m2 = mgr.migrate({ machine: src, transport: link2.source });
    let same = false;
    m2.events.on("complete", () => {
      same = ramHash(src) === ramHash(dst2);
    });
    await runUntilDone(s, m2, 20_000 * MS);
    expect(m2.status).toBe("completed");
    expect(same).toBe(true);
    expect((await inc2.done).status).toBe("completed");
  });

  it("cancel during the device phase resumes the source", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, dirty);
    src.start();
    const mgr = createMigrationManager({ plugins: [precopy()] });
    const link = createLink({ scheduler: s, bandwidth: 50 * MiB, latency: 20 * MS });
    const inc = incoming({ machine: machine(s, dirty), transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    m.events.on("state", (st) => {
      if (st === "device") s.after(MS, () => m.cancel());
    });
    await runUntilDone(s, m, 20_000 * MS);
    expect(m.status).toBe("cancelled");
    expect(src.state).toBe("running");
    expect((await inc.done).status).toBe("failed");
  });

  it("a dropped connection fails the migration cleanly and the source keeps running", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, { writesPerSecond: 100_000, seed: 5 });
    src.start();
    await s.run({ untilNs: 200 * MS });
    const mgr = createMigrationManager({ plugins: [precopy()] });
    const link = createLink({ scheduler: s, bandwidth: 10 * MiB, latency: MS });
    const dst = machine(s, dirty);
    const inc = incoming({ machine: dst, transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    s.after(150 * MS, () => link.cut());
    await runUntilDone(s, m, 5000 * MS);
    expect(m.status).toBe("failed");
    expect(m.error?.message).toMatch(/dropped/);
    expect(m.info()["error-desc"]).toMatch(/dropped/);
    expect(src.state).toBe("running");
    expect(src.ram.dirty.logging).toBe(false);
    const r = await inc.done;
    expect(r.status).toBe("failed");
    expect(dst.state).toBe("created");
  });

  it("a guest dirtying faster than max-bandwidth does not converge: still active at the time limit", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, { writesPerSecond: 400_000, seed: 11 });
    src.start();
    await s.run({ untilNs: 200 * MS });
    const mgr = createMigrationManager({ plugins: [precopy()] });
    mgr.setParameters({ "max-bandwidth": 4 * MiB, "downtime-limit": 50 });
    const link = createLink({ scheduler: s, bandwidth: 1000 * MiB, latency: MS });
    incoming({ machine: machine(s, dirty), transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    const statuses = new Set<string>();
    m.events.on("state", (st) => statuses.add(st));
    await runUntilDone(s, m, 3000 * MS);
    expect(m.status).toBe("active");
    expect(statuses.has("completed")).toBe(false);
    expect(statuses.has("device")).toBe(false);
    const info = m.info();
    expect(info.ram!["dirty-sync-count"]).toBeGreaterThan(1);
    expect(info.ram!.remaining).toBeGreaterThan(0);
    expect(info["expected-downtime"]).toBeGreaterThan(50);
    // rate limited: at 4 MiB/s a window's 419,430-byte allowance is passed by the 4th 32-page
    // batch (QEMU's flush granularity), so 128 raw pages per 100 ms, over ~3 s
    expect(info.ram!.transferred).toBeLessThan(128 * (PAGE_SIZE + 8) * 10 * 3.3);
    expect(info.ram!["dirty-pages-rate"]).toBeGreaterThan(1000);
    m.cancel();
    await runUntilDone(s, m, 1000 * MS);
    expect(m.status).toBe("cancelled");
    expect(src.state).toBe("running");
  });
});

describe("determinism", () => {
  it("the same scenario gives identical statistics, time series and RAM", async () => {
    const once = async () => {
      const s = new VirtualScheduler();
      const src = machine(s, { writesPerSecond: 60_000, seed: 4 });
      const dst = machine(s, dirty);
      src.start();
      await s.run({ untilNs: 100 * MS });
      const link = createLink({ scheduler: s, bandwidth: 20 * MiB, latency: MS });
      const mgr = createMigrationManager({ plugins: [precopy()] });
      mgr.setParameters({ "max-bandwidth": 16 * MiB });
      incoming({ machine: dst, transport: link.destination });
      const m = mgr.migrate({ machine: src, transport: link.source });
      await runUntilDone(s, m, 20_000 * MS);
      return { info: m.info(), series: m.series, ram: ramHash(dst), t: m.timings() };
    };
    const a = await once();
    const b = await once();
    expect(a.info.status).toBe("completed");
    expect(a.info.ram!["dirty-sync-count"]).toBeGreaterThan(2);
    // The guest dirtied pages during the migration: some were sent more than once.
    const ram = a.info.ram!;
    expect(ram.normal + ram.duplicate).toBeGreaterThan(ram.total / 4096);
    expect(b).toEqual(a);
  });
});

describe("snapshots and the incoming side", () => {
  it("a snapshot to a file restores identical RAM and state into a fresh machine", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, dirty);
    src.start();
    await s.run({ untilNs: 30 * MS });
    const path = join(dir, "snap.ferry");
    const info = await saveSnapshot(src, path, { resume: false });
    expect(info.zeroPages + info.normalPages).toBe((4 * MiB) / PAGE_SIZE);
    expect(info.bytes).toBeLessThan(
      info.normalPages * (PAGE_SIZE + 16) + info.zeroPages * 16 + 4096,
    );
    const dst = machine(s, dirty);
    await restoreSnapshot(path, dst, { resume: false });
    expect(ramHash(dst)).toBe(ramHash(src));
    expect(dst.saveState()).toEqual(src.saveState());
    expect(src.state).toBe("paused");
  });

  function bytesTransport(data: Uint8Array, chunk = 4096): IncomingTransport {
    return {
      receive(h) {
        for (let i = 0; i < data.length; i += chunk) h.data(data.subarray(i, i + chunk));
        h.end();
      },
      close() {},
    };
  }

  it("a truncated or corrupted stream fails cleanly and the destination is not started", async () => {
    const s = new VirtualScheduler();
    const src = machine(s, dirty, 1);
    src.start();
    await s.run({ untilNs: 10 * MS });
    const path = join(dir, "good.ferry");
    // Without integrity framing, so each corruption below reaches the reader's own checks.
    await saveSnapshot(src, path, { resume: false, integrity: false });
    const good = new Uint8Array(readFileSync(path));
    const framedPath = join(dir, "framed.ferry");
    await saveSnapshot(src, framedPath, { resume: false });
    const framed = new Uint8Array(readFileSync(framedPath));

    const cases: Array<[string, Uint8Array, RegExp]> = [
      ["truncated", good.subarray(0, good.length - 100), /truncated/],
      ["no EOF", good.subarray(0, good.length - 1), /truncated/],
      ["bad magic", Uint8Array.from([0, ...good.subarray(1)]), /bad magic/],
    ];
    const corrupted = good.slice();
    corrupted[good.length - 10] = 0x01; // inside the last device section's JSON
    cases.push(["bad device JSON", corrupted, /JSON|rejected|footer/]);
    // a device state the machine refuses: rewrite the vCPU count
    const text = Buffer.from(good).toString("latin1");
    const at = text.lastIndexOf('"arch":"workload"');
    const hostile = good.slice();
    hostile.set(new TextEncoder().encode('"arch":"xxxxxxxx"'), at);
    cases.push(["state refused by the machine", hostile, /device state rejected/]);
    // With integrity framing (the default), the same corruption is refused by its block's CRC.
    const flipped = framed.slice();
    flipped[framed.length - 40] ^= 0x01;
    cases.push(["framed, corrupted", flipped, /integrity check failed: block \d+/]);

    for (const [name, data, re] of cases) {
      const dst = machine(s, dirty, 1);
      const r = await incoming({ machine: dst, transport: bytesTransport(data) }).done;
      expect(r.status, name).toBe("failed");
      expect(r.error, name).toBeInstanceOf(StreamError);
      expect(r.error!.message, `${name}: ${r.error!.message}`).toMatch(re);
      expect(dst.state, name).toBe("created");
    }
    const ok = machine(s, dirty, 1);
    const r = await incoming({ machine: ok, transport: bytesTransport(good, 777) }).done;
    expect(r.status).toBe("completed");
    expect(ok.state).toBe("running");
    writeFileSync(join(dir, "x"), "");
  });
});
