/**
 * The end-to-end scenario shared by the tests: a 64 MiB workload guest on 2 vCPUs dirtying
 * ~9.4 MiB/s (1200 page writes/s each, uniform over 4 MiB) migrated over a 4 MiB/s link, in
 * virtual time, with the plugins and settings given.
 */
import { createHash } from "node:crypto";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { workloadBackend } from "@ferry/sim";
import {
  createLink,
  createMigrationManager,
  type FerryPlugin,
  incoming,
  type Migration,
  type MigrationInfo,
} from "@ferry/migration";

export const MS = 1_000_000;
export const S = 1000 * MS;
export const MiB = 1024 * 1024;

/** The workload machine (source and destination are built alike). */
export function workloadMachine(s: VirtualScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: workloadBackend({
      seed: 42,
      writesPerSecond: 1200,
      busyShare: 1,
      distribution: { kind: "uniform", footprintBytes: 4 * MiB },
    }),
    vcpus: 2,
    memory: { size: 64 * MiB, backend: "array" },
    sliceNs: 1 * MS,
  });
}

const ramHash = (m: Machine): string =>
  createHash("sha256").update(m.ram.backend.bytes!).digest("hex");

/** What one scenario run produced. */
export interface Outcome {
  readonly m: Migration;
  readonly s: VirtualScheduler;
  readonly src: Machine;
  readonly dst: Machine;
  /** query-migrate after each sync. */
  readonly samples: MigrationInfo[];
  /** Source and destination RAM equal at completion (null when not completed). */
  readonly sameAtSwitch: boolean | null;
  /** Guest work (page writes) the source did during the migration. */
  readonly workDuring: number;
  /** vCPU ns spent throttled during the migration (all vCPUs). */
  readonly throttledNs: number;
}

/**
 * Run the scenario: 2 s of guest time, then migrate for at most `limitNs`. `observe` is called
 * once the migration started (before it ran), e.g. to sample it.
 */
export async function runScenario(
  plugins: FerryPlugin[],
  capabilities: Record<string, boolean>,
  parameters: Record<string, unknown>,
  limitNs: number,
  observe?: (m: Migration, s: VirtualScheduler) => void,
): Promise<Outcome> {
  const s = new VirtualScheduler();
  const src = workloadMachine(s);
  const dst = workloadMachine(s);
  src.start();
  await s.run({ untilNs: 2 * S });
  const mgr = createMigrationManager({ plugins });
  mgr.setCapabilities(capabilities);
  mgr.setParameters(parameters);
  const link = createLink({
    scheduler: s,
    bandwidth: 4 * MiB,
    latency: MS,
    bufferBytes: 256 * 1024,
  });
  incoming({ machine: dst, transport: link.destination });
  const throttledBefore = src.vcpuStats().reduce((a, v) => a + v.throttledNs, 0);
  const workBefore = src.workDone();
  const m = mgr.migrate({ machine: src, transport: link.source });
  observe?.(m, s);
  const samples: MigrationInfo[] = [];
  let sameAtSwitch: boolean | null = null;
  m.events.on("sync", () => samples.push(m.info()));
  m.events.on("complete", () => {
    sameAtSwitch = ramHash(src) === ramHash(dst);
  });
  await s.run({
    untilNs: s.now() + limitNs,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  const throttledNs = src.vcpuStats().reduce((a, v) => a + v.throttledNs, 0) - throttledBefore;
  return {
    m,
    s,
    src,
    dst,
    samples,
    sameAtSwitch,
    workDuring: src.workDone() - workBefore,
    throttledNs,
  };
}
