/**
 * Reading user files with a size limit checked before reading: only regular files (not
 * directories, devices such as /dev/zero, FIFOs or sockets), at most `maxBytes`, and a file that
 * grows past the limit while being read (/proc files report size 0) is refused too.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** Why a file could not be read (the message names the file and the limit). */
export class InputFileError extends Error {
  override readonly name = "InputFileError";
  /** The file concerned. */
  readonly file: string;
  /** `ENOENT`, `EISDIR`, `ENOTREG`, `EFBIG`, … */
  readonly code: string;
  /** The message without the leading `file: `. */
  readonly reason: string;
  constructor(file: string, code: string, reason: string) {
    super(`${file}: ${reason}`);
    this.file = file;
    this.code = code;
    this.reason = reason;
  }
}

/** A one-phrase description of a file-system error code. */
export function describeErrno(code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "a directory";
    case "ENOTDIR":
      return "a path through something that is not a directory";
    case "ENOSPC":
      return "no space left on the device";
    case "EROFS":
      return "a read-only file system";
    case "EDQUOT":
      return "disk quota exceeded";
    case "ELOOP":
      return "too many symbolic links";
    case "ENAMETOOLONG":
      return "a name that is too long";
    case "EMFILE":
    case "ENFILE":
      return "too many open files";
    case "EIO":
      return "an I/O error";
    default:
      return code ?? "an unknown error";
  }
}

/** What `mode` (from `stat`) is, for messages. */
function kindOf(stat: {
  isDirectory(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Read the regular file at `path`, at most `maxBytes` bytes.
 * @param what  What the file is, for messages (`config`, `guest ELF`).
 * @throws InputFileError (never a raw errno error) when it is missing, not a regular file,
 * larger than `maxBytes`, or unreadable.
 */
export function readLimitedFile(path: string, maxBytes: number, what: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new InputFileError(path, code, `cannot read the ${what}: ${describeErrno(code)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new InputFileError(
        path,
        stat.isDirectory() ? "EISDIR" : "ENOTREG",
        `expected the ${what} as a regular file, found ${kindOf(stat)}`,
      );
    }
    const tooBig = (size: string): InputFileError =>
      new InputFileError(
        path,
        "EFBIG",
        `the ${what} is ${size}, above the limit of ${maxBytes} bytes`,
      );
    if (stat.size > maxBytes) throw tooBig(`${stat.size} bytes`);
    // Read up to one byte more than the limit, growing the buffer as needed, so that a file
    // that lies about its size (/proc reports 0) is caught too.
    let buf = new Uint8Array(Math.min(maxBytes + 1, Math.max(stat.size + 1, 4096)));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) throw tooBig("larger than its size says");
        const bigger = new Uint8Array(Math.min(maxBytes + 1, buf.length * 2));
        bigger.set(buf);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw tooBig(`more than ${maxBytes} bytes`);
    }
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new InputFileError(path, code, `cannot read the ${what}: ${describeErrno(code)}`);
  } finally {
    closeSync(fd);
  }
}
