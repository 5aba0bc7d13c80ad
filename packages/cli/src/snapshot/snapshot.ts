/**
 * `ferry snapshot` / `ferry restore` as functions (file transport): run a config's guest to a
 * point of virtual time and write a snapshot file; load one into a fresh machine built from the
 * same config and run it to the end. The file is the migration stream (`saveSnapshot`) with one
 * extra device section, `ferry-snapshot`, that records the config name and the snapshot time.
 */
import { statSync, unlinkSync } from "node:fs";
import { PAGE_SIZE, VirtualScheduler } from "@ferry/core";
import {
  fileSource,
  incoming,
  type MigratableMachine,
  type SnapshotInfo,
  StreamError,
  saveSnapshot,
} from "@ferry/migration";
import type { FerryConfig } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import { MAX_SNAPSHOT_DEVICE_BYTES, maxSnapshotBytes } from "../input/limits";
import { describeErrno } from "../input/read-file";
import { quoteValue } from "../input/quote";
import { OutputPathError } from "../output/check-writable";
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
  let info: SnapshotInfo;
  try {
    info = await saveSnapshot(
      withMeta(side, meta, () => {}),
      options.out,
      {
        resume: false,
        compact: config.machine.ramBackend === "synthetic",
      },
    );
  } catch (err) {
    side.stop();
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code !== "string") throw err;
    // A write that fails half-way (a full disk) leaves no partial snapshot behind.
    try {
      unlinkSync(options.out);
    } catch {
      // nothing written, or not removable: the error below says what happened
    }
    throw new OutputPathError(
      options.out,
      `cannot write the snapshot file: ${describeErrno(code)} (nothing kept)`,
    );
  }
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

/** Largest `atNs` / `work` a snapshot may record (2^53-1: exact in a double). */
const MAX_META_NUMBER = Number.MAX_SAFE_INTEGER;
/** Longest config name a snapshot may record. */
const MAX_META_NAME = 1024;

/**
 * Check the `ferry-snapshot` section: `{ version: 1, config, atNs, work }` with `config` a
 * non-empty string (at most 1024 characters) and `atNs`, `work` integers in [0, 2^53-1].
 * @throws SnapshotError naming the field and quoting at most a few dozen bytes of it.
 */
export function parseMeta(found: unknown, file: string): SnapshotMeta {
  const expected = `expected a snapshot written by ferry snapshot (with a ${SNAPSHOT_META_KEY} section { version: 1, config, atNs, work })`;
  if (found === undefined) throw new SnapshotError(`${file}: ${expected}, found no such section`);
  if (found === null || typeof found !== "object" || Array.isArray(found)) {
    throw new SnapshotError(`${file}: ${expected}, found ${quoteValue(found)}`);
  }
  const m = found as Record<string, unknown>;
  const field = (name: string, what: string): never => {
    throw new SnapshotError(
      `${file}: ${SNAPSHOT_META_KEY}.${name}: expected ${what}, found ${name in m ? quoteValue(m[name]) : "nothing"}`,
    );
  };
  if (m.version !== 1) field("version", "1");
  if (typeof m.config !== "string" || m.config === "" || m.config.length > MAX_META_NAME) {
    field("config", `a config name of 1 to ${MAX_META_NAME} characters`);
  }
  for (const name of ["atNs", "work"] as const) {
    const v = m[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_META_NUMBER) {
      field(name, "an integer from 0 to 2^53-1");
    }
  }
  const extra = Object.keys(m).find((k) => !["version", "config", "atNs", "work"].includes(k));
  if (extra !== undefined) {
    throw new SnapshotError(
      `${file}: ${SNAPSHOT_META_KEY}: expected only version, config, atNs and work, found field ${quoteValue(extra)}`,
    );
  }
  return m as unknown as SnapshotMeta;
}

/** Pages a snapshot of `side` must hold: one record (page or zero) per page of writable RAM. */
function expectedPages(side: Side): number {
  let pages = 0;
  for (const r of side.machine.memory.ramRegions) if (!r.readonly) pages += r.size / PAGE_SIZE;
  return pages;
}

/**
 * Check that `file` is a regular file (not missing, not a directory or a device) no larger than
 * a snapshot of `pages` pages can be (see `maxSnapshotBytes`), before reading it.
 */
function checkSnapshotFile(file: string, pages: number): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new SnapshotError(`${file}: expected a snapshot file, found no file`);
    throw new SnapshotError(`${file}: cannot read the snapshot file: ${describeErrno(code)}`);
  }
  if (!st.isFile()) {
    throw new SnapshotError(
      `${file}: expected a snapshot file, found ${st.isDirectory() ? "a directory" : "a device, FIFO or socket"}`,
    );
  }
  const max = maxSnapshotBytes(pages);
  if (st.size > max) {
    throw new SnapshotError(
      `${file}: the snapshot file is ${st.size} bytes, above the limit of ${max} bytes for this RAM ` +
        `(RAM records plus ${MAX_SNAPSHOT_DEVICE_BYTES} bytes of device state)`,
    );
  }
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
  checkSnapshotFile(file, config.machine.memoryBytes / PAGE_SIZE);
  const elf = config.guest !== undefined ? readGuestElf(config, options.configFile) : null;
  const s = new VirtualScheduler();
  const side = buildSide(config, s, elf);
  let found: unknown;
  const source = fileSource(file);
  const loaded = await incoming({
    machine: withMeta(side, null, (m) => {
      found = m;
    }),
    // Synthetic RAM is saved as page versions (compact records), see takeSnapshot.
    transport: config.machine.ramBackend === "synthetic" ? { ...source, compact: true } : source,
    resume: false,
    // ferry snapshot writes integrity-framed files: a file without the framing is refused, and a
    // corrupted one is refused at the offset of its first bad block.
    integrity: "require",
  }).done;
  if (loaded.status !== "completed") {
    const error = loaded.error;
    if (error instanceof StreamError || error instanceof SnapshotError) throw error;
    throw new SnapshotError(
      `${file}: cannot restore the snapshot: ${error?.message ?? "the load failed"}`,
    );
  }
  const meta = parseMeta(found, file);
  // A well-formed stream without page records would "restore" a blank machine: a snapshot
  // written by ferry snapshot has one record per page of RAM.
  const pages = expectedPages(side);
  if (loaded.pages !== pages) {
    throw new SnapshotError(
      `${file}: expected ${pages} page records (one per page of RAM), found ${loaded.pages}: not a complete snapshot`,
    );
  }
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
    // A workload runs to the time limit; a guest fault fails it (exit 1), any other end is a bug.
    status = end === null ? "done" : end.status === "fail" ? "fail" : "error";
    exitCode =
      end === null ? ExitCode.Ok : end.status === "fail" ? ExitCode.Failure : ExitCode.Internal;
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
