/**
 * Stream transports over real sockets (node:net): TCP and unix-domain, for the
 * RealtimeScheduler. Two-way: the socket's reverse direction carries the return path (framed
 * messages, `return-path/messages.ts`). The source counts the migration as delivered only on a
 * `SWITCHOVER_ACK` that accounts for every byte it sent (count and digest). A dropped connection
 * breaks the transport with a clear error.
 */
import { writevSync } from "node:fs";
import { type Server, type Socket, createConnection, createServer } from "node:net";
import { TLSSocket } from "node:tls";
import { MigrationError } from "../errors";
import { DestinationRefusedError } from "../lifecycle";
import { ackMismatch } from "../return-path/ack";
import { createRpInbox } from "../return-path/inbox";
import { createRpDecoder, encodeRpMessage, type RpMessage } from "../return-path/messages";
import { createTally } from "../return-path/tally";
import { deliverReads } from "./socket-read-buffer";
import { forEachGathered, type GatherSpans } from "../stream/writer";
import type {
  DestinationReturnPath,
  IncomingHandlers,
  IncomingTransport,
  OutgoingTransport,
} from "./types";

/** Where to connect or listen: TCP host/port or a unix socket path. */
export type SocketAddress =
  | { readonly host?: string; readonly port: number }
  | { readonly path: string };

/**
 * Size of the sink's staging buffers (bytes): writes are coalesced into one of these, which goes
 * to the socket when full (or when the sender waits), so the socket sees writes of this size.
 */
export const SOCKET_STAGE_BYTES = 256 << 10;
/**
 * Free staging buffers kept for reuse (more are left to the garbage collector). A buffer comes
 * back only when its write completed, and write callbacks run when the sender yields, so the queue
 * between two yields (up to {@link SOCKET_QUEUE_HIGH_BYTES} and a writer flush or two) is all in
 * staging buffers: 32 × 256 KiB covers 8 MiB. Fewer sent the rest to the collector after every
 * burst and the next burst faulted fresh memory in (12 k minor faults per GiB on the source).
 */
const POOL_KEEP = 32;
/**
 * The sending socket's queue (bytes handed to the socket and not yet taken by the kernel) at
 * which the sender is told to wait ({@link OutgoingTransport.backedUp}), and the level
 * {@link OutgoingTransport.drain} waits for. The kernel never runs dry while the sender copies
 * the next pages: waiting for an empty queue (the socket's own 16 KiB high-water mark and
 * `drain` event) left the connection idle while the sender refilled it (measured: the source's
 * main thread 17 % idle, the destination 56 %, at 0.45 GB/s over loopback).
 */
export const SOCKET_QUEUE_HIGH_BYTES = 4 << 20;
/** See {@link SOCKET_QUEUE_HIGH_BYTES}. */
export const SOCKET_QUEUE_LOW_BYTES = 1 << 20;
/**
 * Free writer buffers (given whole by `writeOwned`) kept for reuse. Their write callbacks run only
 * when the sender yields (every couple of ms on the realtime scheduler), so a burst uses several:
 * 32 × the writer's 256 KiB covers 8 MiB between yields.
 */
const OWNED_KEEP = 32;
/** Positions in the writer's own bytes below which gathered writes keep their views for reuse. */
const OWN_VIEWS = 16 << 10;

/**
 * The socket's file descriptor when gathered writes may go to it directly: a plain TCP or unix
 * socket on a platform with descriptors (not TLS, whose bytes must go through the TLS layer).
 */
function directFd(socket: Socket): number {
  if (socket instanceof TLSSocket) return -1;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : -1;
}

function describe(addr: SocketAddress): string {
  return "path" in addr ? `unix:${addr.path}` : `tcp:${addr.host ?? "127.0.0.1"}:${addr.port}`;
}

/** Wrap a connected socket as the sending end. */
export function socketSink(socket: Socket, label = "socket"): OutgoingTransport {
  let error: Error | null = null;
  let ending = false;
  let peerEnded = false;
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const dropped = (why: string): void => {
    if (error === null) error = new MigrationError(`${label}: connection dropped (${why})`);
  };
  const sent = createTally();
  // TLS authenticates every record (an AEAD tag, or a MAC before TLS 1.3): a digest would check
  // what TLS already checked, at 0.3–0.4 s of CPU per GiB on each side. Both ends apply the same
  // rule, so the acknowledgement is checked by byte count (TLS itself refuses altered bytes).
  if (socket instanceof TLSSocket) {
    sent.countOnly();
    // Queued writes would reach the TLS layer as one `writev`, which copies them into one buffer
    // before encrypting (Node's TLSWrap::DoWrite): ~0.15 s per GiB. One at a time they go in place.
    (socket as unknown as { _writev: unknown })._writev = null;
  }
  const inbox = createRpInbox((ns, fn) => {
    const t = setTimeout(fn, ns / 1e6);
    return () => clearTimeout(t);
  }, label);
  let lastAck: Extract<RpMessage, { type: "switchover-ack" }> | null = null;
  let reported: string | null = null;
  const decoder = createRpDecoder((m) => {
    if (m.type === "switchover-ack") lastAck = m;
    else if (m.type === "integrity" && m.mode === "off") {
      // A destination in QEMU's mode does not digest the stream: neither does the source.
      sent.countOnly();
    } else if (m.type === "error") reported = m.message;
    else if (m.type === "shut" && m.status !== 0 && error === null) {
      error = new DestinationRefusedError(
        `${label}: connection dropped by the destination, which refused the stream${reported !== null ? ` (${reported})` : ""}`,
      );
    }
    inbox.push(m);
  });
  /** The destination's acknowledgement matches everything sent (set once the stream ended). */
  let acked = false;
  socket.on("data", (b: Buffer) => {
    try {
      decoder.push(b);
    } catch (e) {
      if (error === null) error = e as Error;
      socket.destroy();
    }
  });
  socket.on("end", () => {
    peerEnded = true;
  });
  socket.on("error", (e) => dropped(e.message));
  socket.on("close", () => {
    if (ending && peerEnded && lastAck !== null && error === null) {
      const why = ackMismatch(lastAck, sent);
      if (why === null) acked = true;
      else error = new MigrationError(`${label}: switchover acknowledgement refused: ${why}`);
    }
    if (!(ending && peerEnded && acked)) dropped("closed by peer before acknowledging the stream");
    inbox.fail(error ?? new MigrationError(`${label}: return path closed`));
  });
  const check = (): void => {
    if (error !== null) throw error;
  };
  /** Waiting in `drain` for the queue to fall to SOCKET_QUEUE_LOW_BYTES (or the socket to close). */
  const lowWaiters: Array<() => void> = [];
  /** Called after every completed write, on `drain` and on `close`. */
  const wakeIfLow = (): void => {
    if (lowWaiters.length === 0) return;
    if (socket.writableLength > SOCKET_QUEUE_LOW_BYTES && !socket.destroyed) return;
    for (const w of lowWaiters.splice(0)) w();
  };
  socket.on("drain", wakeIfLow);
  socket.on("close", wakeIfLow);
  // Coalescing: written bytes are copied into a pooled staging buffer, handed to the socket when
  // it is full, or once the sender leaves the event loop to other work (an
  // immediate: any wait of the sender lets it run), so the socket sees few large writes whatever
  // the caller's chunking, and no buffer is allocated per write. A staging buffer returns to the pool when its write completed.
  const pool: Buffer[] = [];
  let stage: Buffer | null = null;
  let staged = 0;
  let flushQueued = false;
  const release = (b: Buffer): void => {
    if (b.length === SOCKET_STAGE_BYTES && pool.length < POOL_KEEP) pool.push(b);
  };
  const flushStage = (): void => {
    const b = stage;
    if (b === null || staged === 0) return;
    const n = staged;
    stage = null;
    staged = 0;
    if (socket.destroyed) return;
    socket.write(b.subarray(0, n), () => {
      release(b);
      wakeIfLow();
    });
  };
  // Buffers given whole by the stream writer (writeOwned), back for reuse once written.
  const owned: Uint8Array[] = [];
  const recycle = (whole: ArrayBufferLike): void => {
    if (owned.length < OWNED_KEEP && whole instanceof ArrayBuffer)
      owned.push(new Uint8Array(whole));
    wakeIfLow();
  };
  const queuedFlush = (): void => {
    flushQueued = false;
    flushStage();
  };
  const stageBytes = (chunk: Uint8Array): void => {
    let off = 0;
    while (off < chunk.length) {
      if (stage === null) {
        stage = pool.pop() ?? Buffer.allocUnsafeSlow(SOCKET_STAGE_BYTES);
        staged = 0;
      }
      const n = Math.min(chunk.length - off, SOCKET_STAGE_BYTES - staged);
      stage.set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), staged);
      staged += n;
      off += n;
      if (staged === SOCKET_STAGE_BYTES) flushStage();
    }
    if (staged > 0 && !flushQueued) {
      flushQueued = true;
      setImmediate(queuedFlush);
    }
  };
  // Gathered writes (writeGather): the pieces in stream order as views, in an array reused between
  // calls (emptied, it would be regrown from nothing: seven reallocations for a flush's 512 pieces).
  const pieces: Uint8Array[] = [];
  let pieceCount = 0;
  let piecesBytes = 0;
  // Views of the writer's own bytes (record headers between pages: at the same positions flush
  // after flush) are kept and reused, keyed by position (a dense list: a sparse one is a
  // dictionary, looked up the slow way); one view per page remains.
  const ownViews: (Uint8Array | null)[] = new Array<Uint8Array | null>(OWN_VIEWS).fill(null);
  let ownViewsOf: ArrayBufferLike | null = null;
  let own: Uint8Array = new Uint8Array(0);
  // The last span source's buffer and offset (guest RAM, page after page): `.buffer` of a typed
  // array is a call into the runtime.
  let spanSrc: Uint8Array | null = null;
  let spanBuf: ArrayBufferLike = own.buffer;
  let spanBase = 0;
  const addPiece = (src: Uint8Array, off: number, len: number): void => {
    let v: Uint8Array | null;
    if (src === own && off < OWN_VIEWS) {
      v = ownViews[off];
      if (v === null || v.length !== len) {
        v = new Uint8Array(src.buffer, src.byteOffset + off, len);
        ownViews[off] = v;
      }
    } else {
      if (src !== spanSrc) {
        spanSrc = src;
        spanBuf = src.buffer;
        spanBase = src.byteOffset;
      }
      v = new Uint8Array(spanBuf, spanBase + off, len);
    }
    if (pieceCount < pieces.length) pieces[pieceCount] = v;
    else pieces.push(v);
    pieceCount++;
    piecesBytes += len;
  };
  /**
   * Hand `pieces` to the kernel in one `writev` on the descriptor, now (never later: the spans
   * are read during the call). Returns the bytes it took; 0 when its buffer is full. (Bytes
   * written this way are not in `socket.bytesWritten`; the tally counts every byte.)
   */
  const writeDirect = (fd: number): number => {
    try {
      return writevSync(fd, pieces);
    } catch {
      // EAGAIN: the kernel's buffer is full. Any other error shows on the socket's own write of
      // the same bytes (the copy path), which reports the connection as dropped.
      return 0;
    }
  };
  /**
   * Queue what the kernel did not take: `pieces` from byte `done` on. The writer's own bytes are
   * copied (it reuses its buffer). Guest pages are copied too while the stream is digested — the
   * tally read them during the call, so the wire must carry those bytes — and otherwise (a
   * count-only stream) queued by reference, as QEMU's `qemu_put_buffer_async` leaves them: the
   * kernel reads them when the socket can take them, and a page the guest changes before then is
   * in the dirty log and goes again.
   */
  const queueRest = (done: number): void => {
    const byRef = !sent.digested;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (done >= p.length) done -= p.length;
      else {
        const rest = done === 0 ? p : p.subarray(done);
        done = 0;
        if (byRef && p.buffer !== ownViewsOf) {
          flushStage();
          if (!socket.destroyed) socket.write(rest, wakeIfLow);
        } else stageBytes(rest);
      }
    }
  };
  const writeGather = (ownBytes: Uint8Array, spans: GatherSpans): void => {
    check();
    // Bytes staged before these go first.
    flushStage();
    if (ownBytes.buffer !== ownViewsOf || ownBytes.byteOffset !== own.byteOffset) {
      ownViews.fill(null);
      ownViewsOf = ownBytes.buffer;
    }
    own = ownBytes;
    pieceCount = 0;
    piecesBytes = 0;
    forEachGathered(ownBytes, spans, addPiece);
    if (pieces.length !== pieceCount) pieces.length = pieceCount;
    spanSrc = null;
    // Straight to the kernel when nothing is queued before (in order, no copy); what it does
    // not take now is copied and queued.
    const fd = socket.writableLength === 0 && !socket.destroyed ? directFd(socket) : -1;
    const done = fd >= 0 ? writeDirect(fd) : 0;
    if (done < piecesBytes) queueRest(done);
    // Digested after the kernel's copy: the pages are still in the CPU's cache then (guest RAM
    // does not change during this call).
    sent.addAll(pieces);
  };
  return {
    name: label,
    realTime: true,
    returnPath: {
      get sent() {
        return sent;
      },
      countOnly: () => sent.countOnly(),
      next: (timeoutNs) => inbox.next(timeoutNs),
      get received() {
        return inbox.received;
      },
    },
    get error() {
      return error;
    },
    get backedUp() {
      // A stalled peer stops the sender once the queue is full (x-peer-timeout then fails a
      // migration whose end was never handed over).
      return socket.writableLength >= SOCKET_QUEUE_HIGH_BYTES;
    },
    get peer() {
      if (error instanceof DestinationRefusedError) return "refused";
      return acked ? "started" : "unknown";
    },
    write(chunk) {
      check();
      sent.add(chunk);
      stageBytes(chunk);
    },
    writeOwned(chunk) {
      check();
      sent.add(chunk);
      // Bytes staged before this chunk go first.
      flushStage();
      const whole = chunk.buffer;
      if (!socket.destroyed) {
        socket.write(Buffer.from(whole, chunk.byteOffset, chunk.length), () => recycle(whole));
      }
      let next = owned.pop();
      while (next !== undefined && next.length < whole.byteLength) next = owned.pop();
      return next ?? new Uint8Array(whole.byteLength);
    },
    // Pages by reference only where the kernel can take them from guest RAM itself (not TLS: its
    // writer then fills whole buffers, handed over by writeOwned).
    ...(directFd(socket) >= 0 ? { writeGather } : {}),
    async drain() {
      check();
      flushStage();
      if (socket.writableLength < SOCKET_QUEUE_HIGH_BYTES) return;
      await new Promise<void>((resolve) => {
        lowWaiters.push(resolve);
      });
      check();
    },
    async end() {
      check();
      // The receiver ends its side once it has read everything: wait for that.
      ending = true;
      flushStage();
      socket.end();
      await closed;
      check();
    },
    abort(reason) {
      if (error === null) error = reason;
      socket.destroy();
    },
  };
}

/** Wrap a connected socket as the receiving end. */
export function socketSource(socket: Socket, label = "socket"): IncomingTransport {
  let handlers: IncomingHandlers | null = null;
  let ended = false;
  let failed = false;
  const received = createTally();
  // Not digested over TLS (see socketSink).
  if (socket instanceof TLSSocket) received.countOnly();
  const returnPath: DestinationReturnPath = {
    send(msg) {
      if (!socket.destroyed && socket.writable) socket.write(encodeRpMessage(msg));
    },
    get received() {
      return received;
    },
    countOnly: () => received.countOnly(),
  };
  return {
    returnPath,
    receive(h) {
      handlers = h;
      // This side closes once the loader is done (below), not as soon as the source ends.
      socket.allowHalfOpen = true;
      socket.on("end", () => {
        ended = true;
        if (failed) return;
        // The loader acknowledges the switchover on the return path once it loaded everything
        // (later when its multifd channels are still applying pages).
        const shut = (): void => {
          if (!failed) {
            returnPath.send({ type: "shut", status: 0 });
            socket.end();
          }
        };
        const later = handlers!.end();
        if (later instanceof Promise) void later.then(shut);
        else shut();
      });
      socket.on("error", (e) => {
        if (!failed && !ended) {
          failed = true;
          handlers!.error(new MigrationError(`${label}: connection dropped (${e.message})`));
        }
      });
      socket.on("close", () => {
        if (!failed && !ended) {
          failed = true;
          handlers!.error(new MigrationError(`${label}: connection closed before end of stream`));
        }
      });
      const data = (b: Uint8Array): void => {
        if (failed) return;
        received.add(b);
        handlers!.data(b);
      };
      deliverReads(socket, data);
      socket.resume();
    },
    close() {
      if (failed) return;
      failed = true;
      // Tell the source that this destination will not run the guest, then hang up: the socket
      // is destroyed once the message is flushed, without waiting for a peer that may never
      // close its side (a hostile or broken sender must not keep the destination alive).
      returnPath.send({ type: "shut", status: 1 });
      if (!socket.destroyed) socket.destroySoon();
    },
  };
}

/** Connect to a listening destination. */
export function connectSocket(addr: SocketAddress): Promise<OutgoingTransport> {
  return new Promise((resolve, reject) => {
    const socket =
      "path" in addr
        ? createConnection({ path: addr.path })
        : createConnection({ host: addr.host ?? "127.0.0.1", port: addr.port });
    socket.once("error", (e) =>
      reject(new MigrationError(`cannot connect to ${describe(addr)}: ${e.message}`)),
    );
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      resolve(socketSink(socket, describe(addr)));
    });
  });
}

/** A listening destination endpoint. */
export interface SocketListener {
  /** The bound address (the actual port when 0 was asked). */
  readonly address: SocketAddress;
  /** Wait for the next connection. */
  accept(): Promise<IncomingTransport>;
  /** Stop listening. */
  close(): Promise<void>;
}

/** Listen for one or more incoming migrations (port 0 picks a free port). */
export function listenSocket(addr: SocketAddress): Promise<SocketListener> {
  return new Promise((resolve, reject) => {
    const queue: Socket[] = [];
    const waiters: Array<(s: Socket) => void> = [];
    const server: Server = createServer((s) => {
      s.pause();
      const w = waiters.shift();
      if (w) w(s);
      else queue.push(s);
    });
    server.once("error", (e) =>
      reject(new MigrationError(`cannot listen on ${describe(addr)}: ${e.message}`)),
    );
    const onListening = (): void => {
      const a = server.address();
      const bound: SocketAddress =
        "path" in addr
          ? addr
          : {
              host: addr.host ?? "127.0.0.1",
              port: typeof a === "object" && a ? a.port : addr.port,
            };
      const label = describe(bound);
      resolve({
        address: bound,
        accept: () =>
          new Promise<IncomingTransport>((res) => {
            const wrap = (s: Socket): void => {
              res(socketSource(s, label));
            };
            const s = queue.shift();
            if (s) wrap(s);
            else waiters.push(wrap);
          }),
        close: () => new Promise<void>((res) => server.close(() => res())),
      });
    };
    if ("path" in addr) server.listen(addr.path, onListening);
    else server.listen(addr.port, addr.host ?? "127.0.0.1", onListening);
  });
}
