/**
 * File transports: migrating to a file writes a snapshot; reading one back feeds the incoming side.
 * A file is one-way: it has no return path, so capabilities that need one (`return-path`,
 * `switchover-ack`) are refused when migrating to a file.
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { MigrationError } from "../errors";
import type { IncomingTransport, OutgoingTransport } from "./types";

/** An outgoing transport writing to `path` (created or truncated). */
export function fileSink(path: string): OutgoingTransport {
  let fd: number | null = openSync(path, "w");
  let error: Error | null = null;
  let complete = false;
  const close = (): void => {
    if (fd !== null) {
      closeSync(fd);
      fd = null;
    }
  };
  const check = (): void => {
    if (error !== null) throw error;
    if (fd === null) throw new MigrationError(`snapshot file ${path} is already closed`);
  };
  return {
    name: `file:${path}`,
    get error() {
      return error;
    },
    backedUp: false,
    /** A file is "started" once complete; a truncated one can never be loaded (the reader refuses it). */
    get peer() {
      return complete ? "started" : "refused";
    },
    write(chunk) {
      check();
      let off = 0;
      while (off < chunk.length) off += writeSync(fd!, chunk, off, chunk.length - off);
    },
    async drain() {
      if (error !== null) throw error;
    },
    async end() {
      check();
      close();
      complete = true;
    },
    abort(reason) {
      if (error === null) error = reason;
      close();
    },
  };
}

/** An incoming transport reading `path` in `chunkSize` chunks, synchronously inside `receive`. */
export function fileSource(path: string, chunkSize = 1 << 20): IncomingTransport {
  let closed = false;
  return {
    receive(h) {
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch (e) {
        h.error(new MigrationError(`cannot open snapshot file ${path}: ${(e as Error).message}`));
        return;
      }
      const buf = new Uint8Array(chunkSize);
      try {
        for (;;) {
          if (closed) return;
          const n = readSync(fd, buf, 0, chunkSize, null);
          if (n === 0) break;
          h.data(buf.subarray(0, n));
        }
        if (!closed) h.end();
      } finally {
        closeSync(fd);
      }
    },
    close() {
      closed = true;
    },
  };
}
