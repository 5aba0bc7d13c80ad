/**
 * The destination half: the XBZRLE RAM record type (flag 0x40). Payload, as QEMU's
 * `load_xbzrle`: `u8 ENCODING_FLAG_XBZRLE (0x01)`, `be16 len`, `len` bytes of encoded body,
 * applied in place to the destination's current page.
 */
import { PAGE_SIZE } from "@ferry/core";
import { RamFlag, type RamRecordType } from "@ferry/migration";
import { xbzrleDecode } from "./decode";

/** QEMU's ENCODING_FLAG_XBZRLE: the first payload byte of an XBZRLE record. */
export const ENCODING_FLAG_XBZRLE = 0x01;

/** Bytes before the encoded body: the encoding flag and the be16 length. */
export const XBZRLE_PAYLOAD_HEADER = 3;

const PS = PAGE_SIZE;

/** Raised by the record type on a bad record header (the reader wraps it in a `StreamError`). */
export class XbzrleRecordError extends Error {
  /** @param message what was expected and what was found */
  constructor(message: string) {
    super(message);
    this.name = "XbzrleRecordError";
  }
}

/**
 * The XBZRLE record type. `payloadLength` refuses an encoding flag other than 0x01 and a length
 * above the page size; `decode` throws `XbzrleDecodeError` on a malformed body. The stream reader
 * turns both into a `StreamError` naming the byte position.
 */
export const xbzrleRecord: RamRecordType = {
  name: "xbzrle",
  flag: RamFlag.XBZRLE,
  payloadLength(buf, pos, available) {
    if (available < 1) return -1;
    const flag = buf[pos];
    if (flag !== ENCODING_FLAG_XBZRLE) {
      throw new XbzrleRecordError(
        `expected encoding flag 0x01, found 0x${flag.toString(16).padStart(2, "0")}`,
      );
    }
    if (available < XBZRLE_PAYLOAD_HEADER) return -1;
    const len = (buf[pos + 1] << 8) | buf[pos + 2];
    if (len > PS) {
      throw new XbzrleRecordError(
        `expected an encoded length of at most ${PS} bytes, found ${len}`,
      );
    }
    return XBZRLE_PAYLOAD_HEADER + len;
  },
  decode(buf, pos, length, page, pageOffset) {
    xbzrleDecode(
      buf,
      pos + XBZRLE_PAYLOAD_HEADER,
      length - XBZRLE_PAYLOAD_HEADER,
      page,
      pageOffset,
      PS,
    );
  },
};
