import { createHash } from "node:crypto";
import { type Machine, PAGE_SIZE, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier } from "@ferry/sim";
import { describe, expect, it } from "vitest";
import {
  ConvergenceController,
  createLink,
  createMigrationManager,
  type FerryPlugin,
  formatInfoMigrate,
  incoming,
  type Migration,
  MigrationContextToken,
  type MigrationSession,
  MigrationStrategy,
  PageCodec,
  type RamRecordType,
} from "../src/index";

const MS = 1_000_000;

/** A minimal strategy: setup, send every dirty page in one part, switch over. */
const simpleStrategy = (name: string, capability?: string): MigrationStrategy => ({
  name,
  capability,
  async run(s: MigrationSession) {
    s.setup();
    s.beginRamPart();
    let n = 0;
    while (s.sendNextDirtyPage()) if ((++n & 63) === 0) await s.flow();
    s.endRamPart();
    await s.complete();
  },
});

/** A codec owning record 0x80: a page whose first byte is 0x42 is sent as just that byte. */
const marker: RamRecordType = {
  name: "marker",
  flag: 0x80,
  payloadLength: () => 1,
  decode(buf, pos, _len, page, off) {
    if (buf[pos] !== 0x42) throw new Error(`marker byte must be 0x42, found ${buf[pos]}`);
    page.fill(0, off, off + PAGE_SIZE);
    page[off] = 0x42;
  },
};

let codecFactoryCalls = 0;
const skippedPages: number[] = [];
/** A codec before the marker that claims page 7 (so the marker is told it was skipped). */
const seven: PageCodec = {
  name: "seven",
  order: 10,
  counts: "normal",
  createEncoder: () => ({
    encode(page, out) {
      if (page.page !== 7) return false;
      out.ramRecord(page.block, page.offset, 0x08);
      out.bytes(page.bytes, page.bytesOffset, PAGE_SIZE);
      return true;
    },
  }),
};
const markerPlugin = (): FerryPlugin => ({
  name: "marker",
  capabilities: [{ name: "x-marker", description: "marker pages", default: false }],
  records: [marker],
  register(c) {
    c.register(PageCodec, { useValue: seven });
    c.register(PageCodec, {
      useFactory: (child): PageCodec => {
        codecFactoryCalls++;
        const ctx = child.resolve(MigrationContextToken);
        let encoded = 0;
        return {
          name: "marker",
          capability: "x-marker",
          order: 50,
          counts: "other",
          createEncoder: () => ({
            encode(page, out) {
              const b = page.bytes;
              const o = page.bytesOffset;
              if (b[o] !== 0x42) return false;
              for (let i = 1; i < PAGE_SIZE; i++) if (b[o + i] !== 0) return false;
              out.ramRecord(page.block, page.offset, 0x80);
              out.u8(0x42);
              encoded++;
              return true;
            },
            skipped: (page) => {
              skippedPages.push(page.page);
            },
            stats: () => ({ "marker-pages": encoded, marker: { blocks: ctx.blocks.length } }),
          }),
        };
      },
    });
  },
});

const base = (strategy = simpleStrategy("simple")): FerryPlugin => ({
  name: "simple",
  capabilities: [],
  register: (c) => c.register(MigrationStrategy, { useValue: strategy }),
});

function machine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 0 }),
    vcpus: 1,
    memory: { size: 256 * 1024 },
  });
}

const hash = (m: Machine) => createHash("sha256").update(m.ram.backend.bytes!).digest("hex");

async function finish(s: VirtualScheduler, m: Migration): Promise<void> {
  await s.run({ stopWhen: () => ["completed", "failed", "cancelled"].includes(m.status) });
}

describe("plugin wiring", () => {
  it("runs capability-gated codecs from a fresh child container per migration", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    src.ram.backend.store(5 * PAGE_SIZE, 1, 0x42);
    src.ram.backend.store(9 * PAGE_SIZE, 4, 0x01020304);
    src.start();
    const mgr = createMigrationManager({ plugins: [base(), markerPlugin()] });
    codecFactoryCalls = 0;

    // capability off: the codec is not used
    let link = createLink({ scheduler: s, bandwidth: 0, latency: MS });
    let dst = machine(s);
    incoming({ machine: dst, transport: link.destination });
    let m = mgr.migrate({ machine: src, transport: link.source });
    await finish(s, m);
    expect(m.status).toBe("completed");
    expect(m.info()["marker-pages"]).toBeUndefined();
    src.resume();

    // capability on: the codec encodes, a destination knowing the record decodes it
    mgr.setCapabilities({ "x-marker": true });
    link = createLink({ scheduler: s, bandwidth: 0, latency: MS });
    dst = machine(s);
    const inc = incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
    m = mgr.migrate({ machine: src, transport: link.source });
    await finish(s, m);
    expect(m.status).toBe("completed");
    expect((await inc.done).status).toBe("completed");
    expect(hash(dst)).toBe(hash(src));
    const info = m.info();
    expect(info["marker-pages"]).toBe(1);
    expect(info.marker).toEqual({ blocks: 1 });
    expect(formatInfoMigrate(info)).toMatch(/\nmarker pages: 1\n/);
    expect(codecFactoryCalls).toBe(2);
    expect(skippedPages).toEqual([7]);
    src.resume();

    // a destination without the plugin refuses the record cleanly
    link = createLink({ scheduler: s, bandwidth: 0, latency: MS });
    dst = machine(s);
    const bad = incoming({ machine: dst, transport: link.destination });
    m = mgr.migrate({ machine: src, transport: link.source });
    await finish(s, m);
    const r = await bad.done;
    expect(r.status).toBe("failed");
    expect(r.error?.message).toMatch(/unknown RAM record flags 0xa0/);
    expect(dst.state).toBe("created");
    expect(m.status).toBe("failed");
    expect(src.state).toBe("running");
  });

  it("tells convergence controllers each sync and the end, so they remove their hooks", async () => {
    const s = new VirtualScheduler();
    const src = createMachine({
      scheduler: s,
      cpu: uniformDirtier({ writesPerSecond: 100_000, seed: 2 }),
      vcpus: 2,
      memory: { size: 1024 * 1024 },
    });
    src.start();
    await s.run({ untilNs: 20 * MS });
    let hookCalls = 0;
    const syncs: number[] = [];
    const newly: number[] = [];
    const ended: string[] = [];
    const strategy: MigrationStrategy = {
      name: "slow",
      async run(sess) {
        sess.setup();
        for (let i = 0; i < 5; i++) {
          await sess.scheduler.sleep(20 * MS);
          sess.syncDirtyLog();
        }
        throw new Error("strategy gave up");
      },
    };
    const plugin: FerryPlugin = {
      name: "ctl",
      capabilities: [],
      register(c) {
        c.register(MigrationStrategy, { useValue: strategy });
        c.register(ConvergenceController, {
          useValue: {
            name: "sleepy",
            create(ctx) {
              const removers: Array<() => void> = [];
              return {
                onSync(st) {
                  syncs.push(st.loggedPagesPeriod ?? -1);
                  newly.push(st.dirtyPagesPeriod);
                  if (removers.length === 0) {
                    for (const v of ctx.machine.vcpus) {
                      removers.push(
                        v.addPreRunHook(() => {
                          hookCalls++;
                          return 0;
                        }),
                      );
                      v.kick();
                    }
                  }
                },
                onEnd(status) {
                  ended.push(status);
                  for (const r of removers) r();
                },
                stats: () => ({ "cpu-throttle-percentage": 0 }),
              };
            },
          },
        });
      },
    };
    const mgr = createMigrationManager({ plugins: [plugin] });
    const link = createLink({ scheduler: s, bandwidth: 0, latency: 0 });
    const m = mgr.migrate({ machine: src, transport: link.source });
    await finish(s, m);
    expect(m.status).toBe("failed");
    expect(m.error?.message).toBe("strategy gave up");
    expect(syncs.length).toBe(6);
    expect(syncs.slice(1).every((n) => n > 0)).toBe(true);
    // Nothing was sent, so every page stayed pending: QEMU's new_dirty (bits & ~bitmap) is 0.
    expect(newly).toEqual([0, 0, 0, 0, 0, 0]);
    expect(ended).toEqual(["failed"]);
    expect(hookCalls).toBeGreaterThan(0);
    const calls = hookCalls;
    await s.run({ untilNs: s.now() + 20 * MS });
    expect(hookCalls).toBe(calls);
    expect(src.state).toBe("running");
    expect(m.info()["cpu-throttle-percentage"]).toBe(0);
  });

  it("selects the strategy: a capability's strategy over the default; refuses ambiguity or none", () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const other: FerryPlugin = {
      name: "other",
      capabilities: [
        { name: "x-a", description: "a", default: false },
        { name: "x-b", description: "b", default: false },
      ],
      register(c) {
        c.register(MigrationStrategy, { useValue: simpleStrategy("a", "x-a") });
        c.register(MigrationStrategy, { useValue: simpleStrategy("b", "x-b") });
      },
    };
    const mgr = createMigrationManager({ plugins: [base(), other] });
    mgr.setCapabilities({ "x-a": true, "x-b": true });
    const link = createLink({ scheduler: s, bandwidth: 0, latency: 0 });
    expect(() => mgr.migrate({ machine: src, transport: link.source })).toThrow(
      /"x-a" and "x-b" each select a migration strategy/,
    );
    expect(() =>
      createMigrationManager({ plugins: [] }).migrate({ machine: src, transport: link.source }),
    ).toThrow(/no migration strategy loaded/);
    expect(() => createMigrationManager({ plugins: [base(), base()] })).toThrow(/loaded twice/);
  });
});
