/**
 * Checks on output paths made before any work is done (a guest run, a migration), so that a
 * missing directory, a directory given as a file, a read-only or full file system is reported at
 * once with exit code 2, not after minutes of work.
 */
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describeErrno } from "../input/read-file";

/** An output path that cannot be written (exit code 2). */
export class OutputPathError extends Error {
  override readonly name = "OutputPathError";
  /** The path concerned. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** Most directory levels {@link ensureDirectory} creates (a bound on any path walk). */
const MAX_CREATED_LEVELS = 64;

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** Free bytes for an unprivileged writer on the file system holding `dir` (null: unknown). */
function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/**
 * Check that a file can be written at `path` (created or replaced) before the work that produces
 * it: its directory exists and is writable, the path is not a directory or a device, and the file
 * system has free space. Writes and removes a probe file next to it.
 * @param what  What the file is, for messages (`snapshot file`).
 * @throws OutputPathError naming the path and the reason.
 */
export function checkWritableFile(path: string, what: string): void {
  const abs = resolve(path);
  const dir = dirname(abs);
  let dirStat: ReturnType<typeof statSync>;
  try {
    dirStat = statSync(dir);
  } catch (err) {
    throw new OutputPathError(
      path,
      `cannot write the ${what}: its directory ${dir} is ${describeErrno(errnoOf(err))}`,
    );
  }
  if (!dirStat.isDirectory()) {
    throw new OutputPathError(path, `cannot write the ${what}: ${dir} is not a directory`);
  }
  try {
    const st = statSync(abs);
    if (st.isDirectory()) {
      throw new OutputPathError(path, `expected a file name for the ${what}, found a directory`);
    }
    if (!st.isFile()) {
      throw new OutputPathError(
        path,
        `expected a regular file for the ${what}, found a device, FIFO or socket`,
      );
    }
    accessSync(abs, constants.W_OK);
  } catch (err) {
    if (err instanceof OutputPathError) throw err;
    if (errnoOf(err) !== "ENOENT") {
      throw new OutputPathError(path, `cannot write the ${what}: ${describeErrno(errnoOf(err))}`);
    }
  }
  probeDirectory(dir, path, what);
}

/** Create and remove a small file in `dir`; check free space. */
function probeDirectory(dir: string, path: string, what: string): void {
  const probe = join(dir, `.ferry-probe-${process.pid}`);
  try {
    const fd = openSync(probe, "wx");
    try {
      writeSync(fd, new Uint8Array(1));
    } finally {
      closeSync(fd);
      unlinkSync(probe);
    }
  } catch (err) {
    throw new OutputPathError(
      path,
      `cannot write the ${what} in ${dir}: ${describeErrno(errnoOf(err))}`,
    );
  }
  const free = freeBytes(dir);
  if (free !== null && free < 4096) {
    throw new OutputPathError(path, `cannot write the ${what}: no space left on ${dir}`);
  }
}

/**
 * Make sure `dir` exists as a writable directory, creating missing levels one at a time (at most
 * {@link MAX_CREATED_LEVELS}; never loops on a path that cannot be created, such as one under
 * /proc), then probe it with a small file.
 * @param what  What the directory is for, for messages (`report directory`).
 * @throws OutputPathError naming the path and the reason.
 */
export function ensureDirectory(dir: string, what: string): string {
  const abs = resolve(dir);
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (err) {
      const code = errnoOf(err);
      if (code !== "ENOENT") {
        throw new OutputPathError(dir, `cannot use ${at} for the ${what}: ${describeErrno(code)}`);
      }
      missing.push(at);
      const up = dirname(at);
      if (up === at || missing.length > MAX_CREATED_LEVELS) {
        throw new OutputPathError(dir, `cannot create the ${what}: too many missing levels`);
      }
      at = up;
      continue;
    }
    if (!isDir) {
      throw new OutputPathError(dir, `cannot create the ${what}: ${at} is not a directory`);
    }
    break;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]);
    } catch (err) {
      if (errnoOf(err) === "EEXIST" && statSync(missing[i]).isDirectory()) continue;
      throw new OutputPathError(
        dir,
        `cannot create the ${what} (${missing[i]}): ${describeErrno(errnoOf(err))}`,
      );
    }
  }
  probeDirectory(abs, dir, what);
  return abs;
}
