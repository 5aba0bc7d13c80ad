/**
 * Operator control over QMP, through the TypeScript client, on a real RISC-V guest (memtouch on
 * the realtime scheduler) migrating over a unix socket in one process: migrate-set-parameters
 * while the migration runs, pause-before-switchover with migrate-continue, migrate_cancel in
 * pre-switchover, and ferry's external throttle (x-set-cpu-throttle / x-query-cpu-throttle).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Machine, RealtimeScheduler, throttleControlFor } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { autoConverge } from "@ferry/plugin-auto-converge";
import { precopy } from "@ferry/plugin-precopy";
import { loadElf, riscvBackend } from "@ferry/riscv";
import { afterEach, describe, expect, it } from "vitest";
import { connectQmp, type QmpClient } from "../src/client";
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

async function side(incoming?: "defer"): Promise<Side> {
  const scheduler = new RealtimeScheduler();
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: 1_000_000 }),
    vcpus: 1,
    memory: { size: 4 << 20, backend: "array" },
    sliceNs: 5,
    bootArgs: [256 << 10, 4096, 1_000_000, 64, 0, 0],
  });
  const image = loadElf(machine.memory, ELF);
  machine.reset(image.entry);
  const migration = createFerryMigrationControl({
    machine,
    plugins: [precopy(), autoConverge()],
    ...(incoming ? { incoming } : {}),
  });
  const vm = createVmControl({
    machine,
    migration,
    quit: () => {},
    throttle: throttleControlFor(machine.vcpus, scheduler),
  });
  const monitor = createMonitor({ vm, migration });
  const path = join(mkdtempSync(join(tmpdir(), "ferry-op-")), "m.sock");
  await monitor.server.listen({ kind: "unix", path });
  if (incoming === undefined) machine.start();
  const client = await connectQmp({ kind: "unix", path }, qmpSpecs);
  const s = { machine, scheduler, monitor, client };
  sides.push(s);
  return s;
}

const err = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: Error) => e.message,
  );

async function pair(): Promise<{ src: Side; dst: Side; uri: string }> {
  const src = await side();
  const dst = await side("defer");
  const uri = `unix:${join(mkdtempSync(join(tmpdir(), "ferry-op-mig-")), "mig.sock")}`;
  const caps = {
    capabilities: [
      { capability: "events", state: true },
      { capability: "pause-before-switchover", state: true },
    ],
  };
  await src.client.execute("migrate-set-capabilities", caps);
  await dst.client.execute("migrate-incoming", { uri });
  return { src, dst, uri };
}

const statuses = (c: QmpClient<QmpSpecs>): string[] =>
  c.received.filter((e) => e.event === "MIGRATION").map((e) => String(e.data?.status));

describe("operator control over QMP", () => {
  it("live max-bandwidth, pause-before-switchover, migrate-continue", async () => {
    const { src, dst, uri } = await pair();
    const c = src.client;
    await c.execute("migrate-set-parameters", {
      "max-bandwidth": 32 << 10,
      "downtime-limit": 5000,
    });
    await c.execute("migrate", { uri });
    await c.waitEvent("MIGRATION", { match: (e) => e.data?.status === "active", timeoutMs: 5000 });
    // QEMU accepts parameters during a migration and applies max-bandwidth at once
    await c.execute("migrate-set-parameters", { "max-bandwidth": 0, "cpu-throttle-initial": 30 });
    const p = await c.execute("query-migrate-parameters");
    expect(p["max-bandwidth"]).toBe(0);
    expect(p["cpu-throttle-initial"]).toBe(30);
    expect(await err(c.execute("migrate-set-parameters", { "max-bandwidth": -1 }))).toMatch(
      /^migrate-set-parameters: max-bandwidth: /,
    );
    await c.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "pre-switchover",
      timeoutMs: 30_000,
    });
    expect(await c.execute("query-status")).toEqual({ running: false, status: "finish-migrate" });
    expect((await c.execute("query-migrate")).status).toBe("pre-switchover");
    expect(await err(c.execute("migrate-continue", { state: "active" }))).toBe(
      "migrate-continue: Migration not in expected state: pre-switchover",
    );
    await c.execute("migrate-continue", { state: "pre-switchover" });
    await c.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "completed",
      timeoutMs: 30_000,
    });
    expect(statuses(c)).toEqual(["setup", "active", "pre-switchover", "device", "completed"]);
    await dst.client.waitEvent("RESUME", { timeoutMs: 10_000 });
    expect((await dst.client.execute("query-status")).status).toBe("running");
  }, 60_000);

  it("migrate_cancel in pre-switchover: the source resumes", async () => {
    const { src, uri } = await pair();
    const c = src.client;
    await c.execute("migrate-set-parameters", { "downtime-limit": 5000, "max-bandwidth": 0 });
    await c.execute("migrate", { uri });
    await c.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "pre-switchover",
      timeoutMs: 30_000,
    });
    await c.execute("migrate_cancel");
    await c.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "cancelled",
      timeoutMs: 10_000,
    });
    expect(statuses(c).slice(-3)).toEqual(["pre-switchover", "cancelling", "cancelled"]);
    expect(await c.execute("query-status")).toEqual({ running: true, status: "running" });
    expect(await err(c.execute("migrate-continue", { state: "pre-switchover" }))).toBe(
      "migrate-continue: Migration not in expected state: cancelled",
    );
  }, 60_000);

  it("x-set-cpu-throttle / x-query-cpu-throttle: ferry's external throttle", async () => {
    const { client: c } = await side();
    expect(await c.execute("x-query-cpu-throttle")).toEqual({
      percentage: 0,
      "effective-percentage": 0,
      sources: [],
    });
    await c.execute("x-set-cpu-throttle", { percentage: 40 });
    expect(await c.execute("x-query-cpu-throttle")).toEqual({
      percentage: 40,
      "effective-percentage": 40,
      sources: [{ name: "external", percentage: 40 }],
    });
    expect(await err(c.execute("x-set-cpu-throttle", { percentage: 100 }))).toBe(
      "x-set-cpu-throttle: Parameter 'percentage' expects an integer in the range of 0 to 99",
    );
    await c.execute("x-set-cpu-throttle", { percentage: 0 });
    expect((await c.execute("x-query-cpu-throttle"))["effective-percentage"]).toBe(0);
  });
});
