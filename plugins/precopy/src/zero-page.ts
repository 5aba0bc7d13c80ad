/**
 * The zero-page codec: an all-zero page goes out as a ZERO record (header + one fill byte 0)
 * instead of 4 KiB. First in the codec chain; always active.
 */
import { type PageCodec, type PageEncoder, RamFlag } from "@ferry/migration";

const encoder: PageEncoder = {
  encode(page, out) {
    if (!page.block.backend.isZeroPage(page.page)) return false;
    out.ramRecord(page.block, page.offset, RamFlag.ZERO);
    out.u8(0);
    return true;
  },
};

/**
 * The zero-page codec part (order 0, counts as QEMU's `duplicate`). It asks the backend
 * (`isZeroPage`: a byte scan for dense RAM, a version check for synthetic RAM), never the bytes.
 */
export const zeroPageCodec: PageCodec = {
  name: "zero-page",
  order: 0,
  counts: "duplicate",
  readsBytes: false,
  createEncoder: () => encoder,
};
