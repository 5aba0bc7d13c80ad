/**
 * The vCPU dirty limit commands and the dirty-ring / dirty-bitmap modes of calc-dirty-rate over a
 * real machine (RISC-V memtouch on the realtime scheduler), with and without a dirty ring.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIRTY_RING_REQUIRED, type Machine, RealtimeScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
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

async function side(ring: boolean): Promise<Side> {
  const scheduler = new RealtimeScheduler();
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: 100 }),
    vcpus: 1,
    memory: { size: 8 << 20, backend: "array" },
    sliceNs: 1_000_000,
    bootArgs: [4 << 20, 4096, 1_000_000, 16, 0, 0],
    dirtyTracking: ring ? { kind: "ring", ringSize: 256 } : { kind: "bitmap" },
  });
  const image = loadElf(machine.memory, ELF);
  machine.reset(image.entry);
  const migration = createFerryMigrationControl({ machine, plugins: [precopy()] });
  const vm = createVmControl({ machine, migration, quit: () => {} });
  const monitor = createMonitor({ vm, migration });
  const path = join(mkdtempSync(join(tmpdir(), "ferry-dl-")), "m.sock");
  await monitor.server.listen({ kind: "unix", path });
  machine.start();
  const client = await connectQmp({ kind: "unix", path }, qmpSpecs);
  const s = { machine, scheduler, monitor, client };
  sides.push(s);
  return s;
}

async function err(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("vCPU dirty limit over QMP", () => {
  it("without a dirty ring: set is refused as QEMU does, cancel and query do nothing", async () => {
    const { client: c } = await side(false);
    expect(await err(c.execute("set-vcpu-dirty-limit", { "dirty-rate": 10 }))).toBe(
      `set-vcpu-dirty-limit: ${DIRTY_RING_REQUIRED}`,
    );
    expect(await c.execute("cancel-vcpu-dirty-limit")).toEqual({});
    expect(await c.execute("query-vcpu-dirty-limit")).toEqual([]);
    expect(await err(c.execute("calc-dirty-rate", { "calc-time": 1, mode: "dirty-ring" }))).toBe(
      "calc-dirty-rate: mode dirty-ring is not enabled, use other method instead.",
    );
    await c.execute("calc-dirty-rate", {
      "calc-time": 200,
      "calc-time-unit": "millisecond",
      mode: "dirty-bitmap",
    });
    await c.waitEvent("DIRTY_RATE_COMPLETED", { timeoutMs: 5000 });
    const q = await c.execute("query-dirty-rate");
    expect(q.mode).toBe("dirty-bitmap");
    expect(q["dirty-rate"]).toBeGreaterThan(0);
  });

  it("with a dirty ring: per-vCPU rates, then set / query / cancel", async () => {
    const { client: c, machine } = await side(true);
    expect(
      await err(
        c.execute("calc-dirty-rate", {
          "calc-time": 1,
          "calc-time-unit": "second",
          mode: "dirty-bitmap",
        }),
      ),
    ).toBe("calc-dirty-rate: mode dirty-bitmap is not enabled, use other method instead.");
    await c.execute("calc-dirty-rate", {
      "calc-time": 200,
      "calc-time-unit": "millisecond",
      mode: "dirty-ring",
    });
    await c.waitEvent("DIRTY_RATE_COMPLETED", { timeoutMs: 5000 });
    const q = await c.execute("query-dirty-rate");
    expect(q.mode).toBe("dirty-ring");
    expect(q["vcpu-dirty-rate"]).toHaveLength(1);
    expect(q["vcpu-dirty-rate"]![0]["dirty-rate"]).toBe(q["dirty-rate"]);
    expect(q["dirty-rate"]).toBeGreaterThan(0);
    // The measurement was the dirty log's only owner: tracking stopped with its window.
    expect(machine.ram.dirty.logging).toBe(false);

    expect(await err(c.execute("set-vcpu-dirty-limit", { "cpu-index": 3, "dirty-rate": 10 }))).toBe(
      "set-vcpu-dirty-limit: incorrect cpu index specified",
    );
    await c.execute("set-vcpu-dirty-limit", { "dirty-rate": 10 });
    await new Promise((r) => setTimeout(r, 1500));
    const limits = await c.execute("query-vcpu-dirty-limit");
    expect(limits).toHaveLength(1);
    expect(limits[0]).toMatchObject({ "cpu-index": 0, "limit-rate": 10 });
    expect(limits[0]["current-rate"]).toBeGreaterThanOrEqual(0);
    expect(await c.execute("cancel-vcpu-dirty-limit", { "cpu-index": 0 })).toEqual({});
    expect(await c.execute("query-vcpu-dirty-limit")).toEqual([]);
  }, 30_000);
});
