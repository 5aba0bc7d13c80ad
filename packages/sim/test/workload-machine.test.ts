import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@ferry/core";
import { PAGE_SIZE } from "@ferry/core";
import { createSyntheticRamBackend } from "../src/synthetic/backend";
import { VirtualScheduler } from "@ferry/core";
import { createWorkloadMachine, WORKLOAD_SLICE_NS } from "../src/workload-machine";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const workload = {
  seed: 3,
  writesPerSecond: 1000,
  busyShare: 1,
  distribution: { kind: "uniform" as const, footprintBytes: MiB },
};

describe("createWorkloadMachine", () => {
  it("builds a created machine on a 256 GiB synthetic backend and prefills the footprint", async () => {
    const scheduler = new VirtualScheduler();
    const backend = createSyntheticRamBackend({ size: 256 * GiB, seed: 1, bytesPerWrite: 64 });
    const m = createWorkloadMachine({
      scheduler,
      vcpus: 4,
      memory: { size: 256 * GiB, backend },
      workload,
      prefillBytes: MiB / 2,
    });
    expect(m.state).toBe("created");
    expect(m.ram.backend).toBe(backend);
    expect(m.vcpus.length).toBe(4);
    expect(backend.touchedPageCount()).toBe(MiB / 2 / PAGE_SIZE);
    expect(backend.pageVersion(0)).toBe(1);
    expect(backend.pageVersion(MiB / 2 / PAGE_SIZE)).toBe(0);
    m.start();
    await m.runUntilShutdown({ timeLimitNs: 1e9 });
    // 4 vCPUs × 1000 writes/s × 1 s, all within the 1 MiB footprint
    expect(m.workDone()).toBe(4000);
    expect(backend.touchedPageCount()).toBe(MiB / PAGE_SIZE);
    expect(m.vcpus[0].stats().slices).toBeLessThanOrEqual(1e9 / WORKLOAD_SLICE_NS + 1);
  });

  it("prefills dense RAM with non-zero pages only inside the prefill", () => {
    const m = createWorkloadMachine({
      scheduler: new VirtualScheduler(),
      vcpus: 1,
      memory: { size: 2 * MiB, backend: "array" },
      workload,
      prefillBytes: 8 * PAGE_SIZE,
    });
    const b = m.ram.backend;
    for (let p = 0; p < 8; p++) expect(b.isZeroPage(p)).toBe(false);
    expect(b.isZeroPage(8)).toBe(true);
  });

  it("refuses a prefill beyond the footprint or not page-aligned", () => {
    const base = {
      scheduler: new VirtualScheduler(),
      vcpus: 1,
      memory: { size: 2 * MiB, backend: "array" as const },
      workload,
    };
    expect(() => createWorkloadMachine({ ...base, prefillBytes: 2 * MiB })).toThrow(
      /at most the workload footprint \(1048576 bytes\), got 2097152/,
    );
    expect(() => createWorkloadMachine({ ...base, prefillBytes: 100 })).toThrow(
      InvalidArgumentError,
    );
  });
});
