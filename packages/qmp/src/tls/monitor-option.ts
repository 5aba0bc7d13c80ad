/**
 * A monitor address with TLS options, as `--qmp` takes it:
 * `tcp:<host>:<port>[,tls-creds=<id>][,tls-authz=<id>]` (QEMU puts the same properties on a
 * `-chardev socket`), or `unix:<path>` (no TLS: a unix socket is guarded by file permissions).
 */
import { AddressError, parseEndpoint, type SocketEndpoint } from "../address";

/** A monitor to open. */
export interface MonitorOption {
  readonly endpoint: SocketEndpoint;
  /** Id of a `tls-creds-x509` object with `endpoint=server`. */
  readonly tlsCreds?: string;
  /** Id of an authz object listing the allowed client DNs (needs `tlsCreds`). */
  readonly tlsAuthz?: string;
}

/**
 * Parse one `--qmp` value.
 * @throws AddressError naming the value and what was expected
 */
export function parseMonitorOption(text: string, what = "--qmp"): MonitorOption {
  const comma = text.startsWith("tcp:") ? text.indexOf(",") : -1;
  const address = comma < 0 ? text : text.slice(0, comma);
  const endpoint = parseEndpoint(address, what);
  if (comma < 0) return { endpoint };
  const props: Record<string, string> = {};
  for (const part of text.slice(comma + 1).split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (key !== "tls-creds" && key !== "tls-authz") {
      throw new AddressError(
        `${what} "${text}": unknown option "${key}" (expected tls-creds=<id>, tls-authz=<id>)`,
      );
    }
    if (value === "") throw new AddressError(`${what} "${text}": ${key} needs an object id`);
    props[key] = value;
  }
  if (props["tls-authz"] !== undefined && props["tls-creds"] === undefined) {
    throw new AddressError(`${what} "${text}": tls-authz needs tls-creds`);
  }
  return {
    endpoint,
    ...(props["tls-creds"] !== undefined ? { tlsCreds: props["tls-creds"] } : {}),
    ...(props["tls-authz"] !== undefined ? { tlsAuthz: props["tls-authz"] } : {}),
  };
}
