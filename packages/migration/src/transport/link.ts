/**
 * The in-process link transport in virtual time. A link has a main channel (with the return
 * path) and optionally N data channels (one-way, like QEMU's multifd channels); all of them share
 * the link: every write in one direction occupies that direction for `len / bandwidth` and is
 * delivered `latency` later, in order per channel. The two directions are accounted separately
 * (a full-duplex link), and so is every channel.
 *
 * Each channel has its own send queue (as each of QEMU's channels is its own socket): a write on
 * a channel whose queue is empty while other channels have bytes queued does not wait behind
 * them; it gets a fair share of the bandwidth (1/k, k = channels with bytes queued, itself
 * included) and never arrives later than it would behind them. The direction's busy time still
 * grows by its bytes, so the link never carries more than its bandwidth over a busy period; the
 * bytes already queued on the other channels keep their delivery times (the borrowed time is
 * paid by their later writes). With one channel in use this is exactly the FIFO link.
 */
import { notifyAsyncWake, type Scheduler } from "@ferry/core";
import { MigrationError } from "../errors";
import { DestinationRefusedError } from "../lifecycle";
import { createRpInbox } from "../return-path/inbox";
import { createRpDecoder, encodeRpMessage } from "../return-path/messages";
import { createTally } from "../return-path/tally";
import type {
  DestinationReturnPath,
  IncomingHandlers,
  IncomingTransport,
  OutgoingTransport,
  SourceReturnPath,
} from "./types";

/** Options of {@link createLink}. */
export interface LinkOptions {
  readonly scheduler: Scheduler;
  /** Link bandwidth in bytes/s, per direction (0 or Infinity = instant). */
  readonly bandwidth: number;
  /** One-way latency in ns. */
  readonly latency: number;
  /** Bandwidth of the return direction in bytes/s (default: `bandwidth`). */
  readonly reverseBandwidth?: number;
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
  /** Data channels besides the main channel (default 0). They share the link's bandwidth. */
  readonly channels?: number;
}

/** One channel of a link: both ends. */
export interface LinkChannel {
  readonly source: OutgoingTransport;
  readonly destination: IncomingTransport;
}

/** Traffic of one direction of a link. */
export interface LinkDirectionStats {
  /** Bytes written in this direction (accounted bytes on a compact link). */
  readonly bytes: number;
  /** Virtual time this direction was busy transmitting, in ns. */
  readonly busyNs: number;
}

/** Traffic of a link, per direction and per channel. */
export interface LinkStats {
  /** Source → destination, all channels. */
  readonly forward: LinkDirectionStats;
  /** Destination → source (the return path). */
  readonly reverse: LinkDirectionStats;
  /** Per channel (index 0 = the main channel): bytes each way. */
  readonly channels: readonly { readonly forwardBytes: number; readonly reverseBytes: number }[];
}

/** A link: the main channel's ends, the data channels, a way to cut it, and its accounting. */
export interface Link extends LinkChannel {
  /** The data channels (`options.channels` of them), one-way. */
  readonly channels: readonly LinkChannel[];
  /** Drop the connection: every sender's next operation fails, every receiver gets `error`. */
  cut(reason?: Error): void;
  /** Stream bytes delivered to the destination so far, all channels (accounted bytes on a compact link). */
  readonly delivered: number;
  /** Traffic per direction and per channel. */
  stats(): LinkStats;
}

interface Direction {
  readonly nsPerByte: number;
  periodStart: number;
  periodBytes: number;
  busyUntil: number;
  bytes: number;
  busyNs: number;
}

function nsPerByteOf(bandwidth: number): number {
  return bandwidth === 0 || bandwidth === Number.POSITIVE_INFINITY ? 0 : 1e9 / bandwidth;
}

/**
 * Occupy `dir` with `length` bytes starting now; returns when the last byte leaves. Occupancy in
 * whole bytes: the current busy period began at `periodStart` and has carried `periodBytes` (an
 * integer) since, so `busyUntil` depends only on how many bytes were written while the link
 * stayed busy, never on how they were cut into chunks or spread over channels.
 */
function occupy(dir: Direction, now: number, length: number): number {
  if (now >= dir.busyUntil) {
    dir.periodStart = now;
    dir.periodBytes = 0;
  }
  dir.periodBytes += length;
  dir.busyUntil = dir.periodStart + dir.periodBytes * dir.nsPerByte;
  dir.bytes += length;
  dir.busyNs += length * dir.nsPerByte;
  return dir.busyUntil;
}

/** A copy of `o` (its getters stay live: never spread it) with `methods` added. */
function withMethods<T extends object, M extends object>(o: T, methods: M): T & M {
  return Object.defineProperties(
    {},
    { ...Object.getOwnPropertyDescriptors(o), ...Object.getOwnPropertyDescriptors(methods) },
  ) as T & M;
}

/** Make a virtual-time link. */
export function createLink(options: LinkOptions): Link {
  const { scheduler, latency } = options;
  const reverseBandwidth = options.reverseBandwidth ?? options.bandwidth;
  if (!(options.bandwidth >= 0) || !(latency >= 0) || !(reverseBandwidth >= 0)) {
    throw new MigrationError(
      `link bandwidth and latency must be non-negative numbers, got ${options.bandwidth} B/s (reverse ${reverseBandwidth} B/s) and ${latency} ns`,
    );
  }
  const dataChannels = options.channels ?? 0;
  if (!Number.isInteger(dataChannels) || dataChannels < 0 || dataChannels > 255) {
    throw new MigrationError(`link channels must be an integer in 0..255, got ${dataChannels}`);
  }
  const forward: Direction = {
    nsPerByte: nsPerByteOf(options.bandwidth),
    periodStart: 0,
    periodBytes: 0,
    busyUntil: 0,
    bytes: 0,
    busyNs: 0,
  };
  const reverse: Direction = { ...forward, nsPerByte: nsPerByteOf(reverseBandwidth) };
  const bufferNs = (options.bufferBytes ?? 1 << 20) * forward.nsPerByte;
  const compact = options.compact === true;
  let error: Error | null = null;
  const onError: Array<(e: Error) => void> = [];
  const fail = (reason: Error): void => {
    if (error !== null) return;
    error = reason;
    for (const f of onError) f(reason);
  };
  const check = (): void => {
    if (error !== null) throw error;
  };
  const perChannel: { forwardBytes: number; reverseBytes: number; delivered: number }[] = [];
  /** Per channel: when its last queued forward byte leaves (its own send queue). */
  const channelBusyUntil: number[] = [];

  /**
   * When a forward write of `length` bytes on channel `index` made now is delivered (before the
   * latency): FIFO behind the whole link when it is the only channel with bytes queued, else a
   * fair share behind its own queue only (see the module comment).
   */
  const forwardWrite = (index: number, length: number): number => {
    const now = scheduler.now();
    let others = 0;
    for (let c = 0; c < channelBusyUntil.length; c++) {
      if (c !== index && channelBusyUntil[c] > now) others++;
    }
    const fifo = occupy(forward, now, length);
    let done = fifo;
    if (others > 0) {
      const shared =
        Math.max(now, channelBusyUntil[index]) + length * forward.nsPerByte * (others + 1);
      if (shared < done) done = shared;
    }
    channelBusyUntil[index] = done;
    return done;
  };

  const makeChannel = (index: number, twoWay: boolean): LinkChannel => {
    const acc = { forwardBytes: 0, reverseBytes: 0, delivered: 0 };
    perChannel.push(acc);
    channelBusyUntil.push(0);
    const name = index === 0 ? "link" : `link channel ${index}`;
    let ended = false;
    let endDelivered = false;
    let handlers: IncomingHandlers | null = null;
    const early: Array<() => void> = [];
    const sent = createTally();
    const received = createTally();
    const inbox = createRpInbox((ns, fn) => {
      const t = scheduler.after(ns, fn);
      return () => t.cancel();
    }, name);
    const decoder = createRpDecoder((m) => {
      inbox.push(m);
      // A source awaiting `next()` runs before the next event (the vCPUs may never go idle).
      notifyAsyncWake(scheduler);
    });
    onError.push((e) => {
      inbox.fail(e);
      if (handlers !== null) handlers.error(e);
    });

    const deliver = (fn: (h: IncomingHandlers) => void): void => {
      if (error !== null) return;
      if (handlers === null) early.push(() => fn(handlers!));
      else fn(handlers);
    };

    const returnPathSource: SourceReturnPath = {
      get sent() {
        return sent;
      },
      countOnly: () => sent.countOnly(),
      next: (timeoutNs) => inbox.next(timeoutNs),
      get received() {
        return inbox.received;
      },
    };
    const returnPathDestination: DestinationReturnPath = {
      send(msg) {
        if (error !== null) return;
        const bytes = encodeRpMessage(msg);
        acc.reverseBytes += bytes.length;
        const at = occupy(reverse, scheduler.now(), bytes.length) + latency;
        scheduler.at(at, () => {
          if (error !== null) return;
          try {
            decoder.push(bytes);
          } catch (e) {
            fail(e as Error);
          }
        });
      },
      get received() {
        return received;
      },
      countOnly: () => received.countOnly(),
    };

    const source: OutgoingTransport = {
      name,
      get error() {
        return error;
      },
      get backedUp() {
        return forward.busyUntil - scheduler.now() > bufferNs;
      },
      /**
       * The in-process link knows the destination's fate: a refusal, or an end of stream dropped
       * by a broken link (it will never be delivered), is `refused`; a delivered end is `started`.
       */
      get peer() {
        if (error instanceof DestinationRefusedError) return "refused";
        if (endDelivered) return "started";
        return error !== null ? "refused" : "unknown";
      },
      compact,
      ...(twoWay ? { returnPath: returnPathSource } : {}),
      write(chunk, accounted) {
        check();
        if (ended) throw new MigrationError(`write after end of ${name} stream`);
        const copy = chunk.slice();
        sent.add(copy);
        const length = compact && accounted !== undefined ? accounted : copy.length;
        acc.forwardBytes += length;
        const at = forwardWrite(index, length) + latency;
        scheduler.at(at, () =>
          deliver((h) => {
            acc.delivered += length;
            received.add(copy);
            h.data(copy);
          }),
        );
      },
      async drain() {
        check();
        // Wait until half the buffer is free (hysteresis: fewer, larger refills).
        const wait = forward.busyUntil - bufferNs / 2 - scheduler.now();
        if (wait > 0) await scheduler.sleep(wait);
        check();
      },
      async end() {
        check();
        ended = true;
        // The end of stream follows this channel's bytes.
        const at = Math.max(channelBusyUntil[index], scheduler.now()) + latency;
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
      ...(twoWay ? { returnPath: returnPathDestination } : {}),
      receive(h) {
        if (handlers !== null) throw new MigrationError(`${name} destination is already receiving`);
        handlers = h;
        for (const fn of early.splice(0)) fn();
        if (error !== null) h.error(error);
      },
      close() {
        fail(new DestinationRefusedError(`${name} closed by the destination`));
      },
    };
    return { source, destination };
  };

  const main = makeChannel(0, true);
  const channels: LinkChannel[] = [];
  for (let i = 1; i <= dataChannels; i++) channels.push(makeChannel(i, false));
  // Multifd: the source opens the first `count` data channels; the destination is offered those.
  let opened = 0;
  const onChannel: Array<(c: IncomingTransport) => void> = [];
  const source = withMethods(main.source, {
    async openChannels(count: number): Promise<readonly OutgoingTransport[]> {
      if (!Number.isInteger(count) || count < 1 || count > dataChannels - opened) {
        throw new MigrationError(
          `link has ${dataChannels - opened} unopened data channels, ${count} requested (create the link with channels >= multifd-channels)`,
        );
      }
      const out = channels.slice(opened, opened + count);
      opened += count;
      for (const c of out) for (const h of onChannel) h(c.destination);
      return out.map((c) => c.source);
    },
  });
  const destination = withMethods(main.destination, {
    onChannel(handler: (c: IncomingTransport) => void): void {
      onChannel.push(handler);
      for (const c of channels.slice(0, opened)) handler(c.destination);
    },
  });

  return {
    source,
    destination,
    channels,
    cut: (reason) => fail(reason ?? new MigrationError("link connection dropped")),
    get delivered() {
      let n = 0;
      for (const c of perChannel) n += c.delivered;
      return n;
    },
    stats: () => ({
      forward: { bytes: forward.bytes, busyNs: forward.busyNs },
      reverse: { bytes: reverse.bytes, busyNs: reverse.busyNs },
      channels: perChannel.map((c) => ({
        forwardBytes: c.forwardBytes,
        reverseBytes: c.reverseBytes,
      })),
    }),
  };
}
