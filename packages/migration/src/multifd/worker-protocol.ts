/**
 * Messages between the migration thread and a multifd channel's worker thread. A worker serves
 * one channel (QEMU: one thread per channel) and handles its jobs in order; every job gets one
 * reply with the same `seq`. Buffers travel as transferables (moved, not copied) and go back
 * with the reply so that the sender reuses them; guest RAM in a `SharedArrayBuffer` is read and
 * written by the worker in place.
 */
import type { MultifdCompressionModule } from "./compression";

/** A RAM block as a worker sees it. */
export interface WorkerBlock {
  /** The block's name as bytes (written into packets). */
  readonly name: Uint8Array;
  /** The block's RAM when it is shared memory (workers read and write it in place), else null. */
  readonly shared: SharedArrayBuffer | null;
  /** Byte offset of the block in `shared`. */
  readonly byteOffset: number;
  readonly size: number;
}

/** First message: what the worker serves. */
export interface WorkerInit {
  readonly kind: "init";
  /** `send`: build packets (source); `recv`: apply packets (destination). */
  readonly role: "send" | "recv";
  readonly channel: number;
  readonly blocks: readonly WorkerBlock[];
  /** The compression method's module, or null for none. */
  readonly compression: (MultifdCompressionModule & { readonly level: number }) | null;
}

/** Source: build one packet. */
export interface SendJob {
  readonly kind: "send";
  readonly seq: number;
  readonly flags: number;
  readonly packetNum: number;
  /** Block index (ignored when `count` is 0). */
  readonly block: number;
  readonly count: number;
  /** Page offsets in queue order (`count` used). */
  readonly offsets: Float64Array;
  /** The pages copied back to back when the block is not shared, else null. */
  readonly pages: ArrayBuffer | null;
}

/** Reply to a {@link SendJob}. */
export interface SendDone {
  readonly kind: "sent";
  readonly seq: number;
  readonly packet: ArrayBuffer;
  readonly normal: number;
  readonly zero: number;
  readonly dataBytes: number;
  /** The job's `pages`, handed back for reuse. */
  readonly pages: ArrayBuffer | null;
}

/** Destination: apply one packet. */
export interface RecvJob {
  readonly kind: "recv";
  readonly seq: number;
  readonly block: number;
  readonly normal: number;
  readonly zero: number;
  readonly offsets: Float64Array;
  /** The packet's data in `data[0, dataBytes)`. */
  readonly data: ArrayBuffer;
  readonly dataBytes: number;
  /**
   * When the block is not shared: where the worker puts the normal pages back to back (the
   * migration thread copies them into RAM); null when the worker writes RAM in place.
   */
  readonly out: ArrayBuffer | null;
}

/** Reply to a {@link RecvJob}. */
export interface RecvDone {
  readonly kind: "applied";
  readonly seq: number;
  readonly data: ArrayBuffer;
  readonly out: ArrayBuffer | null;
}

/** A job failed (the channel and the migration fail with `message`). */
export interface JobFailed {
  readonly kind: "failed";
  readonly seq: number;
  readonly message: string;
}

/** The worker is ready (its compression module loaded). */
export interface WorkerReady {
  readonly kind: "ready";
}

/** Messages to a worker. */
export type ToWorker = WorkerInit | SendJob | RecvJob;
/** Messages from a worker. */
export type FromWorker = WorkerReady | SendDone | RecvDone | JobFailed;
