import { type Machine, PAGE_SIZE, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { createLink, createMigrationManager, incoming, type Migration } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { uniformDirtier } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import { postcopy } from "../src/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;

function machine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 200_000, footprintPages: 1024, seed: 3 }),
    vcpus: 2,
    memory: { size: 8 * MiB },
  });
}

async function runUntilDone(s: VirtualScheduler, m: Migration, limitNs: number): Promise<void> {
  await s.run({
    untilNs: s.now() + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed" || m.status === "cancelled",
  });
}

/** Pages where the destination's RAM differs from the source's, except pages it wrote itself. */
function differingPages(src: Machine, dst: Machine): number {
  const a = src.ram.backend.bytes!;
  const b = dst.ram.backend.bytes!;
  const written = dst.ram.dirty.words;
  let n = 0;
  for (let p = 0; p < a.length / PAGE_SIZE; p++) {
    if ((written[p >>> 5] & (1 << (p & 31))) !== 0) continue;
    const o = p * PAGE_SIZE;
    if (Buffer.compare(a.subarray(o, o + PAGE_SIZE), b.subarray(o, o + PAGE_SIZE)) !== 0) n++;
  }
  return n;
}

describe("post-copy with workload guests over a virtual link", () => {
  it("switches after one pass, the destination faults pages in, RAM matches at the end", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    await s.run({ untilNs: 20 * MS });
    const link = createLink({ scheduler: s, bandwidth: 20 * MiB, latency: 1 * MS });
    const mgr = createMigrationManager({ plugins: [precopy(), postcopy()] });
    mgr.setCapabilities({ "postcopy-ram": true });
    mgr.setParameters({ "x-postcopy-after-passes": 1, "max-bandwidth": 0 });
    const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
    const m = mgr.migrate({ machine: src, transport: link.source });
    const states: string[] = [];
    m.events.on("state", (st) => states.push(st));
    // Track what the destination writes once it runs (the pages it may legitimately change).
    let started = false;
    dst.events.on("state", (st) => {
      if (st === "running" && !started) {
        started = true;
        dst.ram.dirty.start();
      }
    });
    await s.run({ untilNs: s.now() + 10_000 * MS, stopWhen: () => started });
    expect(started).toBe(true);
    expect(dst.ram.missing!.count).toBeGreaterThan(0);
    await runUntilDone(s, m, 20_000 * MS);
    expect(m.status).toBe("completed");
    expect(states).toEqual(["setup", "active", "device", "postcopy-active", "completed"]);
    expect(inc.status).toBe("completed");
    expect(dst.ram.missing!.count).toBe(0);
    expect(dst.ram.missing!.armed).toBe(false);
    expect(differingPages(src, dst)).toBe(0);
    const info = m.info();
    const ram = info.ram as unknown as Record<string, number>;
    expect(ram["postcopy-requests"]).toBeGreaterThan(0);
    expect(ram["postcopy-bytes"]).toBeGreaterThan(0);
    expect(info["postcopy-latency"]).toBeGreaterThan(2 * MS); // at least a round trip
    expect(info["x-postcopy-latency-max"]).toBeGreaterThanOrEqual(
      info["x-postcopy-latency-p99"] as number,
    );
    expect((info["postcopy-vcpu-blocktime"] as number[]).length).toBe(2);
    const faults = dst.vcpus.reduce((a, v) => a + v.stats().pageFaults, 0);
    expect(faults).toBeGreaterThan(0);
    expect(inc.info()["postcopy-latency"]).toBe(info["postcopy-latency"]);
    // The destination runs on; the source stays stopped.
    const work = dst.vcpus[0].stats().workDone;
    await s.run({ untilNs: s.now() + 10 * MS });
    expect(dst.vcpus[0].stats().workDone).toBeGreaterThan(work);
    expect(src.state).toBe("paused");
  });
});
