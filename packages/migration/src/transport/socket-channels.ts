/**
 * Multifd data channels over real sockets (tcp/unix), like QEMU's: the source opens the main
 * connection, then one more connection per channel to the same address; the destination accepts
 * them all on one listener and tells them apart by their first bytes (a data channel starts with
 * the `MultiFDInit_t` magic 0x11223344, the main stream with "FRRY"). Data channels are one-way;
 * the return path stays on the main connection.
 */
import type { Socket } from "node:net";
import { MigrationError } from "../errors";
import { deliverReads } from "./socket-read-buffer";
import { MULTIFD_MAGIC } from "../multifd/packet";
import type { IncomingHandlers, IncomingTransport, OutgoingTransport } from "./types";

/** Wrap a connected data-channel socket as a one-way sending end. */
export function socketChannelSink(socket: Socket, label: string): OutgoingTransport {
  let error: Error | null = null;
  let ending = false;
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", (e) => {
    if (error === null) error = new MigrationError(`${label}: connection dropped (${e.message})`);
  });
  socket.on("close", () => {
    if (!ending && error === null) error = new MigrationError(`${label}: closed by the peer`);
  });
  // A data channel carries nothing back: the destination only closes it.
  socket.resume();
  const check = (): void => {
    if (error !== null) throw error;
  };
  return {
    name: label,
    get error() {
      return error;
    },
    get backedUp() {
      return socket.writableNeedDrain;
    },
    write(chunk) {
      check();
      // A copy: the chunk is the caller's only during this call (the preempt channel's stream
      // writer reuses its buffer), and a write the kernel cannot take at once waits in libuv.
      socket.write(Buffer.from(chunk));
    },
    async drain() {
      check();
      if (!socket.writableNeedDrain) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off("drain", done);
          socket.off("close", done);
          resolve();
        };
        socket.on("drain", done);
        socket.on("close", done);
      });
      check();
    },
    async end() {
      check();
      ending = true;
      socket.end();
      // the destination closes its side once it has read everything
      await closed;
      check();
    },
    abort(reason) {
      if (error === null) error = reason;
      socket.destroy();
    },
  };
}

/** Wrap an accepted data-channel socket as a one-way receiving end. */
export function socketChannelSource(socket: Socket, label: string): IncomingTransport {
  let done = false;
  return {
    receive(h: IncomingHandlers) {
      socket.on("end", () => {
        if (done) return;
        done = true;
        h.end();
        socket.end();
      });
      const broke = (why: string): void => {
        if (done) return;
        done = true;
        h.error(new MigrationError(`${label}: ${why}`));
      };
      socket.on("error", (e) => broke(`connection dropped (${e.message})`));
      socket.on("close", () => broke("connection closed before end of stream"));
      const data = (b: Uint8Array): void => {
        if (!done) h.data(b);
      };
      deliverReads(socket, data);
      socket.resume();
    },
    close() {
      done = true;
      socket.destroy();
    },
  };
}

/** How long a failed channel connection waits for the main connection's verdict (ms). */
const MAIN_VERDICT_MS = 1000;

/**
 * Give `main` the ability to open data channels: each is a new connection made by `connect`
 * (to the same address as the main one), wrapped by {@link socketChannelSink}.
 */
export function withSocketChannels(
  main: OutgoingTransport,
  connect: () => Promise<Socket>,
): OutgoingTransport {
  const label = main.name ?? "socket";
  const openChannels = async (count: number): Promise<readonly OutgoingTransport[]> => {
    const settled = await Promise.allSettled(Array.from({ length: count }, () => connect()));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed !== undefined) {
      for (const r of settled) if (r.status === "fulfilled") r.value.destroy();
      // A destination that refused the main connection (TLS, authz) closes its listener, so the
      // channels fail too; it tells why on the main connection's return path: report that.
      const until = Date.now() + MAIN_VERDICT_MS;
      while (main.error === null && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw main.error ?? failed.reason;
    }
    return settled.map((r, i) =>
      socketChannelSink((r as PromiseFulfilledResult<Socket>).value, `${label} channel ${i}`),
    );
  };
  return Object.defineProperties(
    {},
    {
      ...Object.getOwnPropertyDescriptors(main),
      openChannels: { value: openChannels, enumerable: true },
    },
  ) as OutgoingTransport;
}

/**
 * The first 4 bytes of an accepted socket as a big-endian u32, put back for whoever reads next;
 * null for a connection that closes first. How a destination tells its connections apart (the
 * main stream's magic, MultiFDInit_t's, post-copy preempt's).
 */
export function peekSocketMagic(socket: Socket): Promise<number | null> {
  return new Promise((resolve) => {
    const tryRead = (): void => {
      const head = socket.read(4) as Buffer | null;
      if (head === null) return;
      socket.off("readable", tryRead);
      socket.off("close", onClose);
      socket.unshift(head);
      resolve(head.readUInt32BE(0));
    };
    const onClose = (): void => {
      socket.off("readable", tryRead);
      resolve(null);
    };
    socket.on("readable", tryRead);
    socket.once("close", onClose);
    tryRead();
  });
}

/**
 * Whether an accepted socket is a multifd data channel: its first 4 bytes (put back) are the
 * MultiFDInit_t magic. False for a connection that closes first (the main-stream path then
 * reports it).
 */
export async function isChannelSocket(socket: Socket): Promise<boolean> {
  return (await peekSocketMagic(socket)) === MULTIFD_MAGIC;
}

/**
 * Give `main` (the accepted main connection) an `onChannel` that delivers the data channels
 * {@link offerChannel} is given, those offered earlier first.
 */
export interface ChannelAcceptor {
  /** The main end, with `onChannel`. */
  attach(main: IncomingTransport): IncomingTransport;
  /** A data channel arrived. */
  offer(channel: IncomingTransport): void;
  /** Data channels offered so far. */
  readonly count: number;
}

/** Make a {@link ChannelAcceptor}. */
export function createChannelAcceptor(): ChannelAcceptor {
  const arrived: IncomingTransport[] = [];
  const handlers: Array<(c: IncomingTransport) => void> = [];
  return {
    get count() {
      return arrived.length;
    },
    attach(main) {
      return Object.defineProperties(
        {},
        {
          ...Object.getOwnPropertyDescriptors(main),
          onChannel: {
            enumerable: true,
            value: (h: (c: IncomingTransport) => void) => {
              handlers.push(h);
              for (const c of arrived) h(c);
            },
          },
        },
      ) as IncomingTransport;
    },
    offer(c) {
      arrived.push(c);
      for (const h of handlers) h(c);
    },
  };
}
