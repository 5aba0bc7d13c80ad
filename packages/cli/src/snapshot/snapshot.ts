/**
 * `ferry snapshot` / `ferry restore` as functions (file transport): run a config's guest to a
 * point of virtual time and write a snapshot file; load one into a fresh machine built from the
 * same config and run it to the end. The file is the migration stream (`saveSnapshot`) with one
 * extra device section, `ferry-snapshot`, that records the config name and the snapshot time.
 */
import { existsSync } from "node:fs";
import { VirtualScheduler } from "@ferry/core";
import {
  type MigratableMachine,
  restoreSnapshot,
  type SnapshotInfo,
  saveSnapshot,
} from "@ferry/migration";
import type { FerryConfig } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import { buildSide, type Side } from "../migrate/sides";
import { readGuestElf } from "../run/run-guest";

/** Virtual time run between two yields to the event loop (lets Ctrl-C through). */
const CHUNK_NS = 10_000_000;

/** Device-section key of the snapshot metadata. */
export const SNAPSHOT_META_KEY = "ferry-snapshot";

/** A snapshot file that cannot be used with this config (exit code 2). */
export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}

/** What `ferry snapshot` records besides the machine. */
export interface SnapshotMeta {
  readonly version: 1;
  /** `name` of the config the snapshot was taken from. */
  readonly config: string;
  /** Virtual time of the snapshot (ns since boot). */
  readonly atNs: number;
  /** Work (instructions / operations) done before the snapshot. */
  readonly work: number;
}

/** The `ferry snapshot --json` document. */
export interface SnapshotReport {
  /** `saved`, or `ended` when the guest shut down before `--at` (nothing written). */
  readonly status: "saved" | "ended";
  readonly exitCode: ExitCodeValue;
  readonly file: string;
  readonly atNs: number;
  /** File size and page counts (null when nothing was written). */
  readonly snapshot: SnapshotInfo | null;
  /** Guest output up to the snapshot. */
  readonly guestOutput: string;
  readonly work: number;
  readonly wallMs: number;
  readonly message?: string;
}

/** How a restored run ended (as `ferry run`: pass/fail/time-limit/error; workloads: done). */
export type RestoreStatus = "pass" | "fail" | "time-limit" | "error" | "done";

/** The `ferry restore --json` document. */
export interface RestoreReport {
  readonly status: RestoreStatus;
  /** As `ferry run` of the same config would exit: 0 pass/done, 1 fail, 3 time limit. */
  readonly exitCode: ExitCodeValue;
  readonly file: string;
  /** Snapshot time (ns since boot). */
  readonly snapshotAtNs: number;
  /** Guest finisher code, null without a shutdown. */
  readonly guestCode: number | null;
  /** Guest output after the snapshot point. */
  readonly guestOutput: string;
  /** Virtual time at the end, counted from boot (snapshot time + time run after restore). */
  readonly virtualTimeNs: number;
  /** Work counter at the end (continues from the snapshot's). */
  readonly work: number;
  readonly wallMs: number;
  readonly message?: string;
}

/** A view of `side.machine` whose saved state carries (and whose load strips) the metadata. */
function withMeta(
  side: Side,
  meta: SnapshotMeta | null,
  onMeta: (m: unknown) => void,
): MigratableMachine {
  const m = side.machine;
  return {
    memory: m.memory,
    vcpus: m.vcpus,
    scheduler: m.scheduler,
    get state() {
      return m.state;
    },
    pause: () => m.pause(),
    resume: () => m.resume(),
    start: () => side.start(),
    saveState: () => ({ ...m.saveState(), [SNAPSHOT_META_KEY]: meta }),
    loadState: (state: object) => {
      const { [SNAPSHOT_META_KEY]: found, ...rest } = state as Record<string, unknown>;
      onMeta(found);
      m.loadState(rest);
    },
  } as MigratableMachine;
}

async function runChunked(
  s: VirtualScheduler,
  endNs: number,
  stop: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  while (s.now() < endNs && !stop() && signal?.aborted !== true) {
    await s.run({ untilNs: Math.min(endNs, s.now() + CHUNK_NS), stopWhen: stop });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Options of {@link takeSnapshot}. */
export interface TakeSnapshotOptions {
  /** Virtual time of the snapshot (ns since boot). */
  readonly atNs: number;
  /** Output file. */
  readonly out: string;
  readonly configFile?: string;
}

/**
 * Run the config's guest (or workload) to `atNs` of virtual time and write a snapshot to `out`.
 * The guest is then stopped. When it shuts down before `atNs`, nothing is written (`ended`, exit 1).
 */
export async function takeSnapshot(
  config: FerryConfig,
  options: TakeSnapshotOptions,
): Promise<SnapshotReport> {
  const wallStart = performance.now();
  const elf = config.guest !== undefined ? readGuestElf(config, options.configFile) : null;
  const s = new VirtualScheduler();
  const side = buildSide(config, s, elf);
  side.start();
  await runChunked(s, options.atNs, () => side.ended() !== null);
  const end = side.ended();
  if (end !== null) {
    side.stop();
    return {
      status: "ended",
      exitCode: ExitCode.Failure,
      file: options.out,
      atNs: options.atNs,
      snapshot: null,
      guestOutput: side.output(),
      work: side.workDone(),
      wallMs: Math.round(performance.now() - wallStart),
      message:
        `the guest ended (${end.status}) at ${(end.atNs / 1e6).toFixed(3)} ms, before the ` +
        `snapshot time ${(options.atNs / 1e6).toFixed(3)} ms: nothing written`,
    };
  }
  const meta: SnapshotMeta = {
    version: 1,
    config: config.name,
    atNs: s.now(),
    work: side.workDone(),
  };
  const info = await saveSnapshot(
    withMeta(side, meta, () => {}),
    options.out,
    { resume: false },
  );
  const output = side.output();
  side.stop();
  return {
    status: "saved",
    exitCode: ExitCode.Ok,
    file: options.out,
    atNs: meta.atNs,
    snapshot: info,
    guestOutput: output,
    work: meta.work,
    wallMs: Math.round(performance.now() - wallStart),
  };
}

function parseMeta(found: unknown, file: string): SnapshotMeta {
  const m = found as Partial<SnapshotMeta> | undefined;
  if (
    m === undefined ||
    m === null ||
    m.version !== 1 ||
    typeof m.config !== "string" ||
    typeof m.atNs !== "number" ||
    typeof m.work !== "number"
  ) {
    throw new SnapshotError(
      `${file}: expected a snapshot written by ferry snapshot (with a ${SNAPSHOT_META_KEY} ` +
        `section { version: 1, config, atNs, work }), found ${m === undefined ? "no such section" : JSON.stringify(m)}`,
    );
  }
  return m as SnapshotMeta;
}

/** Options of {@link restoreFromSnapshot}. */
export interface RestoreOptions {
  readonly configFile?: string;
  /** Ctrl-C: stop the run (status `error`, exit 130). */
  readonly signal?: AbortSignal;
}

/**
 * Build a fresh machine from `config`, load the snapshot `file` into it and run it until the
 * guest shuts down or `run.time-limit` (counted from boot: the snapshot time counts) passes.
 * @throws SnapshotError when the file is missing, not a ferry snapshot or from another config;
 * `StreamError` / `StateValidationError`-style errors for a corrupt or incompatible file.
 */
export async function restoreFromSnapshot(
  config: FerryConfig,
  file: string,
  options: RestoreOptions = {},
): Promise<RestoreReport> {
  const wallStart = performance.now();
  if (!existsSync(file))
    throw new SnapshotError(`${file}: expected a snapshot file, found no file`);
  const elf = config.guest !== undefined ? readGuestElf(config, options.configFile) : null;
  const s = new VirtualScheduler();
  const side = buildSide(config, s, elf);
  let found: unknown;
  await restoreSnapshot(
    file,
    withMeta(side, null, (m) => (found = m)),
    { resume: false },
  );
  const meta = parseMeta(found, file);
  if (meta.config !== config.name) {
    throw new SnapshotError(
      `${file}: expected a snapshot of config "${config.name}", found one of "${meta.config}"`,
    );
  }
  const remaining = config.run.timeLimitNs - meta.atNs;
  side.start();
  if (remaining > 0) await runChunked(s, remaining, () => side.ended() !== null, options.signal);
  const end = side.ended();
  side.stop();
  const interrupted = options.signal?.aborted === true && end === null;
  let status: RestoreStatus;
  let exitCode: ExitCodeValue;
  if (interrupted) {
    status = "error";
    exitCode = ExitCode.Interrupted;
  } else if (config.workload !== undefined) {
    status = end === null ? "done" : "error";
    exitCode = end === null ? ExitCode.Ok : ExitCode.Internal;
  } else if (end === null) {
    status = "time-limit";
    exitCode = ExitCode.TimeLimit;
  } else if (end.status === "error") {
    status = "error";
    exitCode = ExitCode.Internal;
  } else {
    status = end.status;
    exitCode = end.status === "pass" ? ExitCode.Ok : ExitCode.Failure;
  }
  const message = interrupted ? "interrupted" : end?.message;
  return {
    status,
    exitCode,
    file,
    snapshotAtNs: meta.atNs,
    guestCode: end?.code ?? null,
    guestOutput: side.output(),
    virtualTimeNs: meta.atNs + (end !== null ? end.atNs : s.now()),
    work: side.workDone(),
    wallMs: Math.round(performance.now() - wallStart),
    ...(message !== undefined ? { message } : {}),
  };
}
