/**
 * The per-packet page work of a multifd channel, as plain functions over typed arrays (what a
 * channel's worker thread runs in real time; QEMU's multifd send/recv threads): on the source,
 * gather the packet's pages, find the zero pages, compress the normal ones and build the packet;
 * on the destination, decompress a packet's data and write its pages into guest RAM.
 */
import type { MultifdCompressor, MultifdDecompressor } from "./compression";
import {
  MULTIFD_PACKET_LEN,
  MULTIFD_PAGE_COUNT,
  MULTIFD_TARGET_PAGE_SIZE,
  writeMultifdPacketHeader,
} from "./packet";

const PS = MULTIFD_TARGET_PAGE_SIZE;
const WORDS = PS >>> 2;

/** What {@link buildPacket} needs, reused from packet to packet (no allocation per page). */
export interface PacketBuilder {
  /** The packet's normal pages, back to back (128 pages). */
  readonly data: Uint8Array;
  /** Offsets: normal pages first, then zero pages (128 entries). */
  readonly offsets: Float64Array;
  /** Offsets of the zero pages while the packet is sorted (128 entries). */
  readonly zeroOffsets: Float64Array;
  /** The channel's compressor, or null. */
  readonly compressor: MultifdCompressor | null;
}

/** Make a {@link PacketBuilder} for a channel. */
export function createPacketBuilder(compressor: MultifdCompressor | null): PacketBuilder {
  return {
    data: new Uint8Array(MULTIFD_PAGE_COUNT * PS),
    offsets: new Float64Array(MULTIFD_PAGE_COUNT),
    zeroOffsets: new Float64Array(MULTIFD_PAGE_COUNT),
    compressor,
  };
}

/** One packet to build. */
export interface PacketJob {
  /** Packet flags (the compression method's bit, SYNC); the builder adds nothing. */
  readonly flags: number;
  readonly packetNum: number;
  /** The RAM block's name as bytes (empty for a packet without pages). */
  readonly name: Uint8Array;
  /** Pages in the packet (0 for a bare SYNC packet). */
  readonly count: number;
  /** Byte offsets of the pages in the block, in queue order. */
  readonly offsets: Float64Array;
  /**
   * Where the pages are read: the whole block (`at` = the page's offset) or the pages copied back
   * to back in queue order (`at` = index × 4 KiB).
   */
  readonly source: Uint8Array;
  readonly sourceIsBlock: boolean;
}

/** A built packet. */
export interface BuiltPacket {
  /** Header, offsets and data, ready for the channel. */
  readonly packet: Uint8Array;
  readonly normal: number;
  readonly zero: number;
  /** Data bytes sent after the header (compressed or raw). */
  readonly dataBytes: number;
}

/** True when the 1024 words of `w` from word `at` are all zero. */
export function isZeroPageWords(w: Int32Array, at: number): boolean {
  const end = at + WORDS;
  for (let i = at; i < end; i += 8) {
    if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) !== 0) {
      return false;
    }
  }
  return true;
}

/** Build one packet: sort its pages into normal and zero, copy and compress the normal ones. */
export function buildPacket(b: PacketBuilder, job: PacketJob): BuiltPacket {
  const src = job.source;
  const words = new Int32Array(src.buffer, src.byteOffset, src.length >>> 2);
  let normal = 0;
  let zero = 0;
  for (let i = 0; i < job.count; i++) {
    const off = job.offsets[i];
    const at = job.sourceIsBlock ? off : i * PS;
    if (isZeroPageWords(words, at >>> 2)) {
      b.zeroOffsets[zero++] = off;
    } else {
      b.data.set(src.subarray(at, at + PS), normal * PS);
      b.offsets[normal++] = off;
    }
  }
  for (let i = 0; i < zero; i++) b.offsets[normal + i] = b.zeroOffsets[i];
  const raw = b.data.subarray(0, normal * PS);
  const payload = b.compressor !== null && normal > 0 ? b.compressor.compress(raw) : raw;
  const packet = new Uint8Array(MULTIFD_PACKET_LEN + payload.length);
  writeMultifdPacketHeader(
    packet,
    0,
    {
      flags: job.flags,
      pagesAlloc: MULTIFD_PAGE_COUNT,
      normalPages: normal,
      zeroPages: zero,
      nextPacketSize: payload.length,
      packetNum: job.packetNum,
    },
    job.count > 0 ? job.name : new Uint8Array(0),
    b.offsets,
  );
  packet.set(payload, MULTIFD_PACKET_LEN);
  return { packet, normal, zero, dataBytes: payload.length };
}

/** One received packet to apply. */
export interface ApplyJob {
  readonly normal: number;
  readonly zero: number;
  /** Offsets: normal pages, then zero pages. */
  readonly offsets: Float64Array;
  /** The packet's data (raw or compressed pages). */
  readonly data: Uint8Array;
  /** Where the pages go: the whole block (`at` = offset) or back to back (normal pages only). */
  readonly target: Uint8Array;
  readonly targetIsBlock: boolean;
}

/**
 * Apply one packet: decompress its data (throws a clear `Error` on corrupt data) and write the
 * pages into `target` (zero pages too when it is the block).
 */
export function applyPacket(decompressor: MultifdDecompressor | null, job: ApplyJob): void {
  const bytes = job.normal * PS;
  let pages = job.data;
  if (decompressor !== null && job.normal > 0) {
    pages = decompressor.decompress(job.data, bytes);
    if (pages.length !== bytes) {
      throw new Error(`data decompressed to ${pages.length} bytes, expected ${bytes}`);
    }
  } else if (pages.length !== bytes) {
    throw new Error(`data of ${pages.length} bytes for ${job.normal} normal pages`);
  }
  const t = job.target;
  if (!job.targetIsBlock) {
    t.set(pages.subarray(0, bytes), 0);
    return;
  }
  for (let i = 0; i < job.normal; i++) t.set(pages.subarray(i * PS, (i + 1) * PS), job.offsets[i]);
  const n = job.normal + job.zero;
  for (let i = job.normal; i < n; i++) t.fill(0, job.offsets[i], job.offsets[i] + PS);
}
