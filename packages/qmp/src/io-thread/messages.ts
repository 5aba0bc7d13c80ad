/**
 * Messages between a QMP server and its monitor I/O thread (`worker.ts`): the thread owns the
 * listening sockets and connections and frames the requests; the server's main thread runs the
 * sessions. The thread answers a few read-only queries itself from the latest snapshot.
 */
import type { SocketEndpoint } from "../address";
import type { Frame } from "../framing";
import type { JsonValue } from "../protocol";

/** The thread's start-up data (`workerData`). */
export interface IoThreadInit {
  /** Largest request in bytes (the server's `maxRequestBytes`). */
  readonly maxRequestBytes: number;
  /**
   * Snapshots older than this (ms) are not used: the request goes to the main thread instead.
   */
  readonly maxSnapshotAgeMs: number;
}

/** Main thread → I/O thread. */
export type ToIoThread =
  | { readonly t: "listen"; readonly key: number; readonly endpoint: SocketEndpoint }
  | { readonly t: "write"; readonly conn: number; readonly text: string }
  | { readonly t: "end"; readonly conn: number }
  | { readonly t: "destroy"; readonly conn: number }
  /** Results of the snapshot commands (`query-migrate`), as their `return` values. */
  | { readonly t: "snapshot"; readonly values: Readonly<Record<string, JsonValue>> }
  | { readonly t: "close" };

/** I/O thread → main thread. */
export type FromIoThread =
  | { readonly t: "listening"; readonly key: number; readonly endpoint: SocketEndpoint }
  | { readonly t: "listen-failed"; readonly key: number; readonly message: string }
  | { readonly t: "open"; readonly conn: number }
  | { readonly t: "frame"; readonly conn: number; readonly frame: Frame }
  | { readonly t: "eof"; readonly conn: number }
  | { readonly t: "gone"; readonly conn: number }
  /** A query was answered from the snapshot: send a fresh one. */
  | { readonly t: "refresh" }
  | { readonly t: "closed" };
