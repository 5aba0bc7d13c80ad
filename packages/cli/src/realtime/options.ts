/** Parse `ferry run --realtime`'s `--qmp` and `--incoming` values. */
import {
  type AddressError,
  parseEndpoint,
  parseMigrationUri,
  type QmpError,
  type MigrationAddress,
  type SocketEndpoint,
} from "@ferry/qmp";
import { UsageError } from "../command";

/** `--qmp unix:<path>|tcp:<host>:<port>` (each repeat opens another monitor). */
export function parseQmpOptions(values: readonly string[], usage: string): SocketEndpoint[] {
  return values.map((v) => {
    try {
      return parseEndpoint(v, "--qmp");
    } catch (e) {
      throw new UsageError((e as AddressError).message, usage);
    }
  });
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
