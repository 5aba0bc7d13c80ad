/**
 * Constants of the ferry migration stream (see docs/stream-format.md).
 */
import { PAGE_SIZE } from "@ferry/core";

/** Stream magic: ASCII "FRRY" as a big-endian u32. */
export const STREAM_MAGIC = 0x46525259;
/**
 * The stream version this writer produces. Version 2 is version 1's format with one difference,
 * outside the stream: the switchover acknowledgement's digest of a version-2 stream is
 * Fletcher-64 instead of CRC-32 (see `return-path/tally.ts`). Version 3 adds one record, the run
 * of raw pages ({@link RamFlag.PAGE_RUN}); its acknowledgement is version 2's.
 */
export const STREAM_VERSION = 3;
/**
 * Stream versions this reader accepts (1: from ferry before Fletcher-64; 2: before page runs —
 * both a subset of version 3's format).
 */
export const STREAM_VERSIONS_READ: readonly number[] = [1, 2, 3];

/** Section (framing) type bytes, QEMU savevm values. */
export const SectionType = {
  /** End of stream. */
  EOF: 0x00,
  /** First part of an iterative section (carries idstr, instance, version). */
  START: 0x01,
  /** A middle part of an iterative section. */
  PART: 0x02,
  /** The last part of an iterative section. */
  END: 0x03,
  /** A complete one-shot section (device state; carries idstr, instance, version). */
  FULL: 0x04,
  /** Section footer: `u8 0x7e` + `be32 section_id`. */
  FOOTER: 0x7e,
} as const;

/** RAM record flags (low bits of the `be64(offset | flags)` record header), QEMU's values. */
export const RamFlag = {
  /** Zero page: one fill byte follows (must be 0). */
  ZERO: 0x02,
  /** Setup block list: total RAM in the offset bits, then per block `u8 len, idstr, be64 length`. */
  MEM_SIZE: 0x04,
  /**
   * A run of raw pages (PART/END bodies only; the bit is MEM_SIZE's, which only the setup chunk
   * uses): `be32 count` (at least 1) follows, then `count` × PAGE_SIZE bytes — the pages at the
   * record's offset and the ones after it in the same block, in order.
   */
  PAGE_RUN: 0x04,
  /** Raw page: PAGE_SIZE bytes follow. */
  PAGE: 0x08,
  /** End of this RAM section chunk. */
  EOS: 0x10,
  /** Same block as the previous record of this section (no idstr follows). */
  CONTINUE: 0x20,
  /** XBZRLE delta (owned by the xbzrle plugin): `u8 0x01, be16 len, data`. */
  XBZRLE: 0x40,
  /**
   * A multifd sync point (QEMU's RAM_SAVE_FLAG_MULTIFD_FLUSH): alone, offset 0, no payload; the
   * destination's data channels may not go past their matching SYNC packet before it is read.
   */
  MULTIFD_FLUSH: 0x200,
  /**
   * Modifier, compact links only (QEMU's obsolete FULL bit): the record's payload is replaced by
   * `be32 version` of a synthetic page; the record type says what the real record was.
   */
  COMPACT: 0x01,
} as const;

/** Mask of the flag bits inside a record header (everything below the page size). */
export const RAM_FLAG_MASK = PAGE_SIZE - 1;
/** Flag bits a codec plugin may claim for its own record type. */
export const CODEC_FLAG_BITS: readonly number[] = [0x40, 0x80, 0x100, 0x400, 0x800];

/** Section idstr, instance and version of the RAM section (QEMU: "ram", 0, 4). */
export const RAM_SECTION = { idstr: "ram", instance: 0, version: 4 } as const;
/** Version of device-state sections. */
export const DEVICE_SECTION_VERSION = 1;
/** Largest device-state body accepted (bytes of JSON). */
export const MAX_DEVICE_STATE_BYTES = 16 * 1024 * 1024;
/**
 * Largest sum of device-state bodies one stream may carry (64 MiB): a stream of many device
 * sections each under {@link MAX_DEVICE_STATE_BYTES} is refused before the reader holds more than
 * this.
 */
export const MAX_DEVICE_STATE_TOTAL_BYTES = 64 * 1024 * 1024;
/** Largest RAM total or block length accepted (2^53 - page: stays exact in a float64). */
export const MAX_RAM_BYTES = Number.MAX_SAFE_INTEGER - RAM_FLAG_MASK;
/** 2^32, for be64 arithmetic. */
export const TWO_POW_32 = 4294967296;
