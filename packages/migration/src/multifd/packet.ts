/**
 * The multifd wire format, laid out as QEMU's (migration/multifd.h): every data channel opens with
 * a `MultiFDInit_t` handshake, then carries `MultiFDPacket_t` packets, each followed by its page
 * data. All integers are big-endian. See docs/stream-format.md ("Multifd channels").
 */

import { be32 } from "../stream/be32.js";

/**
 * The target page size multifd packets are made of (4 KiB, `@ferry/core`'s `PAGE_SIZE`). Defined
 * here so that the worker threads load this module without the rest of the framework.
 */
export const MULTIFD_TARGET_PAGE_SIZE = 4096;
const PAGE_SIZE = MULTIFD_TARGET_PAGE_SIZE;

/** QEMU's MULTIFD_MAGIC. */
export const MULTIFD_MAGIC = 0x11223344;
/** QEMU's MULTIFD_VERSION. */
export const MULTIFD_VERSION = 1;
/** Packet flag: a sync point (QEMU's MULTIFD_FLAG_SYNC). */
export const MULTIFD_FLAG_SYNC = 1 << 0;
/** The compression method bits of the flags (QEMU's MULTIFD_FLAG_COMPRESSION_MASK). */
export const MULTIFD_FLAG_COMPRESSION_MASK = 0x1f << 1;
/** QEMU's MULTIFD_FLAG_NOCOMP. */
export const MULTIFD_FLAG_NOCOMP = 0 << 1;
/** QEMU's MULTIFD_FLAG_ZLIB. */
export const MULTIFD_FLAG_ZLIB = 1 << 1;
/** QEMU's MULTIFD_FLAG_ZSTD. */
export const MULTIFD_FLAG_ZSTD = 2 << 1;
/**
 * ferry's flag (bit 31, unused by QEMU): compact synthetic packet — the data is one `be32 version`
 * per page (normal pages, then zero pages) instead of page bytes; in-process compact link only.
 */
export const MULTIFD_FLAG_X_COMPACT = 0x8000_0000;
/** Every flag bit a ferry destination understands. */
export const MULTIFD_KNOWN_FLAGS =
  MULTIFD_FLAG_SYNC | MULTIFD_FLAG_COMPRESSION_MASK | MULTIFD_FLAG_X_COMPACT;
/** QEMU's MULTIFD_PACKET_SIZE: 512 KiB of pages per packet. */
export const MULTIFD_PACKET_SIZE = 512 * 1024;
/** Pages per packet (QEMU's `multifd_ram_page_count()`: 128 target pages of 4 KiB). */
export const MULTIFD_PAGE_COUNT = MULTIFD_PACKET_SIZE / PAGE_SIZE;
/** Size of `MultiFDInit_t`: magic, version, uuid[16], id, unused1[7], unused2[4] (u64). */
export const MULTIFD_INIT_SIZE = 64;
/** Size of `MultiFDPacket_t` without its offsets (the ramblock name is 256 bytes). */
export const MULTIFD_PACKET_HEADER_SIZE = 320;
/** QEMU's packet length: the header plus `pages_alloc` offsets (always all of them). */
export const MULTIFD_PACKET_LEN = MULTIFD_PACKET_HEADER_SIZE + 8 * MULTIFD_PAGE_COUNT;
/** Room for the ramblock name in a packet (NUL-terminated, so at most 255 bytes). */
export const MULTIFD_RAMBLOCK_NAME_LEN = 256;

/** The channel handshake (`MultiFDInit_t`). */
export interface MultifdInit {
  /** 16 bytes identifying the migration (QEMU: the VM's UUID). */
  readonly uuid: Uint8Array;
  /** Channel id, 0-based. */
  readonly id: number;
}

/** A decoded packet header (`MultiFDPacket_t`). */
export interface MultifdPacketHeader {
  readonly flags: number;
  readonly pagesAlloc: number;
  readonly normalPages: number;
  readonly zeroPages: number;
  /** Bytes of page data following the packet (raw, compressed or compact). */
  readonly nextPacketSize: number;
  readonly packetNum: number;
  /** RAM block name; empty on a sync packet without pages. */
  readonly ramblock: string;
  /** Byte offsets inside the block: `normalPages` normal pages, then `zeroPages` zero pages. */
  readonly offsets: readonly number[];
}

const P32 = 4294967296;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function put32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

function put64(b: Uint8Array, p: number, v: number): void {
  put32(b, p, Math.floor(v / P32));
  put32(b, p + 4, v >>> 0);
}

function be64(b: Uint8Array, p: number): number {
  return be32(b, p) * P32 + be32(b, p + 4);
}

/** A malformed handshake or packet (the caller adds where it was found). */
export class MultifdFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultifdFormatError";
  }
}

/** Encode a channel handshake. */
export function encodeMultifdInit(init: MultifdInit): Uint8Array {
  if (init.uuid.length !== 16) {
    throw new MultifdFormatError(`multifd uuid must be 16 bytes, got ${init.uuid.length}`);
  }
  if (!Number.isInteger(init.id) || init.id < 0 || init.id > 255) {
    throw new MultifdFormatError(`multifd channel id must be 0..255, got ${init.id}`);
  }
  const b = new Uint8Array(MULTIFD_INIT_SIZE);
  put32(b, 0, MULTIFD_MAGIC);
  put32(b, 4, MULTIFD_VERSION);
  b.set(init.uuid, 8);
  b[24] = init.id;
  return b;
}

/** Decode a channel handshake from `b[pos, pos + 64)`; throws on a bad magic or version. */
export function decodeMultifdInit(b: Uint8Array, pos = 0): MultifdInit {
  if (b.length - pos < MULTIFD_INIT_SIZE) {
    throw new MultifdFormatError(`multifd handshake truncated (${b.length - pos} of 64 bytes)`);
  }
  const magic = be32(b, pos);
  if (magic !== MULTIFD_MAGIC) {
    throw new MultifdFormatError(
      `multifd handshake: bad magic 0x${magic.toString(16)} (expected 0x11223344)`,
    );
  }
  const version = be32(b, pos + 4);
  if (version !== MULTIFD_VERSION) {
    throw new MultifdFormatError(
      `multifd handshake: unsupported version ${version} (expected ${MULTIFD_VERSION})`,
    );
  }
  return { uuid: b.slice(pos + 8, pos + 24), id: b[pos + 24] };
}

/**
 * Write a packet header (and its `pages_alloc` offsets) into `b` at `pos`; returns the bytes
 * written ({@link MULTIFD_PACKET_LEN}). `name` is the ramblock name as bytes (≤ 255).
 */
export function writeMultifdPacketHeader(
  b: Uint8Array,
  pos: number,
  h: Omit<MultifdPacketHeader, "ramblock" | "offsets">,
  name: Uint8Array,
  offsets: Float64Array | readonly number[],
): number {
  if (name.length >= MULTIFD_RAMBLOCK_NAME_LEN) {
    throw new MultifdFormatError(`ramblock name too long (${name.length} bytes)`);
  }
  const n = h.normalPages + h.zeroPages;
  if (h.pagesAlloc !== MULTIFD_PAGE_COUNT || n > h.pagesAlloc) {
    throw new MultifdFormatError(`packet of ${n} pages does not fit ${h.pagesAlloc}`);
  }
  const len = MULTIFD_PACKET_HEADER_SIZE + 8 * h.pagesAlloc;
  b.fill(0, pos, pos + len);
  put32(b, pos, MULTIFD_MAGIC);
  put32(b, pos + 4, MULTIFD_VERSION);
  put32(b, pos + 8, h.flags >>> 0);
  put32(b, pos + 12, h.pagesAlloc);
  put32(b, pos + 16, h.normalPages);
  put32(b, pos + 20, h.nextPacketSize);
  put64(b, pos + 24, h.packetNum);
  put32(b, pos + 32, h.zeroPages);
  // unused32[1] at +36, unused64[3] at +40..+64
  b.set(name, pos + 64);
  for (let i = 0; i < n; i++) put64(b, pos + MULTIFD_PACKET_HEADER_SIZE + 8 * i, offsets[i]);
  return len;
}

/** Encode a whole packet header into a new array. */
export function encodeMultifdPacketHeader(h: MultifdPacketHeader): Uint8Array {
  const b = new Uint8Array(MULTIFD_PACKET_LEN);
  writeMultifdPacketHeader(b, 0, h, enc.encode(h.ramblock), h.offsets);
  return b;
}

/**
 * Decode and validate a packet header at `b[pos, pos + MULTIFD_PACKET_LEN)`. Checks magic, version,
 * known flags, `pages_alloc` (QEMU refuses more than its own page count), the page counts, the
 * NUL-terminated name and page-aligned offsets. Block membership and sizes are the caller's.
 */
export function decodeMultifdPacketHeader(b: Uint8Array, pos = 0): MultifdPacketHeader {
  if (b.length - pos < MULTIFD_PACKET_HEADER_SIZE) {
    throw new MultifdFormatError("multifd packet truncated");
  }
  const magic = be32(b, pos);
  if (magic !== MULTIFD_MAGIC) {
    throw new MultifdFormatError(
      `multifd packet: bad magic 0x${magic.toString(16)} (expected 0x11223344)`,
    );
  }
  const version = be32(b, pos + 4);
  if (version !== MULTIFD_VERSION) {
    throw new MultifdFormatError(`multifd packet: unsupported version ${version}`);
  }
  const flags = be32(b, pos + 8);
  if ((flags & ~MULTIFD_KNOWN_FLAGS) !== 0) {
    throw new MultifdFormatError(`multifd packet: unknown flags 0x${flags.toString(16)}`);
  }
  const pagesAlloc = be32(b, pos + 12);
  if (pagesAlloc > MULTIFD_PAGE_COUNT) {
    throw new MultifdFormatError(
      `multifd packet: pages_alloc ${pagesAlloc} is more than the maximum ${MULTIFD_PAGE_COUNT}`,
    );
  }
  const normalPages = be32(b, pos + 16);
  const nextPacketSize = be32(b, pos + 20);
  const packetNum = be64(b, pos + 24);
  const zeroPages = be32(b, pos + 32);
  if (normalPages > pagesAlloc || zeroPages > pagesAlloc - normalPages) {
    throw new MultifdFormatError(
      `multifd packet: ${normalPages} normal + ${zeroPages} zero pages exceed pages_alloc ${pagesAlloc}`,
    );
  }
  if (b.length - pos < MULTIFD_PACKET_HEADER_SIZE + 8 * pagesAlloc) {
    throw new MultifdFormatError("multifd packet truncated");
  }
  let end = pos + 64;
  const nameEnd = pos + 64 + MULTIFD_RAMBLOCK_NAME_LEN;
  while (end < nameEnd && b[end] !== 0) end++;
  if (end === nameEnd) throw new MultifdFormatError("multifd packet: ramblock name not terminated");
  let ramblock: string;
  try {
    ramblock = dec.decode(b.subarray(pos + 64, end));
  } catch {
    throw new MultifdFormatError("multifd packet: ramblock name is not UTF-8");
  }
  const n = normalPages + zeroPages;
  if (n > 0 && ramblock.length === 0) {
    throw new MultifdFormatError("multifd packet: pages without a ramblock name");
  }
  const offsets: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = be64(b, pos + MULTIFD_PACKET_HEADER_SIZE + 8 * i);
    if (o % PAGE_SIZE !== 0) {
      throw new MultifdFormatError(`multifd packet: offset ${o} is not page aligned`);
    }
    offsets[i] = o;
  }
  return {
    flags,
    pagesAlloc,
    normalPages,
    zeroPages,
    nextPacketSize,
    packetNum,
    ramblock,
    offsets,
  };
}
