/**
 * The monitor I/O thread (QEMU's monitor iothread): owns a QMP server's listening sockets and
 * connections, frames each client's requests and hands them to the main thread, writes back what
 * the main thread answers. It answers `query-migrate` itself from the latest snapshot the main
 * thread sent, when that is exact for the client — negotiated, nothing earlier of its own still
 * unanswered, the request plain (`execute`, optional `id`, no or empty `arguments`) — so a busy
 * main thread (a migration holding the event loop) does not delay it. Anything else, including
 * every malformed request, goes to the main thread unchanged.
 */
import { createServer, type Server, type Socket } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import type { SocketEndpoint } from "../address";
import { createJsonSplitter, type JsonSplitter } from "../framing";
import { bindEndpoint } from "../listen";
import { encodeMessage, type JsonValue } from "../protocol";
import type { FromIoThread, IoThreadInit, ToIoThread } from "./messages";

const port = parentPort;
if (port === null) throw new Error("qmp io-thread: not started as a worker thread");
const init = workerData as IoThreadInit;

interface Conn {
  readonly socket: Socket;
  readonly splitter: JsonSplitter;
  /** `qmp_capabilities` succeeded (seen in the main thread's answer). */
  negotiated: boolean;
  /** Before negotiation: the command names of the requests sent on, oldest first. */
  readonly names: string[];
  /** Requests sent to the main thread and not answered yet. */
  outstanding: number;
  /** False once the bookkeeping disagreed with the answers: every request goes on. */
  fastOk: boolean;
}

const conns = new Map<number, Conn>();
const servers: Server[] = [];
let nextConn = 1;
let snapshot: Readonly<Record<string, JsonValue>> | null = null;
let snapshotAt = 0;
let refreshAsked = false;

const post = (m: FromIoThread): void => port.postMessage(m);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The command a request names (for the negotiation bookkeeping), or "" when it names none. */
function nameOf(text: string): string {
  try {
    const r: unknown = JSON.parse(text);
    return isObject(r) && typeof r.execute === "string" ? r.execute : "";
  } catch {
    return "";
  }
}

/** Answer `text` from the snapshot when that is exactly what the main thread would answer. */
function answerFromSnapshot(conn: Conn, text: string): boolean {
  if (!conn.fastOk || !conn.negotiated || conn.outstanding !== 0 || snapshot === null) {
    return false;
  }
  if (performance.now() - snapshotAt > init.maxSnapshotAgeMs) return false;
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return false;
  }
  if (!isObject(r) || typeof r.execute !== "string") return false;
  for (const key of Object.keys(r)) {
    if (key !== "execute" && key !== "id" && key !== "arguments") return false;
  }
  if ("arguments" in r && !(isObject(r.arguments) && Object.keys(r.arguments).length === 0)) {
    return false;
  }
  const value = snapshot[r.execute];
  if (value === undefined) return false;
  const response = "id" in r ? { return: value, id: r.id } : { return: value };
  conn.socket.write(encodeMessage(response));
  if (!refreshAsked) {
    refreshAsked = true;
    post({ t: "refresh" });
  }
  return true;
}

function accept(socket: Socket): void {
  const id = nextConn++;
  const conn: Conn = {
    socket,
    splitter: createJsonSplitter({ maxBytes: init.maxRequestBytes }),
    negotiated: false,
    names: [],
    outstanding: 0,
    fastOk: true,
  };
  conns.set(id, conn);
  post({ t: "open", conn: id });
  socket.on("data", (chunk: Buffer) => {
    for (const frame of conn.splitter.push(chunk)) {
      if (frame.kind === "value" && answerFromSnapshot(conn, frame.text)) continue;
      conn.outstanding++;
      if (!conn.negotiated) conn.names.push(frame.kind === "value" ? nameOf(frame.text) : "");
      post({ t: "frame", conn: id, frame });
    }
  });
  socket.on("end", () => post({ t: "eof", conn: id }));
  const gone = (): void => {
    if (!conns.delete(id)) return;
    post({ t: "gone", conn: id });
  };
  socket.on("error", gone);
  socket.on("close", gone);
}

/** Bookkeeping of what the main thread wrote: answers close requests; negotiation. */
function written(conn: Conn, text: string): void {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    conn.fastOk = false;
    return;
  }
  if (!isObject(m) || !("return" in m || "error" in m)) return;
  if (conn.outstanding === 0) {
    conn.fastOk = false;
    return;
  }
  conn.outstanding--;
  if (!conn.negotiated) {
    const name = conn.names.shift();
    if (name === "qmp_capabilities" && "return" in m) {
      conn.negotiated = true;
      conn.names.length = 0;
    }
  }
}

function listen(key: number, endpoint: SocketEndpoint): void {
  // Half-open: a client that sends its requests and closes its side (socat) still gets the
  // answers, which come from the main thread later; the main thread ends our side after them.
  const server = createServer({ allowHalfOpen: true }, accept);
  bindEndpoint(server, endpoint).then(
    (bound) => {
      servers.push(server);
      post({ t: "listening", key, endpoint: bound });
    },
    (e: Error) => post({ t: "listen-failed", key, message: e.message }),
  );
}

port.on("message", (m: ToIoThread) => {
  switch (m.t) {
    case "listen":
      listen(m.key, m.endpoint);
      break;
    case "write": {
      const conn = conns.get(m.conn);
      if (conn === undefined || conn.socket.destroyed || conn.socket.writableEnded) break;
      conn.socket.write(m.text);
      written(conn, m.text);
      break;
    }
    case "end":
      conns.get(m.conn)?.socket.end();
      break;
    case "destroy":
      conns.get(m.conn)?.socket.destroy();
      break;
    case "snapshot":
      snapshot = m.values;
      snapshotAt = performance.now();
      refreshAsked = false;
      break;
    case "close":
      // The main thread has answered and ended every session: drop what is left, stop listening.
      for (const c of conns.values()) c.socket.destroy();
      void Promise.all(
        servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      ).then(() => {
        post({ t: "closed" });
        port.close();
      });
      break;
  }
});
