/**
 * The in-process link transport in virtual time: a write occupies the link for
 * `len / bandwidth` and is delivered `latency` later, in order.
 */
import type { Scheduler } from "@ferry/core";
import { MigrationError } from "../errors";
import { DestinationRefusedError } from "../lifecycle";
import type { IncomingHandlers, IncomingTransport, OutgoingTransport } from "./types";

/** Options of {@link createLink}. */
export interface LinkOptions {
  readonly scheduler: Scheduler;
  /** Link bandwidth in bytes/s (0 or Infinity = instant). */
  readonly bandwidth: number;
  /** One-way latency in ns. */
  readonly latency: number;
  /**
   * Send buffer in bytes: the sender is backed up while more than this is untransmitted, and
   * `drain()` waits until no more than half of it is (default 1 MiB).
   */
  readonly bufferBytes?: number;
  /**
   * Carry synthetic pages in compact form (version instead of bytes) between two synthetic
   * machines; occupancy, buffering and `delivered` still count the real stream bytes
   * (each chunk's `accounted` length). Default false.
   */
  readonly compact?: boolean;
}

/** Both ends of a link, plus a way to cut it (tests of dropped connections). */
export interface Link {
  readonly source: OutgoingTransport;
  readonly destination: IncomingTransport;
  /** Drop the connection: the sender's next operation fails, the receiver gets `error`. */
  cut(reason?: Error): void;
  /** Stream bytes delivered to the destination so far (accounted bytes on a compact link). */
  readonly delivered: number;
}

/** Make a virtual-time link. */
export function createLink(options: LinkOptions): Link {
  const { scheduler, latency } = options;
  if (!(options.bandwidth >= 0) || !(latency >= 0)) {
    throw new MigrationError(
      `link bandwidth and latency must be non-negative numbers, got ${options.bandwidth} B/s and ${latency} ns`,
    );
  }
  const nsPerByte =
    options.bandwidth === 0 || options.bandwidth === Number.POSITIVE_INFINITY
      ? 0
      : 1e9 / options.bandwidth;
  const bufferNs = (options.bufferBytes ?? 1 << 20) * nsPerByte;
  const compact = options.compact === true;
  // Occupancy in whole bytes: the current busy period began at `periodStart` and has carried
  // `periodBytes` (an integer) since, so `busyUntil` depends only on how many bytes were written
  // while the link stayed busy, never on how they were cut into chunks (a compact link's one
  // large chunk and the byte path's many 1 MiB chunks end at the same instant, to the bit).
  let periodStart = 0;
  let periodBytes = 0;
  let busyUntil = 0;
  let error: Error | null = null;
  let ended = false;
  let delivered = 0;
  let endDelivered = false;
  let handlers: IncomingHandlers | null = null;
  const early: Array<() => void> = [];

  const deliver = (fn: (h: IncomingHandlers) => void): void => {
    if (error !== null) return;
    if (handlers === null) early.push(() => fn(handlers!));
    else fn(handlers);
  };
  const fail = (reason: Error): void => {
    if (error !== null) return;
    error = reason;
    if (handlers !== null) handlers.error(reason);
  };
  const check = (): void => {
    if (error !== null) throw error;
  };

  const source: OutgoingTransport = {
    get error() {
      return error;
    },
    get backedUp() {
      return busyUntil - scheduler.now() > bufferNs;
    },
    /**
     * The in-process link knows the destination's fate: a refusal, or an end of stream dropped by
     * a broken link (it will never be delivered), is `refused`; a delivered end is `started`.
     */
    get peer() {
      if (error instanceof DestinationRefusedError) return "refused";
      if (endDelivered) return "started";
      return error !== null ? "refused" : "unknown";
    },
    compact,
    write(chunk, accounted) {
      check();
      if (ended) throw new MigrationError("write after end of link stream");
      const copy = chunk.slice();
      const length = compact && accounted !== undefined ? accounted : copy.length;
      const now = scheduler.now();
      if (now >= busyUntil) {
        periodStart = now;
        periodBytes = 0;
      }
      periodBytes += length;
      busyUntil = periodStart + periodBytes * nsPerByte;
      scheduler.at(busyUntil + latency, () =>
        deliver((h) => {
          delivered += length;
          h.data(copy);
        }),
      );
    },
    async drain() {
      check();
      // Wait until half the buffer is free (hysteresis: fewer, larger refills).
      const wait = busyUntil - bufferNs / 2 - scheduler.now();
      if (wait > 0) await scheduler.sleep(wait);
      check();
    },
    async end() {
      check();
      ended = true;
      const at = Math.max(busyUntil, scheduler.now()) + latency;
      scheduler.at(at, () =>
        deliver((h) => {
          endDelivered = true;
          h.end();
        }),
      );
      await scheduler.sleep(at - scheduler.now());
      check();
    },
    abort(reason) {
      fail(reason);
    },
  };

  const destination: IncomingTransport = {
    compact,
    receive(h) {
      if (handlers !== null) throw new MigrationError("link destination is already receiving");
      handlers = h;
      for (const fn of early.splice(0)) fn();
      if (error !== null) h.error(error);
    },
    close() {
      fail(new DestinationRefusedError("link closed by the destination"));
    },
  };

  return {
    source,
    destination,
    cut: (reason) => fail(reason ?? new MigrationError("link connection dropped")),
    get delivered() {
      return delivered;
    },
  };
}
