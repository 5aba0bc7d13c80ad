/**
 * The migration parameters of the socket transports (not of the stream), added to the monitor's
 * registry as the `net` parameter set: QEMU's `tls-creds`, `tls-hostname`, `tls-authz` (ids of
 * objects created with `--object` or `object-add`; "" = off), and ferry's `x-peer-timeout` (QEMU
 * has no migration timeout and relies on TCP keep-alive; ferry fails a migration whose peer sends
 * nothing and accepts nothing for that long, on either side).
 */
import type { FerryPlugin } from "@ferry/migration";
import { z } from "zod";

/** Default of `x-peer-timeout` (ms): the switchover acknowledgement's timeout too. */
export const DEFAULT_PEER_TIMEOUT_MS = 30_000;

/** The parameters (QEMU names; `x-` for ferry's own). */
export const netParameters = z.object({
  /** Id of a `tls-creds-x509` object: the migration runs over TLS ("" = plain TCP/unix). */
  "tls-creds": z.string().default(""),
  /** The name the destination's certificate must carry ("" = the host of the migration URI). */
  "tls-hostname": z.string().default(""),
  /** Id of an `authz-list`/`authz-simple` object: the x509 DNs a destination accepts ("" = any). */
  "tls-authz": z.string().default(""),
  /**
   * ms a peer may stay silent (no byte received, none of ours accepted) before the migration
   * fails: the source facing a frozen destination, the destination on an idle or half-sent
   * connection, and every TLS handshake.
   */
  "x-peer-timeout": z.number().int().min(100).max(86_400_000).default(DEFAULT_PEER_TIMEOUT_MS),
});

/** The resolved values. */
export type NetParameters = z.infer<typeof netParameters>;

/**
 * The parameter set as a plugin for the migration manager. It registers no migration parts: its
 * parameters configure the monitor's socket transports, which read them at connection time.
 */
export function netParametersPlugin(): FerryPlugin {
  return { name: "net", capabilities: [], parameters: netParameters, register: () => {} };
}

/** Read the net parameters out of a registry's values (defaults for absent ones). */
export function netParametersOf(values: Readonly<Record<string, unknown>>): NetParameters {
  return netParameters.parse({
    "tls-creds": values["tls-creds"],
    "tls-hostname": values["tls-hostname"],
    "tls-authz": values["tls-authz"],
    "x-peer-timeout": values["x-peer-timeout"],
  });
}
