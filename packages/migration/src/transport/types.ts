/**
 * Transport contracts: the source writes a byte stream, the destination receives it in order.
 */
import type { PeerVerdict } from "../lifecycle";

/** The sending end of a migration stream. */
export interface OutgoingTransport {
  /**
   * Send bytes. `chunk` is valid only during the call (copy it if kept). Throws once broken.
   * `accounted` (default `chunk.length`) is how many stream bytes the chunk stands for; it differs
   * only on a {@link OutgoingTransport.compact} transport.
   */
  write(chunk: Uint8Array, accounted?: number): void;
  /**
   * True when the transport carries the compact synthetic form (a synthetic page travels as its
   * version, flagged `RamFlag.COMPACT`) and charges each chunk its `accounted` length: only the
   * in-process link between two synthetic machines (`createLink({ compact: true })`).
   */
  readonly compact?: boolean;
  /** True while the sender should wait for {@link drain} (its send buffer is full). */
  readonly backedUp: boolean;
  /** Resolve once no longer backed up; reject if the transport breaks meanwhile. */
  drain(): Promise<void>;
  /** Finish: resolve when the far end has received every byte (and the end of stream). */
  end(): Promise<void>;
  /** Drop the connection (cancel or failure); the far end sees an error. */
  abort(reason: Error): void;
  /** The error that broke the transport, or null. */
  readonly error: Error | null;
  /**
   * What the transport knows of the destination once the end of stream was handed to it (see
   * {@link PeerVerdict}). Absent = `unknown` unless {@link error} is a `DestinationRefusedError`.
   * The source resumes after a late failure only on `refused`.
   */
  readonly peer?: PeerVerdict;
}

/** Callbacks of a receiving transport. */
export interface IncomingHandlers {
  /** Bytes in order; `chunk` is valid only during the call. */
  data(chunk: Uint8Array): void;
  /** The sender finished cleanly. */
  end(): void;
  /** The connection broke. */
  error(err: Error): void;
}

/** The receiving end of a migration stream. */
export interface IncomingTransport {
  /** Start delivering to `handlers` (data that arrived earlier is delivered first, in order). */
  receive(handlers: IncomingHandlers): void;
  /** Close the receiving end (e.g. after a stream error). */
  close(): void;
  /** True when the stream may hold compact synthetic records (see {@link OutgoingTransport.compact}). */
  readonly compact?: boolean;
}
