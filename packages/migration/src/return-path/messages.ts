/**
 * The return path's message set: what a destination sends back to the source on the main
 * channel. QEMU's framing (`migrate_send_rp_message`): a big-endian u16 type, a big-endian u16
 * payload length, the payload. Types 1–7 keep QEMU's numbers and names (`MIG_RP_MSG_*`); ferry's
 * own messages use 0x100 and up. See docs/stream-format.md ("Return path").
 */
import { MigrationError } from "../errors";

/** Message type numbers on the wire. */
export const RpMessageType = {
  /** `MIG_RP_MSG_SHUT`: the destination sends no more messages; payload be32 status (0 = ok). */
  SHUT: 1,
  /** `MIG_RP_MSG_PONG`: answer to a ping; payload be32 value. */
  PONG: 2,
  /** `MIG_RP_MSG_REQ_PAGES_ID`: page request naming the block; be64 start, be32 len, u8 idlen, id. */
  REQ_PAGES_ID: 3,
  /** `MIG_RP_MSG_REQ_PAGES`: page request in the last named block; be64 start, be32 len. */
  REQ_PAGES: 4,
  /**
   * `MIG_RP_MSG_RECV_BITMAP` (post-copy recovery): the destination's missing pages of a block.
   * ferry's payload: u8 idlen, idstr, be64 first page, be32 page count, then the bitmap of those
   * pages (bit set = missing; LSB first in each byte), at most 60000 bytes per message.
   */
  RECV_BITMAP: 5,
  /** `MIG_RP_MSG_RESUME_ACK` (post-copy recovery): be32 value (QEMU's 1). */
  RESUME_ACK: 6,
  /**
   * `MIG_RP_MSG_SWITCHOVER_ACK`: the destination accepts the switchover. QEMU's payload is empty;
   * ferry's carries what the destination loaded: be64 stream bytes, then the digest: be32 CRC-32
   * (12 bytes in all) or, on a stream of version 2 or later, be64 a ‖ be64 b of Fletcher-64 (24 bytes).
   */
  SWITCHOVER_ACK: 7,
  /** ferry: the destination failed; payload UTF-8 text (followed by SHUT with a non-zero status). */
  ERROR: 0x100,
  /**
   * ferry: the destination's post-copy statistics, sent when the last page landed: be64
   * blocktime ns (all vCPUs blocked at once), be32 faults, be64 latency mean, p99, max (ns), be16
   * vCPUs, be64 blocktime ns per vCPU.
   */
  POSTCOPY_STATS: 0x101,
  /**
   * ferry: the destination's stream integrity mode, sent once when it starts receiving; payload
   * u8 0 = off (it does not read integrity framing), 1 = accept, 2 = require.
   */
  INTEGRITY: 0x102,
} as const;

/** Integrity modes in the `INTEGRITY` message's payload byte, by value. */
const INTEGRITY_MODES = ["off", "accept", "require"] as const;

/** A return-path message. */
export type RpMessage =
  | { readonly type: "shut"; readonly status: number }
  | { readonly type: "pong"; readonly value: number }
  | {
      readonly type: "req-pages";
      /** Block idstr (`REQ_PAGES_ID`), or null for "the block of the previous request". */
      readonly block: string | null;
      readonly start: number;
      readonly length: number;
    }
  | {
      readonly type: "switchover-ack";
      readonly bytes: number;
      /** Lowercase hex: 8 digits (CRC-32) or 32 (Fletcher-64); see `return-path/tally.ts`. */
      readonly digest: string;
    }
  | { readonly type: "error"; readonly message: string }
  | {
      readonly type: "recv-bitmap";
      readonly block: string;
      readonly firstPage: number;
      readonly pageCount: number;
      /** `ceil(pageCount / 8)` bytes, bit set = the destination misses that page. */
      readonly bitmap: Uint8Array;
    }
  | { readonly type: "resume-ack"; readonly value: number }
  | {
      readonly type: "postcopy-stats";
      readonly blocktimeNs: number;
      readonly faults: number;
      readonly latencyMeanNs: number;
      readonly latencyP99Ns: number;
      readonly latencyMaxNs: number;
      readonly vcpuBlocktimeNs: readonly number[];
    }
  | { readonly type: "integrity"; readonly mode: "off" | "accept" | "require" };

/** Largest payload the u16 length field can describe. */
export const RP_MAX_PAYLOAD = 0xffff;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

function u64(view: DataView, off: number, value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MigrationError(
      `return path: ${what} must be a non-negative safe integer, got ${value}`,
    );
  }
  view.setUint32(off, Math.floor(value / 0x100000000));
  view.setUint32(off + 4, value >>> 0);
}

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new MigrationError(`return path: ${what} must be a u32, got ${value}`);
  }
  return value;
}

/** Encode one message with its 4-byte header. */
export function encodeRpMessage(msg: RpMessage): Uint8Array {
  let type: number;
  let payload: Uint8Array;
  switch (msg.type) {
    case "shut":
    case "pong": {
      type = msg.type === "shut" ? RpMessageType.SHUT : RpMessageType.PONG;
      payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(
        0,
        u32(msg.type === "shut" ? msg.status : msg.value, msg.type),
      );
      break;
    }
    case "req-pages": {
      const id = msg.block === null ? null : utf8.encode(msg.block);
      if (id !== null && (id.length === 0 || id.length > 255)) {
        throw new MigrationError(`return path: block idstr must be 1–255 bytes, got ${id.length}`);
      }
      type = id === null ? RpMessageType.REQ_PAGES : RpMessageType.REQ_PAGES_ID;
      payload = new Uint8Array(12 + (id === null ? 0 : 1 + id.length));
      const v = new DataView(payload.buffer);
      u64(v, 0, msg.start, "req-pages start");
      v.setUint32(8, u32(msg.length, "req-pages length"));
      if (id !== null) {
        payload[12] = id.length;
        payload.set(id, 13);
      }
      break;
    }
    case "switchover-ack": {
      type = RpMessageType.SWITCHOVER_ACK;
      if (!/^(?:[0-9a-f]{8}|[0-9a-f]{32})$/.test(msg.digest)) {
        throw new MigrationError(
          `return path: switchover-ack digest must be 8 or 32 lowercase hex digits, got "${msg.digest}"`,
        );
      }
      payload = new Uint8Array(8 + msg.digest.length / 2);
      const v = new DataView(payload.buffer);
      u64(v, 0, msg.bytes, "switchover-ack bytes");
      for (let i = 0; i < msg.digest.length; i += 2) {
        payload[8 + i / 2] = Number.parseInt(msg.digest.slice(i, i + 2), 16);
      }
      break;
    }
    case "recv-bitmap": {
      type = RpMessageType.RECV_BITMAP;
      const id = utf8.encode(msg.block);
      if (id.length === 0 || id.length > 255) {
        throw new MigrationError(`return path: block idstr must be 1–255 bytes, got ${id.length}`);
      }
      const n = Math.ceil(msg.pageCount / 8);
      if (msg.bitmap.length !== n || n > 60000) {
        throw new MigrationError(
          `return path: RECV_BITMAP of ${msg.pageCount} pages needs ${n} bytes (at most 60000), got ${msg.bitmap.length}`,
        );
      }
      payload = new Uint8Array(1 + id.length + 12 + n);
      payload[0] = id.length;
      payload.set(id, 1);
      const v = new DataView(payload.buffer);
      u64(v, 1 + id.length, msg.firstPage, "recv-bitmap first page");
      v.setUint32(9 + id.length, u32(msg.pageCount, "recv-bitmap page count"));
      payload.set(msg.bitmap, 13 + id.length);
      break;
    }
    case "resume-ack": {
      type = RpMessageType.RESUME_ACK;
      payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, u32(msg.value, "resume-ack"));
      break;
    }
    case "postcopy-stats": {
      type = RpMessageType.POSTCOPY_STATS;
      const n = msg.vcpuBlocktimeNs.length;
      if (n > 4096)
        throw new MigrationError(`return path: ${n} vCPUs in POSTCOPY_STATS (at most 4096)`);
      payload = new Uint8Array(8 + 4 + 24 + 2 + 8 * n);
      const v = new DataView(payload.buffer);
      u64(v, 0, Math.round(msg.blocktimeNs), "blocktime");
      v.setUint32(8, u32(msg.faults, "faults"));
      u64(v, 12, Math.round(msg.latencyMeanNs), "latency mean");
      u64(v, 20, Math.round(msg.latencyP99Ns), "latency p99");
      u64(v, 28, Math.round(msg.latencyMaxNs), "latency max");
      v.setUint16(36, n);
      for (let i = 0; i < n; i++)
        u64(v, 38 + 8 * i, Math.round(msg.vcpuBlocktimeNs[i]), "vcpu blocktime");
      break;
    }
    case "integrity": {
      type = RpMessageType.INTEGRITY;
      const value = INTEGRITY_MODES.indexOf(msg.mode);
      if (value < 0) throw new MigrationError(`return path: unknown integrity mode ${msg.mode}`);
      payload = Uint8Array.of(value);
      break;
    }
    case "error": {
      type = RpMessageType.ERROR;
      const text = utf8.encode(msg.message);
      // Cut an over-long text at a character boundary (never inside a UTF-8 sequence).
      let end = Math.min(text.length, RP_MAX_PAYLOAD);
      if (end < text.length) while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
      payload = text.subarray(0, end);
      break;
    }
  }
  const out = new Uint8Array(4 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, type);
  v.setUint16(2, payload.length);
  out.set(payload, 4);
  return out;
}

/** Bytes as lowercase hex. */
function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, "0");
  return out;
}

function expectLength(type: string, got: number, want: number, at: number): void {
  if (got !== want) {
    throw new MigrationError(
      `return path: ${type} message at byte ${at} has a ${got}-byte payload, expected ${want}`,
    );
  }
}

function decodeOne(type: number, p: Uint8Array, at: number): RpMessage {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  switch (type) {
    case RpMessageType.SHUT:
      expectLength("SHUT", p.length, 4, at);
      return { type: "shut", status: v.getUint32(0) };
    case RpMessageType.PONG:
      expectLength("PONG", p.length, 4, at);
      return { type: "pong", value: v.getUint32(0) };
    case RpMessageType.REQ_PAGES:
    case RpMessageType.REQ_PAGES_ID: {
      const named = type === RpMessageType.REQ_PAGES_ID;
      if (p.length < 12 || (named && (p.length < 14 || p.length !== 13 + p[12]!))) {
        throw new MigrationError(
          `return path: ${named ? "REQ_PAGES_ID" : "REQ_PAGES"} message at byte ${at} has a malformed ${p.length}-byte payload`,
        );
      }
      if (!named) expectLength("REQ_PAGES", p.length, 12, at);
      const start = v.getUint32(0) * 0x100000000 + v.getUint32(4);
      const block = named ? utf8d.decode(p.subarray(13)) : null;
      return { type: "req-pages", block, start, length: v.getUint32(8) };
    }
    case RpMessageType.SWITCHOVER_ACK:
      if (p.length !== 12 && p.length !== 24) {
        throw new MigrationError(
          `return path: SWITCHOVER_ACK message at byte ${at} has a ${p.length}-byte payload, expected 12 (CRC-32) or 24 (Fletcher-64)`,
        );
      }
      return {
        type: "switchover-ack",
        bytes: v.getUint32(0) * 0x100000000 + v.getUint32(4),
        digest: hexOf(p.subarray(8)),
      };
    case RpMessageType.ERROR:
      return { type: "error", message: utf8d.decode(p) };
    case RpMessageType.RECV_BITMAP: {
      const idlen = p.length > 0 ? p[0]! : 0;
      const ok = idlen > 0 && p.length >= 13 + idlen;
      const count = ok ? v.getUint32(9 + idlen) : 0;
      if (!ok || p.length !== 13 + idlen + Math.ceil(count / 8)) {
        throw new MigrationError(
          `return path: RECV_BITMAP message at byte ${at} has a malformed ${p.length}-byte payload`,
        );
      }
      return {
        type: "recv-bitmap",
        block: utf8d.decode(p.subarray(1, 1 + idlen)),
        firstPage: v.getUint32(1 + idlen) * 0x100000000 + v.getUint32(5 + idlen),
        pageCount: count,
        bitmap: p.slice(13 + idlen),
      };
    }
    case RpMessageType.RESUME_ACK:
      expectLength("RESUME_ACK", p.length, 4, at);
      return { type: "resume-ack", value: v.getUint32(0) };
    case RpMessageType.POSTCOPY_STATS: {
      const n = p.length >= 38 ? v.getUint16(36) : -1;
      if (n < 0 || p.length !== 38 + 8 * n) {
        throw new MigrationError(
          `return path: POSTCOPY_STATS message at byte ${at} has a malformed ${p.length}-byte payload`,
        );
      }
      const b64 = (o: number): number => v.getUint32(o) * 0x100000000 + v.getUint32(o + 4);
      const per: number[] = [];
      for (let i = 0; i < n; i++) per.push(b64(38 + 8 * i));
      return {
        type: "postcopy-stats",
        blocktimeNs: b64(0),
        faults: v.getUint32(8),
        latencyMeanNs: b64(12),
        latencyP99Ns: b64(20),
        latencyMaxNs: b64(28),
        vcpuBlocktimeNs: per,
      };
    }
    case RpMessageType.INTEGRITY: {
      expectLength("INTEGRITY", p.length, 1, at);
      const mode = INTEGRITY_MODES[p[0]!];
      if (mode === undefined) {
        throw new MigrationError(
          `return path: INTEGRITY message at byte ${at} has mode ${p[0]}, expected 0, 1 or 2`,
        );
      }
      return { type: "integrity", mode };
    }
    default:
      throw new MigrationError(`return path: unknown message type ${type} at byte ${at}`);
  }
}

/**
 * An incremental decoder: feed bytes as they arrive (any chunking); each complete message is
 * passed to `onMessage`. Throws a {@link MigrationError} naming the byte offset on a bad message.
 */
export interface RpDecoder {
  push(chunk: Uint8Array): void;
  /** Bytes consumed so far. */
  readonly position: number;
  /** True when no partial message is buffered. */
  readonly idle: boolean;
}

/** Make an {@link RpDecoder}. */
export function createRpDecoder(onMessage: (msg: RpMessage) => void): RpDecoder {
  let buf = new Uint8Array(0);
  let position = 0;
  return {
    push(chunk) {
      if (chunk.length === 0) return;
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      let off = 0;
      while (joined.length - off >= 4) {
        const type = (joined[off]! << 8) | joined[off + 1]!;
        const len = (joined[off + 2]! << 8) | joined[off + 3]!;
        if (joined.length - off < 4 + len) break;
        const msg = decodeOne(type, joined.subarray(off + 4, off + 4 + len), position);
        off += 4 + len;
        position += 4 + len;
        onMessage(msg);
      }
      buf = joined.slice(off);
    },
    get position() {
      return position;
    },
    get idle() {
      return buf.length === 0;
    },
  };
}
