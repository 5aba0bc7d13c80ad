/**
 * Transport contracts: the source writes a byte stream, the destination receives it in order;
 * a two-way transport also carries the return path (destination → source messages, see
 * `return-path/messages.ts`). A one-way transport (a file) has no `returnPath`.
 */
import type { PeerVerdict } from "../lifecycle";
import type { RpMessage } from "../return-path/messages";
import type { GatherSpans } from "../stream/writer";

/** A byte count and digest of stream bytes (see `createTally`). */
export interface TallyView {
  readonly bytes: number;
  /** Lowercase hex: CRC-32 (8 digits) or Fletcher-64 (32), chosen by the stream's header. */
  readonly digest: string;
  /** False when only bytes are counted (`digest` then means nothing); absent means true. */
  readonly digested?: boolean;
}

/** The source's end of the return path. */
export interface SourceReturnPath {
  /** What the source wrote on this channel so far (wire bytes and their digest). */
  readonly sent: TallyView;
  /**
   * Stop digesting what is sent from now on (count only): the source's `x-integrity: false`.
   * The switchover acknowledgement's digest is then not checked, its byte count still is.
   */
  countOnly?(): void;
  /**
   * The next message from the destination, in arrival order. Rejects after `timeoutNs` on the
   * transport's clock (virtual for the link, real for sockets) or when the transport breaks.
   */
  next(timeoutNs: number): Promise<RpMessage>;
  /** Every message received so far. */
  readonly received: readonly RpMessage[];
}

/** The destination's end of the return path. */
export interface DestinationReturnPath {
  /** Send a message to the source (in order, after the ones before). Ignored once closed. */
  send(msg: RpMessage): void;
  /** What was delivered to the loader so far (wire bytes and their digest). */
  readonly received: TallyView;
  /**
   * Stop digesting what is received from now on (count only): a destination in integrity mode
   * `off`, which announces it, so the source checks the acknowledgement by byte count.
   */
  countOnly?(): void;
}

/** The sending end of a migration stream. */
export interface OutgoingTransport {
  /**
   * Send bytes. `chunk` is valid only during the call (copy it if kept). Throws once broken.
   * `accounted` (default `chunk.length`) is how many stream bytes the chunk stands for; it differs
   * only on a {@link OutgoingTransport.compact} transport.
   */
  write(chunk: Uint8Array, accounted?: number): void;
  /**
   * Send bytes and keep them: the transport takes `chunk`'s whole underlying buffer (the caller
   * never touches it again) and returns a buffer at least as large for the caller's next bytes.
   * Saves the copy {@link OutgoingTransport.write} makes; used by the stream writer for its full
   * buffers when no framing sits between them. Throws once broken.
   */
  writeOwned?(chunk: Uint8Array, accounted?: number): Uint8Array;
  /**
   * Send `own` with `spans` spliced in (see {@link GatherSpans}) without copying the spans where
   * the transport can: a socket hands them to the kernel in one gathered write when nothing is
   * queued before them (QEMU's `qemu_put_buffer_async`), and copies what the kernel does not take
   * at once. Everything is read during the call. Throws once broken.
   */
  writeGather?(own: Uint8Array, spans: GatherSpans, accounted?: number): void;
  /**
   * True when the transport carries the compact synthetic form (a synthetic page travels as its
   * version, flagged `RamFlag.COMPACT`) and charges each chunk its `accounted` length: only the
   * in-process link between two synthetic machines (`createLink({ compact: true })`).
   */
  readonly compact?: boolean;
  /**
   * True when bytes leave in real time (a socket), not on the virtual clock: the sender then
   * hands over only full buffers, not what it has at every flow point (a link's occupancy in
   * virtual time must not depend on how records fill the buffer; a socket's writes cost real
   * CPU each, measured 0.5 s per GiB more at 256 KiB than at 1 MiB).
   */
  readonly realTime?: boolean;
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
  /** The return path; absent on a one-way transport (a file). */
  readonly returnPath?: SourceReturnPath;
  /** A short name for messages (`link`, `file:PATH`, `tcp:HOST:PORT`, `unix:PATH`). */
  readonly name?: string;
  /**
   * Open `count` one-way data channels to the same destination (multifd). Absent on a transport
   * that has none (a file); rejects when it cannot open that many.
   */
  openChannels?(count: number): Promise<readonly OutgoingTransport[]>;
}

/** Callbacks of a receiving transport. */
export interface IncomingHandlers {
  /** Bytes in order; `chunk` is valid only during the call. */
  data(chunk: Uint8Array): void;
  /**
   * The sender finished cleanly. A promise: the loader finishes later (multifd channels still
   * applying pages); a two-way transport acknowledges and closes only once it settles.
   */
  end(): void | Promise<void>;
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
  /** The return path; absent on a one-way transport (a file). */
  readonly returnPath?: DestinationReturnPath;
  /**
   * Call `handler` with every data channel the source opens (multifd), those already open first.
   * Absent on a transport that has none.
   */
  onChannel?(handler: (channel: IncomingTransport) => void): void;
}
