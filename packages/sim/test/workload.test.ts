import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, InvalidStateError, StateValidationError } from "@ferry/core";
import { createAddressSpace } from "@ferry/core";
import { createDirtyBitmap } from "@ferry/core";
import { createRamBackend } from "@ferry/core";
import { VirtualScheduler } from "@ferry/core";
import { createVcpu } from "@ferry/core";
import { PAGE_SIZE, type RamBackend, type RamRegion } from "@ferry/core";
import { type SyntheticRamBackend, createSyntheticRamBackend } from "../src/synthetic";
import {
  ExitReason,
  type PreRunHook,
  type VcpuCore,
  createVcpuRun,
  type VcpuContext,
} from "@ferry/core";
import {
  type WorkloadOptionsInput,
  buildZipfTable,
  parseWorkloadOptions,
  workloadBackend,
} from "../src/workload";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MS = 1_000_000;

interface Rig {
  region: RamRegion;
  ram: SyntheticRamBackend;
  vcpus: VcpuCore[];
}

function machine(size: number, backend: RamBackend, vcpuCount: number) {
  const memory = createAddressSpace();
  const region = memory.addRam({ name: "ram", base: 0x8000_0000, size, backend });
  const ctx = (hartId: number): VcpuContext => ({
    hartId,
    memory,
    timebaseHz: 10_000_000,
    vcpuCount,
  });
  return { memory, region, ctx };
}

function rig(opts: WorkloadOptionsInput, size = 64 * MiB, vcpuCount = 1, seed = 5): Rig {
  const ram = createSyntheticRamBackend({ size, seed, bytesPerWrite: 64 });
  const { region, ctx } = machine(size, ram, vcpuCount);
  const cpu = workloadBackend(opts);
  const vcpus: VcpuCore[] = [];
  for (let i = 0; i < vcpuCount; i++) vcpus.push(cpu.createVcpu(ctx(i)));
  return { region, ram, vcpus };
}

/** Run every vCPU for `totalNs` in slices of `sliceNs` (round robin). Returns total retired. */
function runFor(vcpus: VcpuCore[], totalNs: number, sliceNs: number): number {
  const run = createVcpuRun();
  let retired = 0;
  for (let t = 0; t < totalNs; t += sliceNs) {
    for (const v of vcpus) {
      v.run(run, Math.min(sliceNs, totalNs - t));
      expect(run.exitReason).toBe(ExitReason.BudgetExhausted);
      retired += run.retired;
    }
  }
  return retired;
}

function versionSum(ram: SyntheticRamBackend, from = 0, to = ram.pageCount): number {
  let s = 0;
  for (let p = from; p < to; p++) s += ram.versions[p];
  return s;
}

const uniform = { kind: "uniform" } as const;

describe("workload options", () => {
  it("applies defaults and rejects bad options with a clear error", () => {
    const o = parseWorkloadOptions({
      seed: 1,
      writesPerSecond: 100,
      busyShare: 1,
      distribution: uniform,
    });
    expect(o.readsPerWrite).toBe(0);
    expect(o.bytesPerWrite).toBe(8);
    expect(() =>
      workloadBackend({ seed: 1, writesPerSecond: 100, busyShare: 1.5, distribution: uniform }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      workloadBackend({
        seed: 1,
        writesPerSecond: 100,
        busyShare: 1,
        distribution: { kind: "zipf", s: 1, footprintBytes: 1000 },
      }),
    ).toThrow(/multiple of 4096/);
    expect(() =>
      parseWorkloadOptions({
        seed: 1,
        writesPerSecond: 1,
        busyShare: 1,
        distribution: { kind: "pareto" },
      }),
    ).toThrow(/invalid workload options/);
  });

  it("checks the region and footprint when a vCPU is made", () => {
    expect(() =>
      rig({ seed: 1, writesPerSecond: 1, busyShare: 1, distribution: uniform, region: "nope" }),
    ).toThrow(/RAM region "nope".*ram/);
    expect(() =>
      rig({
        seed: 1,
        writesPerSecond: 1,
        busyShare: 1,
        distribution: { kind: "sequential", footprintBytes: 128 * MiB },
      }),
    ).toThrow(/exceeds the RAM region/);
    expect(() =>
      rig({
        seed: 1,
        writesPerSecond: 1,
        busyShare: 1,
        distribution: {
          kind: "hot-cold",
          hotBytes: 16 * MiB,
          hotShare: 0.5,
          footprintBytes: 8 * MiB,
        },
      }),
    ).toThrow(/hot set/);
  });

  it("reports its name and work unit", () => {
    const cpu = workloadBackend({
      seed: 1,
      writesPerSecond: 1,
      busyShare: 1,
      distribution: uniform,
    });
    expect(cpu.name).toBe("workload");
    expect(cpu.workUnit).toBe("operations");
  });
});

describe("workload rate", () => {
  it("performs exactly floor(rate × time) writes over any slicing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50_000 }),
        fc.array(fc.integer({ min: 0, max: 30 * MS }), { minLength: 1, maxLength: 200 }),
        (wps, slices) => {
          const { ram, vcpus } = rig(
            { seed: 3, writesPerSecond: wps, busyShare: 1, distribution: uniform },
            4 * MiB,
          );
          const run = createVcpuRun();
          let total = 0;
          let retired = 0;
          for (const s of slices) {
            vcpus[0].run(run, s);
            expect(run.consumedNs).toBe(s);
            total += s;
            retired += run.retired;
          }
          const expected = Math.floor((total * wps) / 1e9);
          expect(retired).toBe(expected);
          expect(vcpus[0].workDone).toBe(expected);
          expect(versionSum(ram)).toBe(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("scales the rate by busyShare and counts reads as operations", () => {
    const { ram, vcpus } = rig({
      seed: 3,
      writesPerSecond: 10_000,
      busyShare: 0.8,
      readsPerWrite: 2.5,
      distribution: uniform,
    });
    const retired = runFor(vcpus, 2_000 * MS, 10 * MS);
    expect(versionSum(ram)).toBe(16_000);
    expect(retired).toBe(16_000 + 40_000);
    expect(vcpus[0].workDone).toBe(56_000);
  });

  it("returns Kicked without work when immediateExit is set", () => {
    const { ram, vcpus } = rig({
      seed: 3,
      writesPerSecond: 1e6,
      busyShare: 1,
      distribution: uniform,
    });
    const run = createVcpuRun();
    run.immediateExit = true;
    vcpus[0].run(run, 10 * MS);
    expect(run.exitReason).toBe(ExitReason.Kicked);
    expect(run.consumedNs).toBe(0);
    expect(run.retired).toBe(0);
    expect(versionSum(ram)).toBe(0);
    run.immediateExit = false;
    vcpus[0].run(run, 10 * MS);
    expect(run.retired).toBe(10_000);
  });

  it("does less work per virtual second when a pre-run hook throttles it", () => {
    // A fake KVM-style loop: pre-run hooks may ask to sleep, then the vCPU runs one slice.
    const workPerSecond = (hook: PreRunHook): number => {
      const { vcpus } = rig({
        seed: 3,
        writesPerSecond: 20_000,
        busyShare: 1,
        distribution: uniform,
      });
      const run = createVcpuRun();
      const slice = 10 * MS;
      const end = 5_000 * MS;
      let now = 0;
      while (now < end) {
        now += hook({ vcpuIndex: 0, nowNs: now });
        if (now >= end) break;
        run.startNs = now;
        vcpus[0].run(run, Math.min(slice, end - now));
        now += run.consumedNs;
      }
      return vcpus[0].workDone / 5;
    };
    const free = workPerSecond(() => 0);
    // QEMU's cpu_throttle: at pct, sleep pct/(1-pct) × 10 ms before each 10 ms slice.
    const at =
      (pct: number): PreRunHook =>
      () =>
        ((pct / (1 - pct)) * 10 * MS) | 0;
    expect(free).toBe(20_000);
    expect(workPerSecond(at(0.5)) / free).toBeCloseTo(0.5, 2);
    expect(workPerSecond(at(0.8)) / free).toBeCloseTo(0.2, 2);
  });
});

describe("workload under the real vCPU loop", () => {
  it("a 50% throttling hook halves the work per virtual second", async () => {
    const workIn2s = async (throttle: boolean): Promise<number> => {
      const size = 16 * MiB;
      const ram = createSyntheticRamBackend({ size, seed: 1, bytesPerWrite: 64 });
      const { memory, ctx } = machine(size, ram, 1);
      const core = workloadBackend({
        seed: 1,
        writesPerSecond: 10_000,
        busyShare: 1,
        distribution: uniform,
      }).createVcpu(ctx(0));
      const scheduler = new VirtualScheduler();
      const vcpu = createVcpu({
        index: 0,
        core,
        scheduler,
        memory,
        sliceNs: 10 * MS,
        host: {
          hypercall: () => 0,
          systemEvent: () => {},
          error: (_v, message) => {
            throw new Error(message);
          },
        },
      });
      if (throttle) vcpu.addPreRunHook(() => 10 * MS);
      vcpu.start();
      await scheduler.run({ untilNs: 2_000 * MS });
      vcpu.stop();
      expect(versionSum(ram)).toBe(core.workDone);
      return core.workDone;
    };
    const free = await workIn2s(false);
    const throttled = await workIn2s(true);
    // 2 s at 10,000 writes/s, give or take the slice starting exactly at the end time.
    expect(free).toBeGreaterThanOrEqual(19_900);
    expect(free).toBeLessThanOrEqual(20_100);
    expect(throttled / free).toBeGreaterThan(0.49);
    expect(throttled / free).toBeLessThan(0.51);
  });
});

describe("workload determinism and state", () => {
  const opts: WorkloadOptionsInput = {
    seed: 99,
    writesPerSecond: 5_000,
    busyShare: 0.8,
    distribution: { kind: "hot-cold", hotBytes: 4 * MiB, hotShare: 0.7, footprintBytes: 32 * MiB },
  };

  it("same seed gives identical version arrays; another seed does not", () => {
    const a = rig(opts, 64 * MiB, 3);
    const b = rig(opts, 64 * MiB, 3);
    const c = rig({ ...opts, seed: 100 }, 64 * MiB, 3);
    runFor(a.vcpus, 1_000 * MS, 7 * MS);
    runFor(b.vcpus, 1_000 * MS, 7 * MS);
    runFor(c.vcpus, 1_000 * MS, 7 * MS);
    expect(a.ram.versions).toEqual(b.ram.versions);
    expect(a.ram.versions).not.toEqual(c.ram.versions);
  });

  it("gives every vCPU its own stream", () => {
    const one = rig(opts, 64 * MiB, 2);
    const run = createVcpuRun();
    one.vcpus[0].run(run, 100 * MS);
    const first = one.ram.versions.slice();
    one.ram.versions.fill(0);
    one.vcpus[1].run(run, 100 * MS);
    expect(one.ram.versions).not.toEqual(first);
  });

  it("saves and restores PRNG and carry as plain data", () => {
    const a = rig(opts);
    const b = rig(opts);
    const run = createVcpuRun();
    a.vcpus[0].run(run, 123_456_789);
    const state = a.vcpus[0].saveState();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    b.vcpus[0].loadState(JSON.parse(JSON.stringify(state)));
    a.ram.versions.fill(0);
    a.vcpus[0].run(run, 333 * MS);
    b.vcpus[0].run(run, 333 * MS);
    expect(a.ram.versions).toEqual(b.ram.versions);
    expect(() => b.vcpus[0].loadState({ arch: "rv32", pc: 0 })).toThrow(StateValidationError);
    expect(() => b.vcpus[0].loadState({ ...state, hartId: 3 })).toThrow(/hart 3/);
    expect(() => b.vcpus[0].loadState({ ...state, rng: -1 })).toThrow(StateValidationError);
  });

  it("reset returns to the power-on stream", () => {
    const a = rig(opts);
    const run = createVcpuRun();
    a.vcpus[0].run(run, 50 * MS);
    const first = a.ram.versions.slice();
    a.ram.versions.fill(0);
    a.vcpus[0].reset(0x8000_0000, 0);
    a.vcpus[0].run(run, 50 * MS);
    expect(a.ram.versions).toEqual(first);
  });

  it("tracks interrupt lines for wantsWake and has no MMIO or hypercall to complete", () => {
    const v = rig(opts).vcpus[0];
    expect(v.wantsWake()).toBe(false);
    v.setInterrupt(7, true);
    expect(v.wantsWake()).toBe(true);
    v.setInterrupt(7, false);
    expect(v.wantsWake()).toBe(false);
    expect(() => v.completeMmioRead(0)).toThrow(InvalidStateError);
    expect(() => v.completeHypercall(0)).toThrow(InvalidStateError);
  });
});

describe("workload dirty marking", () => {
  it("marks exactly the written pages, only while logging", () => {
    const { region, ram, vcpus } = rig({
      seed: 1,
      writesPerSecond: 3_000,
      busyShare: 1,
      distribution: { kind: "zipf", s: 0.9, footprintBytes: 16 * MiB },
    });
    runFor(vcpus, 200 * MS, 10 * MS);
    expect(versionSum(ram)).toBe(600);
    expect(region.dirty.words.every((w) => w === 0)).toBe(true);
    region.dirty.start();
    const before = ram.versions.slice();
    runFor(vcpus, 200 * MS, 10 * MS);
    const bitmap = createDirtyBitmap(ram.pageCount);
    const n = region.dirty.sync(bitmap);
    let changed = 0;
    for (let p = 0; p < ram.pageCount; p++) {
      const c = ram.versions[p] !== before[p];
      if (c) changed++;
      expect(bitmap.get(p)).toBe(c);
    }
    expect(n).toBe(changed);
    expect(changed).toBeGreaterThan(0);
    region.dirty.stop();
    runFor(vcpus, 100 * MS, 10 * MS);
    expect(region.dirty.words.every((w) => w === 0)).toBe(true);
  });

  it("stores pseudo-random bytes on a dense array backend and marks them", () => {
    const size = 4 * MiB;
    const ram = createRamBackend("array", size);
    const { region, ctx } = machine(size, ram, 1);
    const cpu = workloadBackend({
      seed: 4,
      writesPerSecond: 1_000,
      busyShare: 1,
      bytesPerWrite: 12,
      distribution: { kind: "sequential", footprintBytes: size },
    });
    const v = cpu.createVcpu(ctx(0));
    region.dirty.start();
    const run = createVcpuRun();
    v.run(run, 100 * MS); // 100 writes: pages 0..99 in order
    expect(run.retired).toBe(100);
    const bitmap = createDirtyBitmap(size / PAGE_SIZE);
    expect(region.dirty.sync(bitmap)).toBe(100);
    for (let p = 0; p < 110; p++) {
      let nonZero = 0;
      for (let i = 0; i < PAGE_SIZE; i++) if (ram.bytes![p * PAGE_SIZE + i] !== 0) nonZero++;
      expect(bitmap.get(p)).toBe(p < 100);
      if (p < 100) expect(nonZero).toBeGreaterThan(0);
      expect(nonZero).toBeLessThanOrEqual(p < 100 ? 12 : 0);
    }
  });
});

describe("workload distributions", () => {
  it("hot-cold: the hot set gets hotShare of the writes, uniformly", () => {
    const { ram, vcpus } = rig({
      seed: 8,
      writesPerSecond: 100_000,
      busyShare: 1,
      distribution: {
        kind: "hot-cold",
        hotBytes: 2 * MiB,
        hotShare: 0.8,
        footprintBytes: 32 * MiB,
      },
    });
    runFor(vcpus, 1_000 * MS, 10 * MS);
    const hotPages = (2 * MiB) / PAGE_SIZE;
    const footprint = (32 * MiB) / PAGE_SIZE;
    const hot = versionSum(ram, 0, hotPages);
    const cold = versionSum(ram, hotPages, footprint);
    expect(hot + cold).toBe(100_000);
    expect(versionSum(ram, footprint)).toBe(0);
    expect(hot / 100_000).toBeGreaterThan(0.79);
    expect(hot / 100_000).toBeLessThan(0.81);
    // Uniform inside the hot set: both halves get about half.
    const firstHalf = versionSum(ram, 0, hotPages / 2);
    expect(firstHalf / hot).toBeGreaterThan(0.48);
    expect(firstHalf / hot).toBeLessThan(0.52);
  });

  it("uniform covers the region evenly", () => {
    const { ram, vcpus } = rig(
      { seed: 8, writesPerSecond: 64_000, busyShare: 1, distribution: uniform },
      4 * MiB,
    );
    runFor(vcpus, 1_000 * MS, 10 * MS);
    const quarter = ram.pageCount / 4;
    for (let q = 0; q < 4; q++) {
      const share = versionSum(ram, q * quarter, (q + 1) * quarter) / 64_000;
      expect(share).toBeGreaterThan(0.24);
      expect(share).toBeLessThan(0.26);
    }
  });

  it("sequential sweeps the footprint in order with the stride, staggered per vCPU", () => {
    const { ram, vcpus } = rig(
      {
        seed: 8,
        writesPerSecond: 1_000,
        busyShare: 1,
        distribution: { kind: "sequential", footprintBytes: 16 * PAGE_SIZE, strideBytes: 2048 },
      },
      4 * MiB,
      2,
    );
    const run = createVcpuRun();
    const order: number[] = [];
    for (let i = 0; i < 40; i++) {
      const before = ram.versions.slice(0, 16);
      vcpus[0].run(run, 1 * MS);
      for (let p = 0; p < 16; p++) if (ram.versions[p] !== before[p]) order.push(p);
    }
    // Two writes per page (stride half a page), wrapping after page 15.
    const expected = Array.from({ length: 40 }, (_, i) => Math.floor(i / 2) % 16);
    expect(order).toEqual(expected);
    // vCPU 1 of 2 starts half-way through the footprint.
    ram.versions.fill(0);
    vcpus[1].run(run, 1 * MS);
    expect(ram.versions[8]).toBe(1);
  });

  it("zipf: a well-formed table and a skew matching 1/r^s", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1 << 22 }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        (n, s) => {
          const t = buildZipfTable(n, s);
          expect(t.edges[0]).toBe(0);
          expect(t.edges[t.bucketCount]).toBe(n);
          expect(t.cdf[t.bucketCount - 1]).toBe(1);
          for (let i = 0; i < t.bucketCount; i++) {
            expect(t.edges[i + 1]).toBeGreaterThan(t.edges[i]);
            if (i > 0) expect(t.cdf[i]).toBeGreaterThanOrEqual(t.cdf[i - 1]);
          }
          expect(t.bucketCount).toBeLessThanOrEqual(4096);
        },
      ),
      { numRuns: 40 },
    );
    const footprintPages = 8192;
    const { ram, vcpus } = rig({
      seed: 8,
      writesPerSecond: 200_000,
      busyShare: 1,
      distribution: { kind: "zipf", s: 1, footprintBytes: footprintPages * PAGE_SIZE },
    });
    runFor(vcpus, 1_000 * MS, 10 * MS);
    let h = 0;
    for (let r = 1; r <= footprintPages; r++) h += 1 / r;
    const total = 200_000;
    expect(ram.versions[0] / total).toBeCloseTo(1 / h, 2);
    expect(ram.versions[1] / total).toBeCloseTo(1 / (2 * h), 2);
    // Top 1% of pages vs theory.
    let top = 0;
    for (let r = 1; r <= footprintPages / 100; r++) top += 1 / r;
    const topShare = versionSum(ram, 0, footprintPages / 100) / total;
    expect(Math.abs(topShare - top / h)).toBeLessThan(0.01);
    expect(versionSum(ram, footprintPages)).toBe(0);
  });
});

describe("the target scenario's shape", () => {
  it("20 vCPUs at ~80% busy dirty 67,500 pages/s of a 9 GiB heap in a 256 GiB guest", () => {
    const size = 256 * GiB;
    const ram = createSyntheticRamBackend({ size, seed: 1, bytesPerWrite: 64, zeroShare: 0.01 });
    const { region, ctx } = machine(size, ram, 20);
    const cpu = workloadBackend({
      seed: 2,
      writesPerSecond: 67_500 / 20 / 0.8,
      busyShare: 0.8,
      distribution: {
        kind: "hot-cold",
        hotBytes: 1 * GiB,
        hotShare: 0.9,
        footprintBytes: 9 * GiB,
      },
    });
    const vcpus = Array.from({ length: 20 }, (_, i) => cpu.createVcpu(ctx(i)));
    region.dirty.start();
    const retired = runFor(vcpus, 1_000 * MS, 10 * MS);
    expect(retired).toBe(67_500);
    const bitmap = createDirtyBitmap(ram.pageCount);
    const dirty = region.dirty.sync(bitmap);
    expect(dirty).toBeGreaterThan(40_000);
    expect(dirty).toBeLessThanOrEqual(67_500);
    expect(bitmap.nextSet((9 * GiB) / PAGE_SIZE)).toBe(-1);
  });
});
