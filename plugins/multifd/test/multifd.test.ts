/**
 * Multifd end to end on synthetic RAM in virtual time: pages go in packets over the link's data
 * channels and arrive equal (compact link against the full byte path, with and without
 * compression); statistics count real bytes on both paths; several channels beat one when the
 * per-page sender cost makes one channel CPU-bound; bad settings are refused clearly.
 */
import {
  createAddressSpace,
  createRamBackend,
  type Machine,
  PAGE_SIZE,
  type Scheduler,
  VirtualScheduler,
} from "@ferry/core";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createLink,
  fileSink,
  createMigrationManager,
  incoming,
  type MigratableMachine,
  type MigrationInfo,
} from "@ferry/migration";
import { autoConverge } from "@ferry/plugin-auto-converge";
import { precopy } from "@ferry/plugin-precopy";
import {
  createSyntheticRamBackend,
  createWorkloadMachine,
  type SyntheticRamBackend,
} from "@ferry/sim";
import { describe, expect, it } from "vitest";
import { encodeMultifdInit, encodeMultifdPacketHeader } from "@ferry/migration";
import { multifd } from "../src/index";

const MiB = 2 ** 20;
const RAM = 8 * MiB;
const CONTENT = { seed: 21, bytesPerWrite: 200, zeroShare: 0.2, deltaWindow: 8 } as const;

type SyntheticGuest = Machine & { readonly backend: SyntheticRamBackend };

function syntheticGuest(s: Scheduler, writesPerSecond = 400): SyntheticGuest {
  const backend = createSyntheticRamBackend({ size: RAM, ...CONTENT });
  const m = createWorkloadMachine({
    scheduler: s,
    vcpus: 2,
    memory: { size: RAM, backend },
    workload: {
      seed: 4,
      writesPerSecond,
      busyShare: 1,
      distribution: { kind: "hot-cold", hotBytes: MiB / 2, hotShare: 0.9, footprintBytes: 3 * MiB },
    },
  });
  return Object.assign(m, { backend });
}

function arrayDestination(): MigratableMachine & { bytes: Uint8Array } {
  const memory = createAddressSpace();
  const backend = createRamBackend("array", RAM);
  memory.addRam({ name: "ram", base: 0, size: RAM, backend });
  return {
    memory,
    vcpus: [],
    bytes: backend.bytes!,
    state: "created",
    pause() {},
    resume() {},
    saveState: () => ({}),
    loadState() {},
  };
}

interface Run {
  readonly info: MigrationInfo;
  readonly ok: boolean;
  readonly equal: boolean;
  readonly linkChannels: readonly { forwardBytes: number }[];
}

async function migrate(
  compact: boolean,
  params: Record<string, unknown> = {},
  caps: Record<string, boolean> = {},
  writesPerSecond = 400,
): Promise<Run> {
  const s = new VirtualScheduler();
  const src = syntheticGuest(s, writesPerSecond);
  for (let p = 0; p < 1024; p++) src.backend.setPageVersion(p, 1 + (p % 7));
  const dst = compact ? syntheticGuest(s) : arrayDestination();
  src.start();
  await s.run({ untilNs: 50e6 });
  const mgr = createMigrationManager({ plugins: [precopy(), multifd(), autoConverge()] });
  mgr.setCapabilities({ multifd: true, ...caps });
  mgr.setParameters({ "max-bandwidth": 0, "downtime-limit": 20, ...params });
  const channels = mgr.queryParameters()["multifd-channels"] as number;
  const link = createLink({ scheduler: s, bandwidth: 4 * MiB, latency: 1e6, compact, channels });
  const inc = incoming({
    machine: dst,
    transport: link.destination,
    plugins: mgr.plugins,
    multifdChannels: channels,
  });
  const m = mgr.migrate({ machine: src, transport: link.source });
  let equal = false;
  m.events.on("complete", () => {
    if (compact) {
      const d = (dst as SyntheticGuest).backend.versions;
      equal = src.backend.versions.every((v, i) => v === d[i]);
    } else {
      const image = new Uint8Array(RAM);
      src.backend.read(0, image);
      equal = Buffer.compare(image, (dst as { bytes: Uint8Array }).bytes) === 0;
    }
  });
  await s.run({
    untilNs: s.now() + 120e9,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  const result = await inc.done;
  return {
    info: m.info(),
    ok: m.status === "completed" && result.status === "completed",
    equal,
    linkChannels: link.stats().channels,
  };
}

const ram = (r: Run) => r.info.ram!;
const section = (r: Run) => r.info["x-multifd"] as Record<string, number>;

describe("multifd over the link's data channels", () => {
  it("moves every page over the channels; compact and full byte paths agree", async () => {
    const p = { "downtime-limit": 150 };
    const full = await migrate(false, p, {}, 3000);
    const compact = await migrate(true, p, {}, 3000);
    for (const r of [full, compact]) {
      expect(r.ok).toBe(true);
      expect(r.equal).toBe(true);
      // several passes: sync points between them
      expect(ram(r)["dirty-sync-count"]).toBeGreaterThan(2);
      expect(section(r).syncs).toBeGreaterThan(1);
      expect(ram(r).duplicate).toBeGreaterThan(0);
    }
    // every statistic counts the real bytes on the compact link too
    expect(JSON.stringify(compact.info)).toBe(JSON.stringify(full.info));
    const r = full;
    const mb = ram(r)["multifd-bytes"]!;
    // the pages went on the data channels, the main channel carried little
    expect(mb).toBeGreaterThan(ram(r).normal * PAGE_SIZE);
    expect(r.linkChannels[0].forwardBytes).toBeLessThan(64 * 1024);
    expect(r.linkChannels[1].forwardBytes + r.linkChannels[2].forwardBytes).toBe(mb);
    expect(section(r)["channel-0-bytes"]).toBe(r.linkChannels[1].forwardBytes);
    expect(section(r)["channel-1-bytes"]).toBe(r.linkChannels[2].forwardBytes);
    expect(ram(r).transferred).toBe(mb + r.linkChannels[0].forwardBytes);
  });

  it("compresses with zlib and zstd; compact and full byte paths count the same bytes", async () => {
    for (const method of ["zlib", "zstd"]) {
      const p = { "multifd-compression": method, "multifd-channels": 3 };
      const full = await migrate(false, p);
      const compact = await migrate(true, p);
      expect(full.ok && full.equal && compact.ok && compact.equal).toBe(true);
      expect(JSON.stringify(compact.info)).toBe(JSON.stringify(full.info));
      // synthetic page content is pseudo-random: compression cannot shrink it
      expect(section(full)["compression-ratio"]).toBeLessThanOrEqual(1.001);
      expect(section(full).channels).toBe(3);
    }
  });

  it("one channel is CPU-bound at a high x-page-cost-ns, four are not", async () => {
    // 2 ms per page on one channel: 2 MB/s, half the 4 MiB/s link
    const p = { "x-page-cost-ns": 2_000_000, "downtime-limit": 300 };
    const one = await migrate(true, { ...p, "multifd-channels": 1 }, {}, 20);
    const four = await migrate(true, { ...p, "multifd-channels": 4 }, {}, 20);
    expect(one.ok && four.ok).toBe(true);
    expect(four.info["total-time"]!).toBeLessThan(0.75 * one.info["total-time"]!);
    const busy = section(one)["channel-0-busy-ms"];
    expect(busy).toBeGreaterThan(0.8 * one.info["total-time"]!);
  });

  it("works with auto-converge", async () => {
    const r = await migrate(true, { "multifd-channels": 4 }, { "auto-converge": true });
    expect(r.ok && r.equal).toBe(true);
  });

  it("refuses bad parameters and a transport without data channels", async () => {
    const mgr = createMigrationManager({ plugins: [precopy(), multifd()] });
    expect(() => mgr.setParameters({ "multifd-channels": 0 })).toThrow(/multifd-channels/);
    expect(() => mgr.setParameters({ "multifd-compression": "lz4" })).toThrow(
      /multifd-compression/,
    );
    mgr.setCapabilities({ multifd: true });
    const s = new VirtualScheduler();
    const src = syntheticGuest(s);
    src.start();
    const m = mgr.migrate({
      machine: src,
      transport: fileSink(join(tmpdir(), `ferry-multifd-${process.pid}.bin`)),
    });
    await s.run({ untilNs: 1e9, stopWhen: () => m.status === "failed" });
    expect(m.status).toBe("failed");
    expect(m.error?.message).toMatch(/capability "multifd" needs a transport with data channels/);
  });

  it("a link cut mid-migration fails it; the source keeps running, the destination never starts", async () => {
    const s = new VirtualScheduler();
    const src = syntheticGuest(s);
    const dst = syntheticGuest(s);
    for (let p = 0; p < 1024; p++) src.backend.setPageVersion(p, 1 + (p % 7));
    src.start();
    const mgr = createMigrationManager({ plugins: [precopy(), multifd()] });
    mgr.setCapabilities({ multifd: true });
    mgr.setParameters({ "max-bandwidth": 0, "downtime-limit": 20 });
    const link = createLink({
      scheduler: s,
      bandwidth: MiB,
      latency: 1e6,
      compact: true,
      channels: 2,
    });
    const inc = incoming({
      machine: dst,
      transport: link.destination,
      plugins: mgr.plugins,
      multifdChannels: 2,
    });
    const m = mgr.migrate({ machine: src, transport: link.source });
    s.after(500e6, () => link.cut());
    await s.run({ untilNs: 30e9, stopWhen: () => m.status === "failed" });
    expect(m.status).toBe("failed");
    expect(src.state).toBe("running");
    expect((await inc.done).status).toBe("failed");
    expect(dst.state).toBe("created");
  });

  it("a hostile data channel is refused with a clear error and the destination never starts", async () => {
    const s = new VirtualScheduler();
    const dst = syntheticGuest(s);
    const link = createLink({ scheduler: s, bandwidth: MiB, latency: 1e6, channels: 1 });
    const inc = incoming({
      machine: dst,
      transport: link.destination,
      plugins: [multifd()],
      multifdChannels: 1,
    });
    const [ch] = await link.source.openChannels!(1);
    const init = encodeMultifdInit({ uuid: new Uint8Array(16), id: 0 });
    const packet = encodeMultifdPacketHeader({
      flags: 0,
      pagesAlloc: 128,
      normalPages: 1,
      zeroPages: 0,
      nextPacketSize: PAGE_SIZE,
      packetNum: 0,
      ramblock: "ram",
      offsets: [RAM], // one page past the end of the block
    });
    ch.write(init);
    ch.write(packet);
    ch.write(new Uint8Array(PAGE_SIZE));
    await s.run({ untilNs: 1e9 });
    const r = await inc.done;
    expect(r.status).toBe("failed");
    expect(r.error?.message).toMatch(
      /multifd channel 0: packet 0: page offset 8388608 outside RAM block "ram" of 8388608 bytes/,
    );
    expect(dst.state).toBe("created");
  });
});
