/** Monitor and migration addresses: `unix:<path>`, `tcp:<host>:<port>`. */

/** A socket endpoint. */
export type SocketEndpoint =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/** Loopback: what listeners bind to unless told otherwise. */
export const LOOPBACK = "127.0.0.1";

/** An address that cannot be parsed (message names the address and what was expected). */
export class AddressError extends Error {
  override readonly name = "AddressError";
}

/**
 * Parse `unix:<path>` or `tcp:<host>:<port>` (host may be empty = loopback, or `[v6]`).
 * @throws AddressError
 */
export function parseEndpoint(text: string, what = "address"): SocketEndpoint {
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (path === "") throw new AddressError(`${what} "${text}": expected unix:<path>`);
    return { kind: "unix", path };
  }
  if (text.startsWith("tcp:")) {
    const rest = text.slice(4);
    const colon = rest.lastIndexOf(":");
    if (colon < 0) throw new AddressError(`${what} "${text}": expected tcp:<host>:<port>`);
    let host = rest.slice(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
    const portText = rest.slice(colon + 1);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      throw new AddressError(
        `${what} "${text}": port must be an integer 0..65535, found "${portText}"`,
      );
    }
    return { kind: "tcp", host: host === "" ? LOOPBACK : host, port };
  }
  throw new AddressError(`${what} "${text}": expected unix:<path> or tcp:<host>:<port>`);
}

/** Print an endpoint back in the same syntax. */
export function formatEndpoint(e: SocketEndpoint): string {
  return e.kind === "unix"
    ? `unix:${e.path}`
    : `tcp:${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
}
