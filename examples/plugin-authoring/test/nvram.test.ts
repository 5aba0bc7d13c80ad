import { fileURLToPath } from "node:url";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier } from "@ferry/sim";
import {
  createLink,
  createMigrationManager,
  type FerryPlugin,
  incoming,
  isTerminalStatus,
  type Migration,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { describe, expect, it } from "vitest";
import { loadConfig, runMigration } from "../../../packages/cli/src/index";
import { MIGRATIONS_KEY, nvram, nvramLoaderDef, nvramOf } from "../src/nvram/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;

function machine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 50_000, footprintPages: 300, seed: 3 }),
    vcpus: 2,
    memory: { size: 4 * MiB },
  });
}

async function migrate(
  s: VirtualScheduler,
  src: Machine,
  dst: Machine,
  plugins: readonly FerryPlugin[],
  destinationPlugins: readonly FerryPlugin[] = plugins,
): Promise<Migration> {
  const mgr = createMigrationManager({ plugins });
  mgr.setParameters({ "max-bandwidth": 8 * MiB });
  const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: MS });
  incoming({ machine: dst, transport: link.destination, plugins: destinationPlugins });
  const m = mgr.migrate({ machine: src, transport: link.source });
  await s.run({ untilNs: s.now() + 20_000 * MS, stopWhen: () => isTerminalStatus(m.status) });
  return m;
}

describe("the nvram section plugin", () => {
  it("migrates its device live: START, PART chunks with changed keys, END; twice in a row", async () => {
    const s = new VirtualScheduler();
    const a = machine(s);
    const b = machine(s);
    const c = machine(s);
    nvramOf(a).set("boot-order", "disk,net");
    a.start();
    // Software on the host side keeps updating a key while the guest runs (on whichever machine runs).
    let tick = 0;
    const writer = (): void => {
      tick++;
      for (const m of [a, b, c])
        if (m.state === "running") nvramOf(m).set("uptime-ticks", String(tick));
      s.after(20 * MS, writer);
    };
    s.after(0, writer);
    await s.run({ untilNs: 100 * MS });

    const m1 = await migrate(s, a, b, [precopy(), nvram()]);
    expect(m1.status).toBe("completed");
    expect(nvramOf(b).snapshot()).toEqual(nvramOf(a).snapshot());
    expect(nvramOf(b).get(MIGRATIONS_KEY)).toBe("1");
    expect(nvramOf(b).get("boot-order")).toBe("disk,net");
    const st = m1.info().nvram as Record<string, number>;
    expect(st.chunks).toBeGreaterThanOrEqual(3); // START, at least one PART, END
    expect(st["keys-sent"]).toBeGreaterThan(3);

    await s.run({ untilNs: s.now() + 100 * MS });
    const ticks = Number(nvramOf(b).get("uptime-ticks"));
    expect(ticks).toBeGreaterThan(Number(nvramOf(a).get("uptime-ticks")));
    const m2 = await migrate(s, b, c, [precopy(), nvram()]);
    expect(m2.status).toBe("completed");
    expect(nvramOf(c).get(MIGRATIONS_KEY)).toBe("2");
    expect(nvramOf(c).snapshot()).toEqual(nvramOf(b).snapshot());
  });

  it("a destination without the plugin refuses the section; the source keeps running", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    const m = await migrate(s, src, dst, [precopy(), nvram()], [precopy()]);
    expect(m.status).toBe("failed");
    expect(src.state).toBe("running");
    expect(dst.state).toBe("created");
  });

  it("a destination accepting another version refuses the stream, naming the section", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    const v2: FerryPlugin = { ...nvram(), sections: [{ ...nvramLoaderDef, versions: [2] }] };
    const mgr = createMigrationManager({ plugins: [precopy(), nvram()] });
    const link = createLink({ scheduler: s, bandwidth: 100 * MiB, latency: MS });
    const inc = incoming({ machine: dst, transport: link.destination, plugins: [precopy(), v2] });
    const m = mgr.migrate({ machine: src, transport: link.source });
    await s.run({ untilNs: 5000 * MS, stopWhen: () => isTerminalStatus(m.status) });
    const r = await inc.done;
    expect(r.error?.message).toMatch(/section "nvram" version 1, expected 2/);
    expect(m.status).toBe("failed");
    expect(src.state).toBe("running");
  });

  it("is used from a config: ferry migrate on workload-nvram.yaml sends the section", async () => {
    const path = fileURLToPath(new URL("../../configs/workload-nvram.yaml", import.meta.url));
    const report = await runMigration(loadConfig(path), { configFile: path });
    expect(report.status).toBe("completed");
    const st = report.stats?.nvram as Record<string, number>;
    expect(st.chunks).toBeGreaterThanOrEqual(2);
    expect(st["keys-sent"]).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
