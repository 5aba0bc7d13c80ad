/**
 * The QMP server: QEMU's monitor protocol over sockets. Each connection is a session that starts
 * in capabilities-negotiation mode (greeting sent, only `qmp_capabilities` accepted, no events),
 * then runs commands one at a time in arrival order and receives broadcast events.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { z } from "zod";
import { type SocketEndpoint, formatEndpoint } from "./address";
import { checkArguments } from "./args";
import { type AnyQmpCommand, commandSpec, defineCommand } from "./command";
import { QmpError } from "./errors";
import { createJsonSplitter, type Frame } from "./framing";
import { bindEndpoint } from "./listen";
import { createIoThreadHost, type IoThreadHost } from "./io-thread/host";
import { TlsRefusedError, type TlsServerSetup, tlsServer } from "./tls/session";
import {
  encodeMessage,
  type JsonValue,
  QMP_PACKAGE,
  QMP_VERSION,
  type QmpGreeting,
  timestampNow,
} from "./protocol";

/** Options of {@link createQmpServer}. */
export interface QmpServerOptions {
  /** The commands offered after negotiation (`qmp_capabilities` and `query-commands` are built in). */
  readonly commands: readonly AnyQmpCommand[];
  /** Offer the `oob` capability in the greeting (default true, as QEMU's socket monitors do). */
  readonly oob?: boolean;
  /** Largest request in bytes (default 1 MiB). */
  readonly maxRequestBytes?: number;
  /** Called with each failure of a handler that is not a QmpError (ferry's own bug). */
  readonly onInternalError?: (error: Error, command: string) => void;
  /**
   * Read-only queries a monitor I/O thread may answer from a snapshot, each with when its result
   * may be used (default: `query-migrate` while a migration is in progress — before and after,
   * the main thread answers, exactly): commands without arguments whose handler returns
   * synchronously.
   */
  readonly ioThreadQueries?: Readonly<Record<string, (result: unknown) => boolean>>;
}

/** `query-migrate`'s statuses that are not a migration in progress (the main thread answers). */
const SETTLED_MIGRATION = new Set(["none", "completed", "failed", "cancelled"]);

/** The default snapshot queries of a monitor I/O thread: `query-migrate` during a migration. */
export const DEFAULT_IO_THREAD_QUERIES: Readonly<Record<string, (result: unknown) => boolean>> = {
  "query-migrate": (r) =>
    typeof r === "object" &&
    r !== null &&
    typeof (r as { status?: unknown }).status === "string" &&
    !SETTLED_MIGRATION.has((r as { status: string }).status),
};

/** Options of {@link QmpServer.listen}. */
export interface QmpListenOptions {
  /**
   * Serve over TLS (a TCP monitor's `tls-creds`/`tls-authz`): called for each connection, so the
   * objects are looked up at time of use. A client refused in the handshake gets no greeting.
   */
  readonly tls?: () => TlsServerSetup;
  /** Told why a connection was refused (TLS), for the process's log. */
  readonly onRefused?: (reason: string) => void;
  /**
   * Serve this monitor from a dedicated I/O thread (QEMU's monitor iothread): the thread owns the
   * sockets and frames requests, the commands still run here, in order; `query-migrate` is
   * answered by the thread itself from a snapshot this thread refreshes, so a busy event loop (a
   * migration) does not delay it. Not with `tls`.
   */
  readonly ioThread?: boolean;
}

/** How long a monitor client may take to complete the TLS handshake (ms). */
export const MONITOR_TLS_HANDSHAKE_MS = 10_000;

/** A bound monitor. */
export interface QmpListener {
  /** The address actually bound (the real port when 0 was asked). */
  readonly endpoint: SocketEndpoint;
}

/** The server. */
export interface QmpServer {
  /** Listen on an endpoint (several allowed); TCP binds where asked (loopback by default). */
  listen(endpoint: SocketEndpoint, options?: QmpListenOptions): Promise<QmpListener>;
  /** Serve one already-connected stream (a socket, a test pipe). */
  attach(stream: Duplex): void;
  /** Send an event to every negotiated session. */
  emit(event: string, data?: Readonly<Record<string, JsonValue>>): void;
  /** Sessions currently connected. */
  readonly sessionCount: number;
  /** Flush pending responses, close every session and listener. */
  close(): Promise<void>;
}

const capabilitiesSpec = commandSpec({
  name: "qmp_capabilities",
  args: z.object({ enable: z.array(z.enum(["oob"])).optional() }),
  returns: z.object({}),
});

/** `query-commands`' spec (built into every server). */
export const queryCommandsSpec = commandSpec({
  name: "query-commands",
  args: z.object({}),
  returns: z.array(z.object({ name: z.string() })),
});

/** A session's output side (a socket, a test pipe, a monitor I/O thread's connection). */
export interface SessionIo {
  /** False once the peer is gone or our side ended: writes are then dropped. */
  writable(): boolean;
  /** Send one encoded message. */
  write(text: string): void;
  /** End our side (after the last message). */
  end(): void;
  /** Drop the connection at once. */
  destroy(): void;
}

/** A session's input side: frames of the client's requests, its end, its loss. */
export interface SessionInput {
  /** One framed request (or a framing error to answer). */
  frame(f: Frame): void;
  /** The client closed its side: queued requests are answered, then our side ends. */
  eof(): void;
  /** The connection is gone: nothing more is written. */
  gone(): void;
}

/** How long `close()` waits for clients to hang up after their sessions ended (ms). */
export const CLOSE_GRACE_MS = 1000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Make a server over `options.commands`. */
export function createQmpServer(options: QmpServerOptions): QmpServer {
  const offerOob = options.oob !== false;
  const table = new Map<string, AnyQmpCommand>();
  for (const c of options.commands) {
    if (table.has(c.name) || c.name === "qmp_capabilities" || c.name === "query-commands") {
      throw new Error(`qmp: command "${c.name}" defined twice`);
    }
    table.set(c.name, c);
  }
  const listCommands = defineCommand(queryCommandsSpec, () =>
    ["qmp_capabilities", ...table.keys()].map((name) => ({ name })),
  );
  table.set(listCommands.name, listCommands as AnyQmpCommand);
  const sessions = new Set<Session>();
  const servers: Server[] = [];
  let nextSession = 1;
  let ioHost: IoThreadHost | null = null;
  const ioQueries = options.ioThreadQueries ?? DEFAULT_IO_THREAD_QUERIES;

  /** The current results of the queries an I/O thread may answer (those that run synchronously). */
  const snapshot = (): Record<string, JsonValue> => {
    const values: Record<string, JsonValue> = {};
    for (const [name, usable] of Object.entries(ioQueries)) {
      const command = table.get(name);
      if (command === undefined) continue;
      try {
        const args = checkArguments(command.args, {});
        // Session 0: no client's (theirs are numbered from 1).
        const r = (command.run as (a: unknown, c: { session: number }) => unknown)(args, {
          session: 0,
        });
        if (r instanceof Promise) {
          r.catch(() => {});
          continue;
        }
        const value = r === undefined ? {} : r;
        if (usable(value)) values[name] = value as JsonValue;
      } catch {
        // An error is the main thread's to answer.
      }
    }
    return values;
  };

  interface Session {
    readonly id: number;
    readonly io: SessionIo;
    negotiated: boolean;
    oob: boolean;
    closed: boolean;
    queue: Promise<void>;
    write(message: object): void;
    end(): void;
  }

  const greeting = (): QmpGreeting => ({
    QMP: {
      version: { qemu: { ...QMP_VERSION }, package: QMP_PACKAGE },
      capabilities: offerOob ? ["oob"] : [],
    },
  });

  /** Run one parsed request; resolves with the response to write. */
  const dispatch = async (session: Session, request: unknown): Promise<object> => {
    if (!isObject(request)) throw new QmpError("QMP input must be a JSON object");
    let name: string | null = null;
    let oob = false;
    let execKey: string | null = null;
    for (const [key, value] of Object.entries(request)) {
      if (key === "execute" || (key === "exec-oob" && session.oob)) {
        if (typeof value !== "string")
          throw new QmpError(`QMP input member '${key}' must be a string`);
        if (execKey !== null) {
          throw new QmpError(`QMP input member '${key}' clashes with '${execKey}'`);
        }
        execKey = key;
        name = value;
        oob = key === "exec-oob";
      } else if (key === "arguments") {
        if (!isObject(value)) throw new QmpError("QMP input member 'arguments' must be an object");
      } else if (key !== "id") {
        throw new QmpError(`QMP input member '${key}' is unexpected`);
      }
    }
    if (name === null) throw new QmpError("QMP input lacks member 'execute'");
    const args = (request.arguments ?? {}) as Record<string, unknown>;
    if (!session.negotiated) {
      if (name !== "qmp_capabilities") {
        throw new QmpError(
          "Expecting capabilities negotiation with 'qmp_capabilities'",
          "CommandNotFound",
        );
      }
      const a = checkArguments(capabilitiesSpec.args, args);
      const enable = a.enable ?? [];
      for (const cap of enable) {
        if (cap === "oob" && !offerOob) throw new QmpError(`Capability '${cap}' not available`);
      }
      session.oob = enable.includes("oob");
      session.negotiated = true;
      return { return: {} };
    }
    if (name === "qmp_capabilities") {
      throw new QmpError(
        "Capabilities negotiation is already complete, command ignored",
        "CommandNotFound",
      );
    }
    const command = table.get(name);
    if (command === undefined) {
      throw new QmpError(`The command ${name} has not been found`, "CommandNotFound");
    }
    if (oob && command.allowOob !== true) {
      throw new QmpError(`The command ${name} does not support OOB`);
    }
    const parsed = checkArguments(command.args, args);
    const result = await (command.run as (a: unknown, c: { session: number }) => unknown)(parsed, {
      session: session.id,
    });
    return { return: result === undefined ? {} : result };
  };

  /** Answer in arrival order: every response (errors included) waits for the ones before it. */
  const inOrder = (session: Session, job: () => Promise<void> | void): void => {
    session.queue = session.queue.then(job);
  };

  const handle = (session: Session, text: string): void => {
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch (e) {
      const desc = `JSON parse error, ${(e as Error).message}`;
      inOrder(session, () => session.write({ error: { class: "GenericError", desc } }));
      return;
    }
    const id = isObject(request) && "id" in request ? request.id : undefined;
    const withId = (r: object): object => (id === undefined ? r : { ...r, id });
    const run = async (): Promise<void> => {
      let response: object;
      try {
        response = await dispatch(session, request);
      } catch (e) {
        const err = e instanceof QmpError ? e : null;
        if (err === null) {
          const name = isObject(request) ? String(request.execute ?? request["exec-oob"]) : "?";
          options.onInternalError?.(e as Error, name);
        }
        response = {
          error: {
            class: err?.errorClass ?? "GenericError",
            desc: err?.message ?? `internal error: ${(e as Error).message}`,
          },
        };
      }
      session.write(withId(response));
    };
    // An out-of-band request overtakes the queue (QEMU runs it at once in its I/O thread).
    const isOob = session.oob && isObject(request) && "exec-oob" in request;
    if (isOob) void run();
    else inOrder(session, run);
  };

  /** Start a session over `io`: greeting now, then frames in, responses and events out. */
  const openSession = (io: SessionIo): SessionInput => {
    const session: Session = {
      io,
      id: nextSession++,
      negotiated: false,
      oob: false,
      closed: false,
      queue: Promise.resolve(),
      write(message) {
        if (this.closed || !io.writable()) return;
        io.write(encodeMessage(message));
      },
      end() {
        if (this.closed) return;
        this.closed = true;
        sessions.delete(this);
        io.end();
      },
    };
    sessions.add(session);
    session.write(greeting());
    return {
      frame(f) {
        if (f.kind === "error") {
          const desc = f.message;
          inOrder(session, () => session.write({ error: { class: "GenericError", desc } }));
        } else handle(session, f.text);
      },
      eof() {
        // The client closed its side: answer what is queued, then close ours.
        void session.queue.then(() => session.end());
      },
      gone() {
        session.closed = true;
        sessions.delete(session);
      },
    };
  };

  const attach = (stream: Duplex): void => {
    const splitter = createJsonSplitter({ maxBytes: options.maxRequestBytes ?? 1 << 20 });
    const input = openSession({
      writable: () => !(stream.destroyed || stream.writableEnded),
      write: (text) => {
        stream.write(text);
      },
      end: () => {
        stream.end();
      },
      destroy: () => {
        stream.destroy();
      },
    });
    stream.on("data", (chunk: Buffer) => {
      for (const f of splitter.push(chunk)) input.frame(f);
    });
    stream.on("error", () => input.gone());
    stream.on("close", () => input.gone());
    stream.on("end", () => input.eof());
  };

  return {
    get sessionCount() {
      return sessions.size;
    },
    attach,
    listen(endpoint, listenOptions = {}) {
      const { tls, onRefused } = listenOptions;
      if (listenOptions.ioThread === true) {
        if (tls !== undefined) {
          return Promise.reject(
            new Error(`qmp: ${formatEndpoint(endpoint)}: a TLS monitor has no I/O thread`),
          );
        }
        ioHost ??= createIoThreadHost({
          openSession,
          snapshot,
          maxRequestBytes: options.maxRequestBytes ?? 1 << 20,
          onError: (e) => options.onInternalError?.(e, "(monitor I/O thread)"),
        });
        return ioHost.listen(endpoint);
      }
      const accept = (s: Socket): void => {
        if (tls === undefined) {
          attach(s);
          return;
        }
        let setup: TlsServerSetup;
        try {
          setup = tls();
        } catch (e) {
          onRefused?.((e as Error).message);
          s.destroy();
          return;
        }
        tlsServer(s, setup, MONITOR_TLS_HANDSHAKE_MS).then(attach, (e: Error) => {
          onRefused?.(e.message);
          if (e instanceof TlsRefusedError) e.socket?.destroy();
          s.destroy();
        });
      };
      const server = createServer(accept);
      return bindEndpoint(server, endpoint).then((bound) => {
        servers.push(server);
        return { endpoint: bound };
      });
    },
    emit(event, data) {
      const timestamp = timestampNow();
      const message = data === undefined ? { timestamp, event } : { timestamp, event, data };
      for (const s of sessions) if (s.negotiated) s.write(message);
    },
    async close() {
      const open = [...sessions];
      await Promise.all(open.map((s) => s.queue.then(() => s.end())));
      // A client that does not close its side within the grace period is disconnected.
      const grace = setTimeout(() => {
        for (const s of open) s.io.destroy();
      }, CLOSE_GRACE_MS);
      await Promise.all(
        servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))),
      );
      clearTimeout(grace);
      for (const s of open) s.io.destroy();
      servers.length = 0;
      if (ioHost !== null) await ioHost.close();
      ioHost = null;
    },
  };
}
