/** Parse `ferry run --realtime`'s `--qmp` and `--incoming` values. */
import {
  type AddressError,
  createObjectStore,
  type MigrationAddress,
  type MonitorOption,
  type ObjectStore,
  parseMigrationUri,
  parseMonitorOption,
  type QmpError,
} from "@ferry/qmp";
import { UsageError } from "../command";
import { parseDuration } from "../config";

/**
 * `--qmp unix:<path>|tcp:<host>:<port>[,tls-creds=ID][,tls-authz=ID]` (each repeat opens another
 * monitor); the TLS ids must name objects of `objects` (checked now: a typo is exit 2).
 */
export function parseQmpOptions(
  values: readonly string[],
  objects: ObjectStore,
  usage: string,
): MonitorOption[] {
  return values.map((v) => {
    let m: MonitorOption;
    try {
      m = parseMonitorOption(v, "--qmp");
    } catch (e) {
      throw new UsageError((e as AddressError).message, usage);
    }
    try {
      if (m.tlsCreds !== undefined) objects.tlsCreds(m.tlsCreds, "server");
      if (m.tlsAuthz !== undefined) objects.authz(m.tlsAuthz);
    } catch (e) {
      throw new UsageError(`--qmp "${v}": ${(e as QmpError).message}`, usage);
    }
    return m;
  });
}

/** `--object type,id=…,…` (QEMU's -object): created in order, in one store. */
export function parseObjectOptions(values: readonly string[], usage: string): ObjectStore {
  const store = createObjectStore();
  for (const v of values) {
    try {
      store.addText(v);
    } catch (e) {
      const shown = v.length > 60 ? `${v.slice(0, 60)}…` : v;
      throw new UsageError(`--object "${shown}": ${(e as QmpError).message}`, usage);
    }
  }
  return store;
}

/** `--incoming tcp:<host>:<port>|unix:<path>|defer` (also `file:<path>`). */
export function parseIncomingOption(value: string, usage: string): "defer" | MigrationAddress {
  if (value === "defer") return "defer";
  try {
    return parseMigrationUri(value);
  } catch (e) {
    throw new UsageError(`--incoming "${value}": ${(e as QmpError).message}`, usage);
  }
}

/** `--peer-timeout <duration>` → ms, within `x-peer-timeout`'s range (100 ms … 24 h). */
export function parsePeerTimeout(value: string, usage: string): number {
  let ms: number;
  try {
    ms = Math.round(parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value) / 1e6);
  } catch (e) {
    throw new UsageError(`--peer-timeout "${value.slice(0, 40)}": ${(e as Error).message}`, usage);
  }
  if (ms < 100 || ms > 86_400_000) {
    throw new UsageError(
      `--peer-timeout "${value}": expected a duration from 100ms to 24h, found ${ms} ms`,
      usage,
    );
  }
  return ms;
}
