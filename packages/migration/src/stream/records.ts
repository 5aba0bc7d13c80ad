/**
 * The registry of RAM record types. PAGE (raw) and ZERO are the base format and always known;
 * codec plugins add their own record type (a flag bit, a payload-length probe and a decoder).
 */
import { PAGE_SIZE } from "@ferry/core";
import { MigrationConfigError } from "../errors";
import { CODEC_FLAG_BITS, RamFlag } from "./constants";

/**
 * The destination half of a RAM record type. Decoders are called only on complete payloads and
 * must throw an `Error` (any subclass) with a clear message on bad data; the reader wraps it into a
 * `StreamError` with the stream position. They must never write outside
 * `page[pageOffset, pageOffset + PAGE_SIZE)`.
 */
export interface RamRecordType {
  /** Short name for messages, e.g. `xbzrle`. */
  readonly name: string;
  /** The flag bit identifying the record (one of `CODEC_FLAG_BITS` for plugins). */
  readonly flag: number;
  /**
   * Payload length in bytes of the record whose payload starts at `buf[pos]`, given that
   * `available` bytes are present; `-1` when more bytes are needed to tell. Throw on an invalid
   * header (e.g. an oversize length).
   */
  payloadLength(buf: Uint8Array, pos: number, available: number): number;
  /**
   * Apply the payload `buf[pos, pos + length)` to the destination page
   * `page[pageOffset, pageOffset + PAGE_SIZE)`, which holds the page's current content.
   */
  decode(buf: Uint8Array, pos: number, length: number, page: Uint8Array, pageOffset: number): void;
}

const PS = PAGE_SIZE;

/** Raw page: PAGE_SIZE bytes copied in. */
export const pageRecord: RamRecordType = {
  name: "page",
  flag: RamFlag.PAGE,
  payloadLength: () => PS,
  decode(buf, pos, _length, page, pageOffset) {
    page.set(buf.subarray(pos, pos + PS), pageOffset);
  },
};

/** Zero page: one fill byte, which must be 0. */
export const zeroRecord: RamRecordType = {
  name: "zero",
  flag: RamFlag.ZERO,
  payloadLength: () => 1,
  decode(buf, pos, _length, page, pageOffset) {
    const fill = buf[pos];
    if (fill !== 0) throw new Error(`zero-page fill byte must be 0, found ${fill}`);
    page.fill(0, pageOffset, pageOffset + PS);
  },
};

/** Lookup of record types by flag bit. */
export interface RamRecordRegistry {
  /** The record type owning `flag`, or undefined. */
  get(flag: number): RamRecordType | undefined;
  /** All known record types (base ones first). */
  readonly types: readonly RamRecordType[];
}

/**
 * Build a registry from the base types plus `extra` (codec plugins' types). Throws a
 * `MigrationConfigError` when a flag is not a plugin flag bit or is claimed twice.
 */
export function createRamRecordRegistry(extra: readonly RamRecordType[] = []): RamRecordRegistry {
  const byFlag: (RamRecordType | undefined)[] = new Array(PAGE_SIZE).fill(undefined);
  const types: RamRecordType[] = [pageRecord, zeroRecord];
  byFlag[RamFlag.PAGE] = pageRecord;
  byFlag[RamFlag.ZERO] = zeroRecord;
  for (const t of extra) {
    if (byFlag[t.flag] === t) continue;
    if (!CODEC_FLAG_BITS.includes(t.flag)) {
      throw new MigrationConfigError(
        t.name,
        `record flag must be one of ${CODEC_FLAG_BITS.map((f) => "0x" + f.toString(16)).join(", ")}, got 0x${t.flag.toString(16)}`,
      );
    }
    const prev = byFlag[t.flag];
    if (prev !== undefined) {
      throw new MigrationConfigError(
        t.name,
        `record flag 0x${t.flag.toString(16)} is already owned by record type "${prev.name}"`,
      );
    }
    byFlag[t.flag] = t;
    types.push(t);
  }
  return {
    types,
    get: (flag) => (flag >= 0 && flag < PAGE_SIZE ? byFlag[flag] : undefined),
  };
}
