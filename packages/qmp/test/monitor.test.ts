/**
 * The monitor's commands over a real machine (RISC-V memtouch on the realtime scheduler) and the
 * real migration framework, in one process: errors as QEMU words them, run-state transitions and
 * their events, HMP, dirty rate, and a migration over a unix socket given as `channels`.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Machine, RealtimeScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { precopy } from "@ferry/plugin-precopy";
import { xbzrle } from "@ferry/plugin-xbzrle";
import { loadElf, riscvBackend } from "@ferry/riscv";
import { afterEach, describe, expect, it } from "vitest";
import { connectQmp, type QmpClient } from "../src/client";
import { createDirtyRateMeter } from "../src/dirty-rate";
import { createFerryMigrationControl } from "../src/migration-adapter";
import { createMonitor, type Monitor } from "../src/monitor";
import { type QmpSpecs, qmpSpecs } from "../src/specs";
import { createVmControl } from "../src/vm";

const ELF = readFileSync("examples/guests/memtouch.elf");

interface Side {
  machine: Machine;
  scheduler: RealtimeScheduler;
  monitor: Monitor;
  client: QmpClient<QmpSpecs>;
  quits: number;
}

const sides: Side[] = [];
afterEach(async () => {
  for (const s of sides.splice(0)) {
    s.client.close();
    s.machine.stop();
    await s.monitor.close();
    s.scheduler.dispose();
  }
});

async function side(opts: { incoming?: "defer"; passes?: number } = {}): Promise<Side> {
  const scheduler = new RealtimeScheduler();
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: 1_000_000 }),
    vcpus: 1,
    memory: { size: 4 << 20, backend: "array" },
    sliceNs: 5,
    bootArgs: [256 << 10, 4096, opts.passes ?? 1_000_000, 64, 0, 0],
  });
  const image = loadElf(machine.memory, ELF);
  machine.reset(image.entry);
  const migration = createFerryMigrationControl({
    machine,
    plugins: [precopy(), xbzrle()],
    ...(opts.incoming ? { incoming: opts.incoming } : {}),
  });
  const s = { machine, scheduler, quits: 0 } as Side;
  const vm = createVmControl({
    machine,
    migration,
    reset: () => machine.reset(image.entry),
    quit: () => {
      s.quits++;
    },
  });
  s.monitor = createMonitor({ vm, migration });
  const path = join(mkdtempSync(join(tmpdir(), "ferry-mon-")), "m.sock");
  await s.monitor.server.listen({ kind: "unix", path });
  if (opts.incoming === undefined) machine.start();
  s.client = await connectQmp({ kind: "unix", path }, qmpSpecs);
  sides.push(s);
  return s;
}

const err = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: Error) => e.message,
  );

describe("monitor commands", () => {
  it("query-version, query-status, stop/cont with STOP/RESUME, system_reset, system_powerdown, quit", async () => {
    const { client: c, ...s } = await side();
    expect(await c.execute("query-version")).toEqual({
      qemu: { major: 9, minor: 2, micro: 0 },
      package: "ferry 0.1.0",
    });
    expect(await c.execute("query-status")).toEqual({ running: true, status: "running" });
    await c.execute("stop");
    expect(await c.execute("query-status")).toEqual({ running: false, status: "paused" });
    expect(await c.execute("human-monitor-command", { "command-line": "info status" })).toBe(
      "VM status: paused\r\n",
    );
    await c.execute("cont");
    await c.execute("cont"); // already running: no error, as QEMU
    await c.execute("system_reset");
    await c.execute("system_powerdown");
    await c.execute("quit");
    await c.waitEvent("SHUTDOWN", { timeoutMs: 2000 });
    expect(c.received.map((e) => e.event)).toEqual([
      "STOP",
      "RESUME",
      "RESET",
      "POWERDOWN",
      "SHUTDOWN",
    ]);
    expect(c.received[2].data).toEqual({ guest: false, reason: "host-qmp-system-reset" });
    expect(c.received[4].data).toEqual({ guest: false, reason: "host-qmp-quit" });
    await new Promise((r) => setTimeout(r, 20));
    expect(sides[0].quits).toBe(1);
    expect(s.machine.state).toBe("running");
    const names = ((await c.execute("query-commands")) as Array<{ name: string }>).map(
      (x) => x.name,
    );
    for (const n of Object.keys(qmpSpecs)) expect(names).toContain(n);
    expect(names).toContain("migrate-start-postcopy");
    expect(names).toContain("migrate-recover");
    expect(names).toContain("migrate-pause");
  });

  it("migration commands refuse what QEMU refuses, with QEMU's messages", async () => {
    const { client: c } = await side();
    expect(await c.execute("query-migrate")).toEqual({});
    expect(await err(c.execute("migrate", {}))).toBe(
      "migrate: need either 'uri' or 'channels' argument",
    );
    expect(
      await err(
        c.execute("migrate", {
          uri: "tcp:127.0.0.1:1",
          channels: [
            { "channel-type": "main", addr: { transport: "socket", type: "unix", path: "/x" } },
          ],
        }),
      ),
    ).toMatch(/'uri' and 'channels' arguments are mutually exclusive/);
    expect(await err(c.execute("migrate", { uri: "bogus:1" }))).toBe(
      "migrate: unknown migration protocol: bogus:1",
    );
    expect(await err(c.execute("migrate", { uri: "exec:cat" }))).toMatch(
      /protocol 'exec' is not supported by ferry/,
    );
    expect(await err(c.execute("migrate-incoming", { uri: "tcp:127.0.0.1:0" }))).toBe(
      "migrate-incoming: '-incoming' was not specified on the command line",
    );
    expect(await err(c.execute("migrate-continue", { state: "pre-switchover" }))).toBe(
      "migrate-continue: Migration not in expected state: none",
    );
    expect(await err(c.executeRaw("migrate-continue", { state: "sideways" }))).toBe(
      "migrate-continue: Parameter 'state' does not accept value 'sideways'",
    );
    expect(
      await err(
        c.execute("migrate-set-capabilities", {
          capabilities: [{ capability: "warp", state: true }],
        }),
      ),
    ).toBe(
      "migrate-set-capabilities: Parameter 'capabilities[0].capability' does not accept value 'warp'",
    );
    expect(await err(c.executeRaw("migrate-set-parameters", { "warp-factor": 9 }))).toBe(
      "migrate-set-parameters: Parameter 'warp-factor' is unexpected",
    );
    expect(await err(c.executeRaw("migrate-set-parameters", { "max-bandwidth": "fast" }))).toBe(
      "migrate-set-parameters: Invalid parameter type for 'max-bandwidth', expected: integer",
    );
    await c.execute("migrate-set-parameters", { "downtime-limit": 123 });
    expect((await c.execute("query-migrate-parameters"))["downtime-limit"]).toBe(123);
    // x-integrity is "auto" or a boolean (a string parameter taking a boolean).
    await c.execute("migrate-set-parameters", { "x-integrity": false });
    expect((await c.execute("query-migrate-parameters"))["x-integrity"]).toBe(false);
    await c.execute("migrate-set-parameters", { "x-integrity": "auto" });
    expect((await c.execute("query-migrate-parameters"))["x-integrity"]).toBe("auto");
    expect(await err(c.executeRaw("migrate-set-parameters", { "x-integrity": 3 }))).toBe(
      "migrate-set-parameters: Invalid parameter type for 'x-integrity', expected: string",
    );
    const hmpCaps = await c.execute("human-monitor-command", {
      "command-line": "info migrate_capabilities",
    });
    expect(hmpCaps).toContain("xbzrle: off\r\n");
    expect(hmpCaps).toContain("events: off\r\n");
    const hmpParams = await c.execute("human-monitor-command", {
      "command-line": "info migrate_parameters",
    });
    expect(hmpParams).toContain("downtime-limit: 123 ms\r\n");
    expect(await c.execute("human-monitor-command", { "command-line": "frobnicate" })).toBe(
      "unknown command: 'frobnicate'\r\n",
    );
    // A failed connection: migrate answers {} and the failure shows in query-migrate.
    await c.execute("migrate-set-capabilities", {
      capabilities: [{ capability: "events", state: true }],
    });
    await c.execute("migrate", { uri: "unix:/nonexistent/ferry.sock" });
    await c.waitEvent("MIGRATION", { match: (e) => e.data?.status === "failed", timeoutMs: 5000 });
    const info = await c.execute("query-migrate");
    expect(info.status).toBe("failed");
    expect(info["error-desc"]).toMatch(/^Failed to connect to 'unix:\/nonexistent\/ferry.sock'/);
    expect((await c.execute("query-status")).status).toBe("running");
  });

  it("migrates between two monitors over a unix socket given as channels; set-capabilities is refused while active", async () => {
    const src = await side();
    const dst = await side({ incoming: "defer" });
    expect((await dst.client.execute("query-status")).status).toBe("inmigrate");
    const path = join(mkdtempSync(join(tmpdir(), "ferry-mig-")), "mig.sock");
    const channels = [
      {
        "channel-type": "main" as const,
        addr: { transport: "socket" as const, type: "unix" as const, path },
      },
    ];
    const on = {
      capabilities: [
        { capability: "events", state: true },
        { capability: "xbzrle", state: true },
      ],
    };
    await src.client.execute("migrate-set-capabilities", on);
    await dst.client.execute("migrate-set-capabilities", on);
    await src.client.execute("migrate-set-parameters", {
      "max-bandwidth": 128 << 10,
      "downtime-limit": 5000,
    });
    await dst.client.execute("migrate-incoming", { channels });
    expect(await err(dst.client.execute("migrate-incoming", { channels }))).toBe(
      "migrate-incoming: The incoming migration has already been started",
    );
    await src.client.execute("migrate", { channels });
    // Right after `migrate` (setup or active; the 128 KiB/s limit makes it last >= 100 ms).
    expect(await err(src.client.execute("migrate-set-capabilities", on))).toBe(
      "migrate-set-capabilities: There's a migration process in progress",
    );
    expect(await err(src.client.execute("migrate", { channels }))).toBe(
      "migrate: There's a migration process in progress",
    );
    const end = await src.client.waitEvent("MIGRATION", {
      match: (e) => ["completed", "failed", "cancelled"].includes(String(e.data?.status)),
      timeoutMs: 60_000,
    });
    expect(end.data?.status).toBe("completed");
    await dst.client.waitEvent("RESUME", { timeoutMs: 10_000 });
    expect((await dst.client.execute("query-status")).status).toBe("running");
    expect((await src.client.execute("query-status")).status).toBe("postmigrate");
    expect(await err(src.client.execute("migrate", { channels }))).toBe(
      "migrate: Can't migrate the vm that was paused due to previous migration",
    );
    const dstEvents = dst.client.received.map((e) =>
      e.event === "MIGRATION" ? `M:${e.data?.status}` : e.event,
    );
    expect(dstEvents.slice(-3)).toEqual(["M:active", "M:completed", "RESUME"]);
    // RAM equal at the end: the destination continues from the source's state.
    expect(await dst.client.execute("query-migrate")).toEqual({ status: "completed" });
  }, 90_000);

  it("stop on a waiting destination keeps it paused after loading; cont starts it (QEMU's autostart)", async () => {
    const src = await side();
    const dst = await side({ incoming: "defer" });
    const path = join(mkdtempSync(join(tmpdir(), "ferry-mig-")), "mig.sock");
    await dst.client.execute("stop");
    await dst.client.execute("migrate-set-capabilities", {
      capabilities: [{ capability: "events", state: true }],
    });
    await src.client.execute("migrate-set-parameters", { "downtime-limit": 5000 });
    await dst.client.execute("migrate-incoming", { uri: `unix:${path}` });
    await src.client.execute("migrate", { uri: `unix:${path}` });
    await dst.client.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "completed",
      timeoutMs: 60_000,
    });
    expect(await dst.client.execute("query-status")).toEqual({ running: false, status: "paused" });
    expect(dst.client.received.map((e) => e.event)).not.toContain("RESUME");
    await dst.client.execute("cont");
    await dst.client.waitEvent("RESUME", { timeoutMs: 5000 });
    expect((await dst.client.execute("query-status")).status).toBe("running");
  }, 90_000);

  it("calc-dirty-rate: argument ranges, and a running guest dirties memory", async () => {
    const { client: c } = await side();
    expect((await c.execute("query-dirty-rate")).status).toBe("unstarted");
    expect(await err(c.execute("calc-dirty-rate", { "calc-time": 0 }))).toBe(
      "calc-dirty-rate: Calc-time is out of range[1, 60].",
    );
    expect(await err(c.execute("calc-dirty-rate", { "calc-time": 1, "sample-pages": 5 }))).toBe(
      "calc-dirty-rate: sample-pages is out of range[128, 4096].",
    );
    expect(await err(c.execute("calc-dirty-rate", { "calc-time": 1, mode: "dirty-ring" }))).toBe(
      "calc-dirty-rate: mode dirty-ring is not enabled, use other method instead.",
    );
    await c.execute("calc-dirty-rate", { "calc-time": 200, "calc-time-unit": "millisecond" });
    expect(await err(c.execute("calc-dirty-rate", { "calc-time": 1 }))).toBe(
      "calc-dirty-rate: the dirty rate is already being measured.",
    );
    const done = await c.waitEvent("DIRTY_RATE_COMPLETED", { timeoutMs: 5000 });
    const q = await c.execute("query-dirty-rate");
    expect(q.status).toBe("measured");
    expect(q["dirty-rate"]).toBe(done.data?.["dirty-rate"]);
    expect(q["dirty-rate"]).toBeGreaterThan(0);
    expect((await c.execute("query-dirty-rate", { "calc-time-unit": "second" }))["calc-time"]).toBe(
      0,
    );
  });
});

describe("page-sampling dirty rate", () => {
  it("estimates the changed share of RAM scaled to the block size", async () => {
    const size = 64 << 20;
    const pages = size / 4096;
    const versions = new Uint32Array(pages);
    const block = {
      name: "ram",
      size,
      read(offset: number, dst: Uint8Array) {
        new DataView(dst.buffer, dst.byteOffset).setUint32(0, versions[offset / 4096]);
      },
    };
    const meter = createDirtyRateMeter(() => [block], 12345);
    meter.start({ calcTime: 100, unit: "millisecond", samplePages: 4096, mode: "page-sampling" });
    for (let p = 0; p < pages; p += 4) versions[p]++; // a quarter of the pages change
    const rate = await new Promise<number>((resolve) => meter.events.once("done", resolve));
    // 1/4 of 64 MiB in 0.1 s = 160 MB/s, within sampling error.
    expect(rate).toBeGreaterThan(130);
    expect(rate).toBeLessThan(190);
    expect(meter.query()).toMatchObject({
      status: "measured",
      "dirty-rate": rate,
      "sample-pages": 4096,
    });
  });
});
