/**
 * A small TCP proxy for the two-process tests: it forwards each accepted connection to a target
 * port, the client-to-target direction at a fixed rate (a slow link whose send queue pushes back
 * on the sender), the other direction as it comes. Half-closes travel through (the sender's end
 * of stream reaches the target only after every queued byte); an abnormal close of either side
 * destroys the other. The test can `hold` the forwarding and `sever` every connection at once.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** Bytes forwarded towards the target per tick (default 2 KiB). */
  readonly bytesPerTick?: number;
  /** Tick length, ms (default 50). */
  readonly tickMs?: number;
  /** The proxy stops reading from the client while this much waits in its queue (default 16 KiB). */
  readonly maxQueued?: number;
}

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes forwarded towards the target so far. */
  readonly forwarded: number;
  /** Stop forwarding towards the target (bytes keep queueing, then push back). */
  hold(): void;
  /** Forward again after {@link hold}. */
  release(): void;
  /** Destroy every connection (both sides see the connection drop). */
  sever(): void;
  /** Sever and stop listening. */
  close(): Promise<void>;
}

/** Listen on a free loopback port and forward to `127.0.0.1:targetPort`. */
export async function startProxy(
  targetPort: number,
  options: ProxyOptions = {},
): Promise<TcpProxy> {
  const perTick = options.bytesPerTick ?? 2048;
  const tickMs = options.tickMs ?? 50;
  const maxQueued = options.maxQueued ?? 16 << 10;
  const live = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  let forwarded = 0;
  let held = false;

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const target = connect({ host: "127.0.0.1", port: targetPort, allowHalfOpen: true });
    live.add(client);
    live.add(target);
    const queue: Buffer[] = [];
    let queued = 0;
    let clientEnded = false;
    let targetEnded = false;
    const tick = setInterval(() => {
      if (held) return;
      let budget = perTick;
      while (budget > 0 && queue.length > 0) {
        const b = queue[0]!;
        const n = Math.min(budget, b.length);
        target.write(b.subarray(0, n));
        if (n === b.length) queue.shift();
        else queue[0] = b.subarray(n);
        budget -= n;
        queued -= n;
        forwarded += n;
      }
      if (queued < maxQueued && client.isPaused() && !client.destroyed) client.resume();
      if (clientEnded && queue.length === 0 && !target.writableEnded) target.end();
    }, tickMs);
    timers.add(tick);
    client.on("data", (b: Buffer) => {
      queue.push(b);
      queued += b.length;
      if (queued >= maxQueued) client.pause();
    });
    client.on("end", () => {
      clientEnded = true;
    });
    target.on("data", (b: Buffer) => {
      if (!client.destroyed) client.write(b);
    });
    target.on("end", () => {
      targetEnded = true;
      if (!client.destroyed) client.end();
    });
    const stop = (): void => {
      clearInterval(tick);
      timers.delete(tick);
      live.delete(client);
      live.delete(target);
    };
    // A close without the end of stream is a dropped connection: drop the other side too.
    client.on("close", () => {
      if (!clientEnded) target.destroy();
      if (target.destroyed) stop();
    });
    target.on("close", () => {
      if (!targetEnded) client.destroy();
      if (client.destroyed) stop();
    });
    client.on("error", () => {});
    target.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const sever = (): void => {
    for (const s of live) s.destroy();
    live.clear();
    for (const t of timers) clearInterval(t);
    timers.clear();
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    get forwarded() {
      return forwarded;
    },
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
    },
    sever,
    close: () =>
      new Promise<void>((resolve) => {
        sever();
        server.close(() => resolve());
      }),
  };
}
