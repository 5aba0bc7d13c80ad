import { readFileSync } from "node:fs";
import {
  createAddressSpace,
  createDirtyBitmap,
  createDirtyRings,
  createRamBackend,
  createVcpuRun,
  ExitReason,
  type Machine,
  VirtualScheduler,
} from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { describe, expect, it } from "vitest";
import { loadElf, riscvBackend } from "../src/index";
import { A, AMO, programBytes } from "./asm";

const RAM_BASE = 0x80000000;
const MS = 1_000_000;
const KiB = 1024;

describe("riscv stores through the dirty ring", () => {
  it("each store to a clean page pushes one entry; the store that fills the ring exits after it", () => {
    const memory = createAddressSpace();
    const rings = createDirtyRings({ vcpuCount: 1, size: 2 });
    const size = 1 << 20;
    const ram = memory.addRam({
      name: "ram",
      base: RAM_BASE,
      size,
      backend: createRamBackend("array", size),
      dirty: rings.createTracker(size / 4096),
    });
    const prog = [
      A.sw(2, 1, 0), // page 3
      A.sb(2, 1, 8), // page 3 again: no entry
      A.sh(2, 3, 2), // page 4: ring full → exit
      A.amo(AMO.add, 0, 4, 2), // page 5 (after the reap)
      A.sw(2, 5, 0), // page 6: full again
      A.jal(0, 0),
    ];
    memory.writeBytes(RAM_BASE, programBytes(prog));
    const hart = riscvBackend({ mips: 1000 }).createVcpu({
      hartId: 0,
      memory,
      timebaseHz: 10_000_000,
      vcpuCount: 1,
    });
    hart.reset(RAM_BASE, 0);
    const x = hart.x;
    x[1] = RAM_BASE + 0x3000;
    x[2] = 0x1234;
    x[3] = RAM_BASE + 0x4000;
    x[4] = RAM_BASE + 0x5000;
    x[5] = RAM_BASE + 0x6000;
    ram.dirty.start();
    const run = createVcpuRun();
    run.startNs = 0;
    hart.run(run, 1000);
    expect(run.exitReason).toBe(ExitReason.DirtyRingFull);
    expect(run.retired).toBe(3);
    expect(rings.count(0)).toBe(2);
    const seen: number[] = [];
    rings.harvest(0, (_t, p) => seen.push(p));
    rings.reset();
    hart.run(run, 1000);
    expect(run.exitReason).toBe(ExitReason.DirtyRingFull);
    expect(run.retired).toBe(2);
    rings.harvest(0, (_t, p) => seen.push(p));
    expect(seen).toEqual([3, 4, 5, 6]);
    const out = new Uint8Array(4);
    memory.readBytes(RAM_BASE + 0x6000, out);
    expect(new DataView(out.buffer).getUint32(0, true)).toBe(0x1234);
  });
});

/** memtouch: 64 KiB working set, one touch per page, 4 words per touch, 40 passes, print every 10. */
const ARGS = [64 * KiB, 4096, 40, 4, 0, 10];

function memtouch(s: VirtualScheduler, ring: boolean): Machine {
  const m = createMachine({
    scheduler: s,
    cpu: riscvBackend({ mips: 20 }),
    vcpus: 1,
    memory: { size: 4 << 20 },
    bootArgs: ARGS,
    dirtyTracking: ring ? { kind: "ring", ringSize: 8 } : undefined,
  });
  const elf = readFileSync(new URL("../../../examples/guests/memtouch.elf", import.meta.url));
  loadElf(m.memory, new Uint8Array(elf));
  return m;
}

/** Run to shutdown with the dirty log on, syncing every 2 ms; returns each sync's pages. */
async function runSyncing(m: Machine): Promise<number[][]> {
  const syncs: number[][] = [];
  m.ram.dirty.start();
  for (let i = 0; i < 10_000; i++) {
    const r = await m.runUntilShutdown({ timeLimitNs: 2 * MS });
    const into = createDirtyBitmap(m.ram.dirty.pageCount);
    m.ram.dirty.sync(into);
    const pages: number[] = [];
    for (let p = into.nextSet(0); p >= 0; p = into.nextSet(p + 1)) pages.push(p);
    syncs.push(pages);
    if (r.reason !== "time-limit") {
      expect(r.reason).toBe("shutdown");
      expect(r.code).toBe(0);
      return syncs;
    }
  }
  throw new Error("memtouch did not finish");
}

describe("a real guest (memtouch) with dirty-ring tracking", () => {
  it("runs to the same output, work and per-sync dirty pages as with the bitmap, exiting on full rings", async () => {
    const sb = new VirtualScheduler();
    const sr = new VirtualScheduler();
    const bitmap = memtouch(sb, false);
    const ring = memtouch(sr, true);
    const syncsB = await runSyncing(bitmap);
    const syncsR = await runSyncing(ring);
    expect(ring.uartOutput()).toBe(bitmap.uartOutput());
    expect(ring.uartOutput()).toMatch(/memtouch done: passes=40 checksum=0x[0-9a-f]{8}\n$/);
    expect(ring.workDone()).toBe(bitmap.workDone());
    expect(syncsR).toEqual(syncsB);
    expect(syncsR.some((p) => p.length >= 16)).toBe(true);
    const st = ring.vcpuStats()[0];
    expect(st.dirtyRingFullExits).toBeGreaterThan(40);
    expect(st.dirtyRingWaitNs).toBe(0);
    expect(ring.dirtyRings!.pushed(0)).toBeGreaterThan(40 * 8);
  });
});
