/** QMP wire messages (docs/interop/qmp-spec.rst) and their encoding. */

/** `{seconds, microseconds}` since the epoch, as in QMP events. */
export interface QmpTimestamp {
  readonly seconds: number;
  readonly microseconds: number;
}

/** The greeting the server sends on connect. */
export interface QmpGreeting {
  readonly QMP: {
    readonly version: {
      readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
      readonly package: string;
    };
    readonly capabilities: readonly string[];
  };
}

/** A JSON value as it travels on the wire. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** A success response. */
export interface QmpReturn {
  readonly return: JsonValue;
  readonly id?: JsonValue;
}

/** An error response. */
export interface QmpErrorResponse {
  readonly error: { readonly class: string; readonly desc: string };
  readonly id?: JsonValue;
}

/** An asynchronous event. */
export interface QmpEvent {
  readonly event: string;
  readonly data?: { readonly [key: string]: JsonValue };
  readonly timestamp: QmpTimestamp;
}

/** The version ferry reports (its QMP dialect follows QEMU 9.2). */
export const QMP_VERSION = { major: 9, minor: 2, micro: 0 } as const;
/** The `package` string of the greeting and `query-version`. */
export const QMP_PACKAGE = "ferry 0.1.0";

/**
 * A wall-clock timestamp for an event (QEMU's `g_get_real_time()` split into seconds and
 * microseconds), with microsecond resolution from the high-resolution clock.
 */
export function timestampNow(
  nowMs: number = performance.timeOrigin + performance.now(),
): QmpTimestamp {
  const us = Math.floor(nowMs * 1000);
  return { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
}

/**
 * Serialize like QEMU's `qobject_to_json`: one line, `": "` after keys and `", "` between members,
 * non-finite numbers as `null` (JSON has none).
 */
export function toQemuJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(toQemuJson).join(", ")}]`;
  if (typeof value === "object") {
    const members: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) members.push(`${JSON.stringify(k)}: ${toQemuJson(v)}`);
    }
    return `{${members.join(", ")}}`;
  }
  return "null";
}

/** Encode one message as QEMU does: one line of JSON terminated by CRLF. */
export function encodeMessage(message: object): string {
  return `${toQemuJson(message)}\r\n`;
}
