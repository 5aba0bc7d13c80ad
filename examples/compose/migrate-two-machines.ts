/**
 * Two machines in one process: a RISC-V guest (`memtouch`, which rewrites a working set page by
 * page and prints checksums) runs on machine A and live-migrates to machine B over an in-process
 * `link`, with the `xbzrle` and `auto-converge` capabilities on. The migration's state and sync
 * events are printed as they happen, then QEMU-style `info migrate`; B finishes the guest, and its
 * output (A's before the switchover + B's after) must equal an unmigrated run's.
 *
 *   pnpm tsx examples/compose/migrate-two-machines.ts
 */
import { type Machine, VirtualScheduler } from "@ferry/core";
import {
  createLink,
  createMigrationManager,
  formatInfoMigrate,
  incoming,
  type MigrationInfo,
  type MigrationStatus,
} from "@ferry/migration";
import { autoConverge } from "@ferry/plugin-auto-converge";
import { precopy } from "@ferry/plugin-precopy";
import { xbzrle } from "@ferry/plugin-xbzrle";
import { guestMachine, isMain } from "./lib/guest";

const MS = 1_000_000;
const KiB = 1024;

/** Options of {@link main} (the defaults are the example's scenario). */
export interface MigrateTwoMachinesOptions {
  /** memtouch boot arguments: working set, stride, passes, words per touch, spin, print-every. */
  readonly args?: readonly number[];
  /** Guest speed (MIPS). */
  readonly mips?: number;
  /** Link bandwidth in bytes/s. */
  readonly bandwidth?: number;
  /** Virtual ns the guest runs before the migration starts. */
  readonly startAfterNs?: number;
  /** Migration parameters (QEMU names). */
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Print events and the final report (default true). */
  readonly print?: boolean;
}

/** What {@link main} returns. */
export interface MigrateTwoMachinesResult {
  /** Final migration status (`completed` on success). */
  readonly status: MigrationStatus;
  /** query-migrate at the end. */
  readonly info: MigrationInfo;
  /** `info migrate` as printed. */
  readonly report: string;
  /** Every state the migration went through, in order. */
  readonly states: readonly MigrationStatus[];
  /** Number of `sync` events seen. */
  readonly syncs: number;
  /** Highest `cpu-throttle-percentage` seen at a sync (0 = never throttled). */
  readonly maxThrottle: number;
  /** Guest output: A's before the switchover followed by B's. */
  readonly output: string;
  /** The part of {@link MigrateTwoMachinesResult.output} B printed. */
  readonly outputOnB: string;
  /** The same guest run on one machine without migration. */
  readonly referenceOutput: string;
  /** How the guest ended on B (`pass` expected). */
  readonly exit: string;
}

/**
 * The default scenario: a 2-MIPS guest rewriting 64 words of each page of a 512 KiB working set
 * about 2000 pages/s, 200 passes; a 256 KiB/s link; a 30 ms downtime limit. Even as XBZRLE
 * deltas the guest dirties faster than the link carries, so auto-converge has to throttle it.
 */
export const DEFAULT_ARGS: readonly number[] = [512 * KiB, 4096, 200, 64, 110, 50];

/** Run the guest alone (the reference output). */
async function reference(args: readonly number[], mips: number): Promise<string> {
  const s = new VirtualScheduler();
  const m = guestMachine({ scheduler: s, guest: "memtouch", args, mips });
  await m.runUntilShutdown({ timeLimitNs: 600_000 * MS });
  return m.uartOutput();
}

/** Run the example. */
export async function main(
  options: MigrateTwoMachinesOptions = {},
): Promise<MigrateTwoMachinesResult> {
  const args = options.args ?? DEFAULT_ARGS;
  const mips = options.mips ?? 2;
  const print = options.print ?? true;
  const log = (line: string): void => {
    if (print) console.log(line);
  };

  // One virtual clock drives both machines, the link and the migration thread.
  const s = new VirtualScheduler();
  const a: Machine = guestMachine({ scheduler: s, guest: "memtouch", args, mips });
  // B is built from the same config but not started and not loaded: RAM and state arrive.
  const b: Machine = guestMachine({ scheduler: s, guest: "memtouch", args, mips, load: false });

  a.start();
  await s.run({ untilNs: options.startAfterNs ?? 200 * MS });

  const plugins = [precopy(), xbzrle(), autoConverge()];
  const mgr = createMigrationManager({ plugins });
  mgr.setCapabilities({ xbzrle: true, "auto-converge": true });
  mgr.setParameters({
    "downtime-limit": 30,
    "xbzrle-cache-size": 1024 * KiB,
    ...options.parameters,
  });

  const link = createLink({
    scheduler: s,
    bandwidth: options.bandwidth ?? 256 * KiB,
    latency: 1 * MS,
    bufferBytes: 64 * KiB,
  });
  // The destination half listens first; it starts B once the stream is complete.
  const inc = incoming({ machine: b, transport: link.destination, plugins });
  const m = mgr.migrate({ machine: a, transport: link.source });

  const states: MigrationStatus[] = [];
  let syncs = 0;
  let maxThrottle = 0;
  m.events.on("state", (status, previous) => {
    states.push(status);
    log(`[${(s.now() / MS).toFixed(1)} ms] state ${previous} -> ${status}`);
  });
  m.events.on("sync", (st) => {
    syncs++;
    const throttle = (m.info()["cpu-throttle-percentage"] as number | undefined) ?? 0;
    if (throttle > maxThrottle) maxThrottle = throttle;
    log(
      `[${(st.nowNs / MS).toFixed(1)} ms] sync #${st.syncCount}: dirtied ${st.dirtyPagesPeriod} pages, ` +
        `remaining ${st.remainingBytes} bytes, throttle ${throttle}%`,
    );
  });

  await s.run({
    stopWhen: () => m.status === "completed" || m.status === "failed" || m.status === "cancelled",
  });
  const info = m.info();
  const report = formatInfoMigrate(info);
  log(report);
  const beforeSwitch = a.uartOutput();

  let exit = "not migrated";
  if (m.status === "completed") {
    const r = await inc.done;
    if (r.status !== "completed") throw r.error ?? new Error("incoming side failed");
    const end = await b.runUntilShutdown({ timeLimitNs: 600_000 * MS });
    exit = end.reason === "shutdown" ? (end.kind ?? "pass") : end.reason;
  }
  const outputOnB = b.uartOutput();
  const output = beforeSwitch + outputOnB;
  const referenceOutput = await reference(args, mips);
  log(
    `guest on B ended: ${exit}; output ${output === referenceOutput ? "equals" : "DIFFERS FROM"} the unmigrated run`,
  );
  return {
    status: m.status,
    info,
    report,
    states,
    syncs,
    maxThrottle,
    output,
    outputOnB,
    referenceOutput,
    exit,
  };
}

if (isMain(import.meta.url)) {
  const r = await main();
  process.exitCode = r.status === "completed" && r.output === r.referenceOutput ? 0 : 1;
}
