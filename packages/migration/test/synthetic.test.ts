/**
 * Migration of synthetic RAM: the compact path (versions on a compact link) and the full byte path
 * (materialized pages into an array destination) give identical statistics and equal content.
 * (The seed-specjbb scenario's tests are in packages/cli/test/seed.test.ts.)
 */
import {
  createAddressSpace,
  createRamBackend,
  type Machine,
  type Scheduler,
  VirtualScheduler,
} from "@ferry/core";
import {
  createSyntheticRamBackend,
  createWorkloadMachine,
  isSyntheticRamBackend,
  type SyntheticRamBackend,
} from "@ferry/sim";
// Test-only: the default strategy, by path (the migration package does not depend on plugins).
import { precopy } from "../../../plugins/precopy/src/index";
import { describe, expect, it } from "vitest";
import {
  createLink,
  createMigrationManager,
  type FerryPlugin,
  incoming,
  type MigratableMachine,
  PageCodec,
} from "../src/index";

const MiB = 2 ** 20;
const RAM = 16 * MiB;

/** A workload machine on synthetic RAM (core's factory), with its backend. */
type SyntheticGuest = Machine & { readonly backend: SyntheticRamBackend };

function source(s: Scheduler): SyntheticGuest {
  const backend = createSyntheticRamBackend({
    size: RAM,
    seed: 5,
    bytesPerWrite: 64,
    zeroShare: 0.05,
    deltaWindow: 2,
  });
  const m = createWorkloadMachine({
    scheduler: s,
    vcpus: 2,
    memory: { size: RAM, backend },
    workload: {
      seed: 9,
      writesPerSecond: 100,
      busyShare: 1,
      distribution: { kind: "hot-cold", hotBytes: MiB, hotShare: 0.9, footprintBytes: 4 * MiB },
    },
  });
  if (!isSyntheticRamBackend(m.ram.backend)) throw new Error("expected synthetic RAM");
  return Object.assign(m, { backend });
}

/** A paused destination whose RAM is a plain array (the full byte path). */
function arrayDestination(): MigratableMachine & { bytes: Uint8Array; loaded: object | null } {
  const memory = createAddressSpace();
  const backend = createRamBackend("array", RAM);
  memory.addRam({ name: "ram", base: 0, size: RAM, backend });
  const m = {
    memory,
    vcpus: [],
    bytes: backend.bytes!,
    loaded: null as object | null,
    state: "created",
    pause() {},
    resume() {},
    saveState: () => ({}),
    loadState(st: object) {
      m.loaded = st;
    },
  };
  return m;
}

async function migrateSmall(compact: boolean) {
  const s = new VirtualScheduler();
  const src = source(s);
  for (let p = 0; p < 1024; p++) src.backend.setPageVersion(p, 1 + (p % 3));
  const dst = compact ? source(s) : arrayDestination();
  src.start();
  await s.run({ untilNs: 200e6 });
  const mgr = createMigrationManager({ plugins: [precopy()] });
  mgr.setParameters({ "max-bandwidth": 0, "downtime-limit": 300, "x-page-cost-ns": 2000 });
  const link = createLink({ scheduler: s, bandwidth: 2 * MiB, latency: 1e6, compact });
  const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
  const m = mgr.migrate({ machine: src, transport: link.source });
  const at: { image: Uint8Array; versions: Uint32Array } = {
    image: new Uint8Array(RAM),
    versions: new Uint32Array(0),
  };
  m.events.on("complete", () => {
    src.backend.read(0, at.image);
    at.versions = src.backend.versions.slice();
  });
  await s.run({
    untilNs: s.now() + 120e9,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  const result = await inc.done;
  return {
    info: m.info(),
    series: m.series,
    result,
    src,
    dst,
    srcImage: at.image,
    srcVersions: at.versions,
  };
}

describe("synthetic RAM migration", () => {
  it("compact and full byte paths give identical statistics and equal destination content", async () => {
    const full = await migrateSmall(false);
    const compact = await migrateSmall(true);
    expect(full.info.status).toBe("completed");
    expect(full.result.status).toBe("completed");
    expect(compact.result.status).toBe("completed");
    const ram = full.info.ram!;
    expect(ram["dirty-sync-count"]).toBeGreaterThan(2);
    expect(ram.duplicate).toBeGreaterThan(0);
    expect(ram.normal).toBeGreaterThan(1024);
    expect(JSON.stringify(compact.info)).toBe(JSON.stringify(full.info));
    expect(JSON.stringify(compact.series)).toBe(JSON.stringify(full.series));
    // Full path: the array destination holds the source's bytes at switchover.
    const dstBytes = (full.dst as ReturnType<typeof arrayDestination>).bytes;
    expect(Buffer.compare(Buffer.from(dstBytes), Buffer.from(full.srcImage))).toBe(0);
    // Compact path: the synthetic destination holds the same versions, hence the same bytes.
    const dst = compact.dst as SyntheticGuest;
    expect(
      Buffer.compare(
        Buffer.from(dst.backend.versions.buffer),
        Buffer.from(compact.srcVersions.buffer),
      ),
    ).toBe(0);
    const image = new Uint8Array(RAM);
    dst.backend.read(0, image);
    expect(Buffer.compare(Buffer.from(image), Buffer.from(full.srcImage))).toBe(0);
    // The compact link carried far fewer bytes than it accounted.
    expect(compact.result.bytes).toBeLessThan(ram.transferred / 50);
    expect(full.result.bytes).toBe(ram.transferred);
  });

  it("a compact record for a byte-backed destination block fails with a clear stream error", async () => {
    const s = new VirtualScheduler();
    const src = source(s);
    src.backend.setPageVersion(0, 1);
    src.start();
    const mgr = createMigrationManager({ plugins: [precopy()] });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: 1e6, compact: true });
    const inc = incoming({ machine: arrayDestination(), transport: link.destination });
    const m = mgr.migrate({ machine: src, transport: link.source });
    await s.run({ untilNs: 10e9, stopWhen: () => m.status === "failed" });
    const r = await inc.done;
    expect(r.status).toBe("failed");
    expect(r.error?.message).toMatch(
      /compact synthetic record for RAM block "ram", which is not synthetic/,
    );
    expect(m.status).toBe("failed");
    expect(src.state).toBe("running");
  });

  it("the full byte path into a synthetic destination is refused clearly", async () => {
    const s = new VirtualScheduler();
    const src = source(s);
    src.backend.setPageVersion(0, 1);
    src.start();
    const mgr = createMigrationManager({ plugins: [precopy()] });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: 1e6 });
    const inc = incoming({ machine: source(s), transport: link.destination });
    mgr.migrate({ machine: src, transport: link.source });
    await s.run({ untilNs: 10e9 });
    const r = await inc.done;
    expect(r.status).toBe("failed");
    expect(r.error?.message).toMatch(/synthetic RAM stores page versions, not bytes/);
  });

  it("on the compact path, a codec that takes a page and sends nothing leaves earlier records intact", async () => {
    // A codec that "sends" odd pages by writing nothing (as XBZRLE does for an unchanged page).
    const skipOdd: FerryPlugin = {
      name: "skip-odd",
      capabilities: [],
      register(c) {
        c.register(PageCodec, {
          useValue: {
            name: "skip-odd",
            order: 50,
            counts: "other",
            readsBytes: false,
            createEncoder: () => ({ encode: (page) => page.page % 2 === 1 }),
          },
        });
      },
    };
    const s = new VirtualScheduler();
    const src = source(s);
    for (let p = 0; p < 64; p++) src.backend.setPageVersion(p, 10 + p);
    const dst = source(s);
    const mgr = createMigrationManager({ plugins: [precopy(), skipOdd] });
    mgr.setParameters({ "max-bandwidth": 0 });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: 1e6, compact: true });
    const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
    const m = mgr.migrate({ machine: src, transport: link.source });
    await s.run({
      untilNs: 10e9,
      stopWhen: () => m.status === "completed" || m.status === "failed",
    });
    expect((await inc.done).status).toBe("completed");
    const got = Array.from({ length: 64 }, (_, p) => dst.backend.pageVersion(p));
    // Even pages travel as records; odd ones were "sent" as nothing, except zero versions, which
    // the zero-page codec (first in the chain) sends.
    const sent = (p: number) => p % 2 === 0 || src.backend.isZeroVersion(p, 10 + p);
    expect(got).toEqual(Array.from({ length: 64 }, (_, p) => (sent(p) ? 10 + p : 0)));
    expect(got.filter((v) => v === 0).length).toBeGreaterThan(20);
  });
});
