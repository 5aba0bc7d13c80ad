/**
 * The main thread's side of a monitor I/O thread (`worker.ts`): starts the thread, asks it to
 * listen, runs one server session per connection it reports, and keeps its snapshot of the
 * read-only queries fresh — sent before every message written to a client (so an answer or event
 * is never followed by an older snapshot) and again whenever the thread answered from it.
 */
import { startWorkerEntry } from "@ferry/core";
import type { SocketEndpoint } from "../address";
import type { JsonValue } from "../protocol";
import type { QmpListener, SessionInput, SessionIo } from "../server";
import type { FromIoThread, IoThreadInit, ToIoThread } from "./messages";

/** A snapshot older than this (ms) is not used by the I/O thread (the main thread answers). */
export const IO_THREAD_SNAPSHOT_MAX_AGE_MS = 250;
/** How long `close()` waits for the thread to close its sockets before stopping it (ms). */
export const IO_THREAD_CLOSE_MS = 2000;

/** Options of {@link createIoThreadHost}. */
export interface IoThreadHostOptions {
  /** Start a server session over a connection of the thread. */
  readonly openSession: (io: SessionIo) => SessionInput;
  /** The current `return` values of the queries the thread may answer (`query-migrate`). */
  readonly snapshot: () => Record<string, JsonValue>;
  /** Largest request in bytes. */
  readonly maxRequestBytes: number;
  /** Told of a failure of the thread itself (ferry's own bug). */
  readonly onError?: (error: Error) => void;
}

/** A running I/O thread. */
export interface IoThreadHost {
  /** Listen on an endpoint in the thread. */
  listen(endpoint: SocketEndpoint): Promise<QmpListener>;
  /** Close the thread's listeners and connections, then stop it. */
  close(): Promise<void>;
}

/** Start a monitor I/O thread. */
export function createIoThreadHost(options: IoThreadHostOptions): IoThreadHost {
  const init: IoThreadInit = {
    maxRequestBytes: options.maxRequestBytes,
    maxSnapshotAgeMs: IO_THREAD_SNAPSHOT_MAX_AGE_MS,
  };
  const worker = startWorkerEntry(import.meta.url, "worker", { workerData: init });
  const post = (m: ToIoThread): void => worker.postMessage(m);
  const inputs = new Map<number, SessionInput>();
  /** Connections open in the thread (from `open` until `gone`). */
  const live = new Set<number>();
  const ended = new Set<number>();
  const listens = new Map<
    number,
    { resolve: (l: QmpListener) => void; reject: (e: Error) => void }
  >();
  let nextKey = 1;
  let failed: Error | null = null;
  let exited = false;
  let closing: Promise<void> | null = null;
  let onClosed: (() => void) | null = null;
  let refreshQueued = false;

  const publish = (): void => {
    if (exited) return;
    post({ t: "snapshot", values: options.snapshot() });
  };
  const refresh = (): void => {
    refreshQueued = false;
    publish();
  };

  const ioOf = (conn: number): SessionIo => ({
    writable: () => live.has(conn) && !ended.has(conn) && !exited,
    write(text) {
      publish();
      post({ t: "write", conn, text });
    },
    end() {
      ended.add(conn);
      post({ t: "end", conn });
    },
    destroy() {
      if (!exited) post({ t: "destroy", conn });
    },
  });

  const fail = (e: Error): void => {
    if (failed !== null) return;
    failed = e;
    for (const l of listens.values()) l.reject(e);
    listens.clear();
    for (const input of inputs.values()) input.gone();
    inputs.clear();
    live.clear();
  };

  worker.on("message", (m: FromIoThread) => {
    switch (m.t) {
      case "listening": {
        const l = listens.get(m.key);
        listens.delete(m.key);
        l?.resolve({ endpoint: m.endpoint });
        break;
      }
      case "listen-failed": {
        const l = listens.get(m.key);
        listens.delete(m.key);
        l?.reject(new Error(m.message));
        break;
      }
      case "open":
        live.add(m.conn);
        inputs.set(m.conn, options.openSession(ioOf(m.conn)));
        break;
      case "frame":
        inputs.get(m.conn)?.frame(m.frame);
        break;
      case "eof": {
        // After what the last requests set off in this turn (a `quit` sends SHUTDOWN from an
        // immediate): a client that sends its requests and closes its side still gets those
        // events, as it does from a monitor served on this thread.
        const input = inputs.get(m.conn);
        setTimeout(() => input?.eof(), 0);
        break;
      }
      case "gone":
        inputs.get(m.conn)?.gone();
        inputs.delete(m.conn);
        live.delete(m.conn);
        ended.delete(m.conn);
        break;
      case "refresh":
        if (!refreshQueued) {
          refreshQueued = true;
          setImmediate(refresh);
        }
        break;
      case "closed":
        onClosed?.();
        break;
    }
  });
  worker.on("error", (e) => {
    options.onError?.(e);
    fail(new Error(`qmp: the monitor I/O thread failed: ${e.message}`));
  });
  worker.on("exit", () => {
    exited = true;
    fail(new Error("qmp: the monitor I/O thread exited"));
    onClosed?.();
  });

  return {
    listen(endpoint) {
      if (failed !== null) return Promise.reject(failed);
      const key = nextKey++;
      return new Promise((resolve, reject) => {
        listens.set(key, { resolve, reject });
        post({ t: "listen", key, endpoint });
      });
    },
    close() {
      if (closing !== null) return closing;
      closing = new Promise<void>((resolve) => {
        if (exited) {
          resolve();
          return;
        }
        const timer = setTimeout(() => void worker.terminate(), IO_THREAD_CLOSE_MS);
        onClosed = () => {
          clearTimeout(timer);
          onClosed = null;
          void worker.terminate().then(() => resolve());
        };
        post({ t: "close" });
      });
      return closing;
    },
  };
}
