/**
 * Post-copy page-fault latency (vitest bench). Each iteration migrates an 8 MiB workload guest
 * (2 vCPUs, 200k writes/s over 4 MiB) with post-copy after one pass over a 20 MiB/s, 1 ms link;
 * the wall time per iteration is the simulator's cost of the whole post-copy run, and the
 * virtual-time fault latency (mean, p99, max: QEMU's `postcopy-latency` and ferry's
 * `x-postcopy-latency-*`) is printed once per link latency, without and with `postcopy-preempt`
 * (requested pages on the link's data channel).
 * Run: pnpm exec vitest bench --run plugins/postcopy/bench/fault-latency.bench.ts
 */
import { VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { createLink, createMigrationManager, incoming, type MigrationInfo } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { uniformDirtier } from "@ferry/sim";
import { test } from "vitest";
import { postcopy } from "../src/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;

async function postcopyRun(latencyNs: number, preempt = false): Promise<MigrationInfo> {
  const s = new VirtualScheduler();
  const build = () =>
    createMachine({
      scheduler: s,
      cpu: uniformDirtier({ writesPerSecond: 200_000, footprintPages: 1024, seed: 3 }),
      vcpus: 2,
      memory: { size: 8 * MiB },
    });
  const src = build();
  const dst = build();
  src.start();
  await s.run({ untilNs: 20 * MS });
  const link = createLink({ scheduler: s, bandwidth: 20 * MiB, latency: latencyNs, channels: 1 });
  const mgr = createMigrationManager({ plugins: [precopy(), postcopy()] });
  mgr.setCapabilities({ "postcopy-ram": true, "postcopy-preempt": preempt });
  mgr.setParameters({ "x-postcopy-after-passes": 1, "max-bandwidth": 0 });
  incoming({
    machine: dst,
    transport: link.destination,
    channels: [link.channels[0].destination],
    plugins: mgr.plugins,
  });
  const m = mgr.migrate({
    machine: src,
    transport: link.source,
    channels: [link.channels[0].source],
  });
  await s.run({
    untilNs: s.now() + 20_000 * MS,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  return m.info();
}

test("post-copy fault latency", async ({ bench }) => {
  for (const [latency, preempt] of [0.1 * MS, 1 * MS, 10 * MS].flatMap((l) => [
    [l, false] as const,
    [l, true] as const,
  ])) {
    const info = await postcopyRun(latency, preempt);
    console.log(
      `link latency ${latency / MS} ms${preempt ? ", postcopy-preempt" : ""}: status ${info.status}, requests ${(info.ram as unknown as Record<string, number>)["postcopy-requests"]}, ` +
        `fault latency mean ${((info["postcopy-latency"] as number) / MS).toFixed(2)} ms, ` +
        `p99 ${((info["x-postcopy-latency-p99"] as number) / MS).toFixed(2)} ms, ` +
        `max ${((info["x-postcopy-latency-max"] as number) / MS).toFixed(2)} ms, ` +
        `blocktime ${info["postcopy-blocktime"]} ms (vCPUs ${JSON.stringify(info["postcopy-vcpu-blocktime"])})`,
    );
  }
  await bench.compare(
    bench("8 MiB workload guest, post-copy after 1 pass, 1 ms link (wall per run)", async () => {
      await postcopyRun(1 * MS);
    }),
    bench("same, 10 ms link", async () => {
      await postcopyRun(10 * MS);
    }),
    bench("same, 1 ms link, postcopy-preempt", async () => {
      await postcopyRun(1 * MS, true);
    }),
    { iterations: 5 },
  );
});
