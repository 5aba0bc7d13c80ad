/**
 * The socket channels of a monitor-driven migration: connect (source) or accept (destination),
 * secure with TLS when `tls-creds` is set, arm the peer timeout, and wrap as ferry's socket
 * transports. A peer silent for `x-peer-timeout` ms breaks the channel with an error naming the
 * timeout; a refused TLS peer is told why on the return path before the destination hangs up.
 */
import { createConnection, type Socket } from "node:net";
import {
  encodeRpMessage,
  type IncomingTransport,
  type OutgoingTransport,
  socketSink,
  socketSource,
} from "@ferry/migration";
import type { MigrationAddress } from "./control";
import type { NetParameters } from "./net-parameters";
import { createObjectStore, type ObjectStore } from "./tls/objects";
import { TlsRefusedError, tlsClient, tlsServer } from "./tls/session";

type SocketAddress = Exclude<MigrationAddress, { transport: "file" }>;

/** `host:port` or `unix:path`, as QEMU names a migration socket in its messages. */
export const describeSocket = (a: SocketAddress): string =>
  a.type === "unix" ? `unix:${a.path}` : `${a.host}:${a.port}`;

function armTimeout(socket: Socket, ms: number, what: string): void {
  socket.setTimeout(ms, () => socket.destroy(new Error(`${what} for ${ms} ms (x-peer-timeout)`)));
}

/** Source: connect to `to` and return the sending transport (rejects with a one-line message). */
export async function openOutgoingChannel(
  to: SocketAddress,
  params: NetParameters,
  objects: ObjectStore | undefined,
): Promise<OutgoingTransport> {
  const socket = await connectSecured(to, params, objects);
  return socketSink(
    socket,
    params["tls-creds"] !== "" ? `${describeSocket(to)} (TLS)` : describeSocket(to),
  );
}

/**
 * Source: connect to `to`, secure the connection with TLS when `tls-creds` is set (checking the
 * destination against `tls-hostname`), arm the peer timeout, and return the socket (the main
 * connection and every multifd data channel are made this way). Rejects with a one-line message.
 */
export async function connectSecured(
  to: SocketAddress,
  params: NetParameters,
  objects: ObjectStore | undefined,
): Promise<Socket> {
  const where = describeSocket(to);
  const timeoutMs = params["x-peer-timeout"];
  // Resolve the credentials first: a bad id fails before anything is sent.
  const creds =
    params["tls-creds"] === ""
      ? null
      : requireObjects(objects).tlsCreds(params["tls-creds"], "client");
  const hostname =
    params["tls-hostname"] !== "" ? params["tls-hostname"] : to.type === "inet" ? to.host : "";
  if (creds !== null && hostname === "") throw new Error("No hostname available for TLS");
  const raw = await new Promise<Socket>((resolve, reject) => {
    const socket =
      to.type === "unix"
        ? createConnection({ path: to.path })
        : createConnection({ host: to.host, port: to.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `Failed to connect to '${where}': no answer within ${timeoutMs} ms (x-peer-timeout)`,
        ),
      );
    }, timeoutMs);
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`Failed to connect to '${where}': ${e.message}`));
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
  let socket: Socket = raw;
  if (creds !== null) {
    try {
      socket = await tlsClient(raw, { creds, hostname }, timeoutMs);
    } catch (e) {
      raw.destroy();
      throw new Error(`TLS with '${where}' refused: ${(e as Error).message}`);
    }
  }
  armTimeout(socket, timeoutMs, "no progress from the destination");
  return socket;
}

/**
 * Destination: secure an accepted connection when asked and return the receiving transport.
 * Rejects (after telling a refused TLS peer why) with a one-line message.
 */
export async function acceptIncomingChannel(
  raw: Socket,
  from: SocketAddress,
  params: NetParameters,
  objects: ObjectStore | undefined,
): Promise<IncomingTransport> {
  return incomingMain(await secureAccepted(raw, from, params, objects), from, params);
}

/**
 * Destination: the main stream's receiving transport over an accepted (and, with `tls-creds`,
 * already secured) connection, with the peer timeout armed.
 */
export function incomingMain(
  socket: Socket,
  from: SocketAddress,
  params: NetParameters,
): IncomingTransport {
  armTimeout(socket, params["x-peer-timeout"], "no data from the source");
  const where = describeSocket(from);
  return socketSource(socket, params["tls-creds"] !== "" ? `${where} (TLS)` : where);
}

/**
 * Destination: secure an accepted connection with TLS when `tls-creds` is set (checking the
 * source's certificate and `tls-authz`), else return it as is. A refused peer is told why on the
 * return path and closed; rejects with a one-line message. Every connection of a migration, the
 * main one and each multifd data channel, passes here before its first byte is read.
 */
export async function secureAccepted(
  raw: Socket,
  from: SocketAddress,
  params: NetParameters,
  objects: ObjectStore | undefined,
): Promise<Socket> {
  const where = describeSocket(from);
  const timeoutMs = params["x-peer-timeout"];
  let socket: Socket = raw;
  if (params["tls-creds"] !== "") {
    const store = requireObjects(objects);
    let setup: Parameters<typeof tlsServer>[1];
    try {
      setup = {
        creds: store.tlsCreds(params["tls-creds"], "server"),
        ...(params["tls-authz"] !== "" ? { authz: store.authz(params["tls-authz"]) } : {}),
      };
    } catch (e) {
      raw.destroy();
      throw e;
    }
    try {
      socket = await tlsServer(raw, setup, timeoutMs);
    } catch (e) {
      if (e instanceof TlsRefusedError && e.socket !== null) {
        // The source learns why: an error, then the refusal (it keeps its guest).
        const s = e.socket;
        s.write(encodeRpMessage({ type: "error", message: e.message }));
        s.end(encodeRpMessage({ type: "shut", status: 1 }));
        setTimeout(() => s.destroy(), 1000).unref();
      }
      throw new Error(`TLS on ${where}: ${(e as Error).message}`);
    }
  }
  return socket;
}

/** No store = no objects: every id is unknown (QEMU's "No TLS credentials with id …"). */
const requireObjects = (objects: ObjectStore | undefined): ObjectStore =>
  objects ?? createObjectStore();
