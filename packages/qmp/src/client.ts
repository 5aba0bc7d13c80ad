/**
 * The QMP client: connects, reads the greeting, negotiates capabilities, runs commands (typed by a
 * spec table) and delivers events. Every wait has a timeout.
 */
import { createConnection, type Socket } from "node:net";
import { EventEmitter } from "eventemitter3";
import type { SocketEndpoint } from "./address";
import type { ArgsOf, ResultOf, SpecTable } from "./command";
import { QmpClientError } from "./errors";
import { createJsonSplitter } from "./framing";
import type { JsonValue, QmpEvent, QmpGreeting } from "./protocol";
import { type TlsClientSetup, tlsClient } from "./tls/session";

/** Events of a client. */
export interface QmpClientEvents {
  /** An asynchronous QMP event. */
  event: (event: QmpEvent) => void;
  /** The connection closed. */
  close: () => void;
}

/** Options of {@link connectQmp}. */
export interface QmpClientOptions {
  /** Timeout of the connect + greeting + negotiation, and default per-command timeout (ms; default 10 000). */
  readonly timeoutMs?: number;
  /** Capabilities to enable in `qmp_capabilities` (default none). */
  readonly enable?: readonly string[];
  /** Validate results with the spec's `returns` schema (default true when a spec is known). */
  readonly validate?: boolean;
  /** Speak TLS to a TCP monitor opened with `tls-creds` (credentials with `endpoint: client`). */
  readonly tls?: TlsClientSetup;
}

/** A connected, negotiated client typed by `T` (e.g. `typeof standardSpecs`). */
export interface QmpClient<T extends SpecTable = SpecTable> {
  /** The server's greeting. */
  readonly greeting: QmpGreeting;
  /** Typed events. */
  readonly events: EventEmitter<QmpClientEvents>;
  /** Every event received so far, in order. */
  readonly received: readonly QmpEvent[];
  /** Run a command; rejects with {@link QmpClientError} on an `error` response or timeout. */
  execute<K extends keyof T & string>(
    name: K,
    args?: ArgsOf<T[K]>,
    options?: { readonly timeoutMs?: number },
  ): Promise<ResultOf<T[K]>>;
  /** Run any command by name without typing (for raw protocol tests). */
  executeRaw(
    name: string,
    args?: Record<string, unknown>,
    options?: { readonly timeoutMs?: number },
  ): Promise<JsonValue>;
  /** Send raw bytes (protocol tests). */
  sendRaw(text: string): void;
  /** Resolve with the first event named `name` (received before or after the call) that satisfies `match`. */
  waitEvent(
    name: string,
    options?: {
      readonly timeoutMs?: number;
      readonly match?: (e: QmpEvent) => boolean;
      readonly since?: number;
    },
  ): Promise<QmpEvent>;
  /** Resolve with the next raw message of any kind (protocol tests). */
  nextMessage(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Close the connection. */
  close(): void;
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>;
}

type Pending = {
  resolve: (v: JsonValue) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  name: string;
};

/** Connect to a QMP server, negotiate, and return a client. */
export async function connectQmp<T extends SpecTable = SpecTable>(
  endpoint: SocketEndpoint,
  specs?: T,
  options: QmpClientOptions = {},
): Promise<QmpClient<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const where =
    endpoint.kind === "unix" ? `unix:${endpoint.path}` : `tcp:${endpoint.host}:${endpoint.port}`;
  let socket: Socket =
    endpoint.kind === "unix"
      ? createConnection({ path: endpoint.path })
      : createConnection({ host: endpoint.host, port: endpoint.port });
  if (options.tls !== undefined) socket = await secure(socket, options.tls, where, timeoutMs);
  const client = wrapSocket<T>(socket, where, specs, options);
  const greeting = await withTimeout(
    client.first,
    timeoutMs,
    `qmp ${where}: no greeting within ${timeoutMs} ms`,
  ).catch((e: Error) => {
    socket.destroy();
    throw e;
  });
  const c = client.client(greeting as unknown as QmpGreeting);
  await c.executeRaw("qmp_capabilities", options.enable ? { enable: [...options.enable] } : {}, {
    timeoutMs,
  });
  return c;
}

/** Connect and complete the TLS handshake (rejects with a `Closed`/`Timeout` QmpClientError). */
async function secure(
  socket: Socket,
  setup: TlsClientSetup,
  where: string,
  timeoutMs: number,
): Promise<Socket> {
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", (e) =>
        reject(new QmpClientError(`qmp ${where}: ${e.message}`, "Closed")),
      );
    }),
    timeoutMs,
    `qmp ${where}: no connection within ${timeoutMs} ms`,
  ).catch((e: Error) => {
    socket.destroy();
    throw e;
  });
  socket.removeAllListeners("error");
  try {
    return await tlsClient(socket, setup, timeoutMs);
  } catch (e) {
    throw new QmpClientError(`qmp ${where}: ${(e as Error).message}`, "Closed");
  }
}

function withTimeout<V>(p: Promise<V>, ms: number, message: string): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const t = setTimeout(() => reject(new QmpClientError(message, "Timeout")), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function wrapSocket<T extends SpecTable>(
  socket: Socket,
  where: string,
  specs: T | undefined,
  options: QmpClientOptions,
): { first: Promise<Record<string, unknown>>; client: (g: QmpGreeting) => QmpClient<T> } {
  const defaultTimeout = options.timeoutMs ?? 10_000;
  const events = new EventEmitter<QmpClientEvents>();
  const received: QmpEvent[] = [];
  const pending = new Map<number, Pending>();
  const messageWaiters: Array<(m: Record<string, unknown>) => void> = [];
  const splitter = createJsonSplitter({ maxBytes: 64 << 20 });
  let nextId = 1;
  let closedFlag = false;
  let gotFirst: (m: Record<string, unknown>) => void = () => {};
  let failFirst: (e: Error) => void = () => {};
  let greeted = false;
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    gotFirst = resolve;
    failFirst = reject;
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));

  const failAll = (err: QmpClientError): void => {
    for (const [, p] of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    pending.clear();
  };
  socket.on("error", (e) => {
    const err = new QmpClientError(`qmp ${where}: ${e.message}`, "Closed");
    if (!greeted) failFirst(err);
    failAll(err);
  });
  socket.on("close", () => {
    closedFlag = true;
    const err = new QmpClientError(`qmp ${where}: connection closed`, "Closed");
    if (!greeted) failFirst(err);
    failAll(err);
    events.emit("close");
  });
  socket.on("data", (chunk: Buffer) => {
    for (const f of splitter.push(chunk)) {
      if (f.kind === "error") continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(f.text) as Record<string, unknown>;
      } catch {
        continue;
      }
      const w = messageWaiters.shift();
      if (w) w(msg);
      if (!greeted) {
        greeted = true;
        gotFirst(msg);
        continue;
      }
      if (typeof msg.event === "string") {
        received.push(msg as unknown as QmpEvent);
        events.emit("event", msg as unknown as QmpEvent);
        continue;
      }
      const id = msg.id;
      if (typeof id !== "number") continue;
      const p = pending.get(id);
      if (p === undefined) continue;
      pending.delete(id);
      clearTimeout(p.timer);
      if ("error" in msg) {
        const e = msg.error as { class: string; desc: string };
        p.reject(
          new QmpClientError(`${p.name}: ${e.desc}`, e.class as QmpClientError["errorClass"]),
        );
      } else p.resolve(msg.return as JsonValue);
    }
  });

  const executeRaw = (
    name: string,
    args?: Record<string, unknown>,
    opts?: { readonly timeoutMs?: number },
  ): Promise<JsonValue> =>
    new Promise<JsonValue>((resolve, reject) => {
      if (closedFlag) {
        reject(new QmpClientError(`qmp ${where}: connection closed`, "Closed"));
        return;
      }
      const id = nextId++;
      const ms = opts?.timeoutMs ?? defaultTimeout;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new QmpClientError(`${name}: no response within ${ms} ms`, "Timeout"));
      }, ms);
      pending.set(id, { resolve, reject, timer, name });
      const request =
        args === undefined ? { execute: name, id } : { execute: name, arguments: args, id };
      socket.write(`${JSON.stringify(request)}\r\n`);
    });

  return {
    first,
    client: (greeting) => ({
      greeting,
      events,
      received,
      closed,
      executeRaw,
      async execute(name, args, opts) {
        const raw = await executeRaw(name, args as Record<string, unknown> | undefined, opts);
        const spec = specs?.[name];
        if (spec !== undefined && options.validate !== false) {
          const r = spec.returns.safeParse(raw);
          if (!r.success) {
            throw new QmpClientError(
              `${name}: unexpected result shape: ${r.error.issues[0]?.message ?? "invalid"}`,
              "ProtocolError",
            );
          }
          return r.data as ResultOf<T[typeof name]>;
        }
        return raw as ResultOf<T[typeof name]>;
      },
      sendRaw(text) {
        socket.write(text);
      },
      waitEvent(name, opts = {}) {
        const match = opts.match ?? (() => true);
        const since = opts.since ?? 0;
        for (let i = since; i < received.length; i++) {
          const e = received[i];
          if (e.event === name && match(e)) return Promise.resolve(e);
        }
        const ms = opts.timeoutMs ?? defaultTimeout;
        return new Promise<QmpEvent>((resolve, reject) => {
          const on = (e: QmpEvent): void => {
            if (e.event === name && match(e)) {
              clearTimeout(timer);
              events.off("event", on);
              resolve(e);
            }
          };
          const timer = setTimeout(() => {
            events.off("event", on);
            reject(new QmpClientError(`event ${name}: not received within ${ms} ms`, "Timeout"));
          }, ms);
          events.on("event", on);
        });
      },
      nextMessage(ms = defaultTimeout) {
        let waiter: (m: Record<string, unknown>) => void = () => {};
        const next = new Promise<Record<string, unknown>>((resolve) => {
          waiter = resolve;
          messageWaiters.push(resolve);
        });
        return withTimeout(next, ms, `qmp ${where}: no message within ${ms} ms`).catch(
          (e: Error) => {
            const i = messageWaiters.indexOf(waiter);
            if (i >= 0) messageWaiters.splice(i, 1);
            throw e;
          },
        );
      },
      close() {
        socket.end();
      },
    }),
  };
}
