/**
 * Snapshot and restore: `memtouch` runs on machine A; at 300 ms of guest time a snapshot is
 * written to a file (`saveSnapshot`: A pauses, the whole RAM and the device/CPU state go to the
 * file, A runs on). A finishes the guest. Then the snapshot is restored into a fresh machine B
 * (`restoreSnapshot`), which continues from the snapshot point: the output A printed before the
 * snapshot followed by B's must equal A's whole output.
 *
 *   pnpm tsx examples/compose/snapshot-restore.ts
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualScheduler } from "@ferry/core";
import { restoreSnapshot, saveSnapshot, type SnapshotInfo } from "@ferry/migration";
import { guestMachine, isMain } from "./lib/guest";

const MS = 1_000_000;

/** Options of {@link main}. */
export interface SnapshotRestoreOptions {
  /** memtouch boot arguments. */
  readonly args?: readonly number[];
  /** Virtual ns A runs before the snapshot. */
  readonly snapshotAtNs?: number;
  /** The snapshot file (default: a new temporary directory, removed afterwards). */
  readonly path?: string;
  /** Print what happens (default true). */
  readonly print?: boolean;
}

/** What {@link main} returns. */
export interface SnapshotRestoreResult {
  /** What the snapshot write produced. */
  readonly snapshot: SnapshotInfo;
  /** File size in bytes. */
  readonly fileBytes: number;
  /** A's output up to the snapshot. */
  readonly beforeSnapshot: string;
  /** A's whole output (it ran on after the snapshot). */
  readonly outputA: string;
  /** B's output (from the snapshot point on). */
  readonly outputB: string;
  /** How the guest ended on A and on B. */
  readonly exitA: string;
  readonly exitB: string;
}

/** memtouch: 1 MiB working set, 30 passes, whole pages, checksum every 5 passes. */
export const DEFAULT_ARGS: readonly number[] = [1024 * 1024, 4096, 30, 1024, 0, 5];

/** Run the example. */
export async function main(options: SnapshotRestoreOptions = {}): Promise<SnapshotRestoreResult> {
  const args = options.args ?? DEFAULT_ARGS;
  const log = (line: string): void => {
    if (options.print ?? true) console.log(line);
  };
  const dir = options.path === undefined ? mkdtempSync(join(tmpdir(), "ferry-snapshot-")) : null;
  const path = options.path ?? join(dir!, "memtouch.snapshot");
  try {
    const s = new VirtualScheduler();
    const a = guestMachine({ scheduler: s, guest: "memtouch", args, mips: 100 });
    a.start();
    await s.run({ untilNs: options.snapshotAtNs ?? 300 * MS });
    const snapshot = await saveSnapshot(a, path);
    const beforeSnapshot = a.uartOutput();
    const fileBytes = statSync(path).size;
    log(
      `snapshot at ${(s.now() / MS).toFixed(1)} ms: ${fileBytes} bytes (${snapshot.normalPages} pages, ${snapshot.zeroPages} zero pages)`,
    );
    const endA = await a.runUntilShutdown({ timeLimitNs: 60_000 * MS });
    const exitA = endA.reason === "shutdown" ? (endA.kind ?? "pass") : endA.reason;
    log(`A ended: ${exitA}`);

    // B: same configuration, nothing loaded, never started: the snapshot brings RAM and state.
    const s2 = new VirtualScheduler();
    const b = guestMachine({ scheduler: s2, guest: "memtouch", args, mips: 100, load: false });
    await restoreSnapshot(path, b);
    const endB = await b.runUntilShutdown({ timeLimitNs: 60_000 * MS });
    const exitB = endB.reason === "shutdown" ? (endB.kind ?? "pass") : endB.reason;
    log(`B (restored) ended: ${exitB}`);
    const outputB = b.uartOutput();
    const same = beforeSnapshot + outputB === a.uartOutput();
    log(
      `A's output before the snapshot + B's output ${same ? "equals" : "DIFFERS FROM"} A's output`,
    );
    return { snapshot, fileBytes, beforeSnapshot, outputA: a.uartOutput(), outputB, exitA, exitB };
  } finally {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const r = await main();
  process.exitCode = r.exitB === "pass" && r.beforeSnapshot + r.outputB === r.outputA ? 0 : 1;
}
