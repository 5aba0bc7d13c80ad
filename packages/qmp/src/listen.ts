/**
 * Bind a `net` server to a monitor endpoint (on the main thread or the monitor I/O thread).
 */
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import type { Server } from "node:net";
import { formatEndpoint, type SocketEndpoint } from "./address";

/**
 * Listen on `endpoint`; resolves with the endpoint bound (a TCP port 0 becomes the real port).
 * Like QEMU, a stale unix socket file left by a previous run is replaced. Rejects with
 * `qmp: cannot listen on <endpoint>: <reason>`; later server errors are ignored (connections
 * report their own).
 */
export function bindEndpoint(server: Server, endpoint: SocketEndpoint): Promise<SocketEndpoint> {
  return new Promise((resolve, reject) => {
    server.once("error", (e) =>
      reject(new Error(`qmp: cannot listen on ${formatEndpoint(endpoint)}: ${e.message}`)),
    );
    const done = (): void => {
      server.removeAllListeners("error");
      server.on("error", () => {});
      const a = server.address();
      resolve(
        endpoint.kind === "tcp" && typeof a === "object" && a !== null
          ? { kind: "tcp", host: endpoint.host, port: a.port }
          : endpoint,
      );
    };
    if (endpoint.kind === "unix") {
      if (existsSync(endpoint.path) && lstatSync(endpoint.path).isSocket()) {
        unlinkSync(endpoint.path);
      }
      server.listen(endpoint.path, done);
    } else server.listen(endpoint.port, endpoint.host, done);
  });
}
