/**
 * The boot-argument block: parameters the machine writes into guest RAM for the guest to read.
 */
import { InvalidArgumentError } from "../errors";
import { PAGE_SIZE } from "../memory/types";

/** "FERY" as a little-endian u32. */
export const BOOT_ARGS_MAGIC = 0x59524546;
/** Block format version. */
export const BOOT_ARGS_VERSION = 1;

/** Address of the block: the last page of RAM. */
export function bootArgsAddress(ramBase: number, ramSize: number): number {
  return ramBase + ramSize - PAGE_SIZE;
}

/** Encode the block: u32 magic, u32 version, u32 count N (≤ 64), then N u32 values (LE). */
export function encodeBootArgs(values: readonly number[]): Uint8Array {
  if (values.length > 64) {
    throw new InvalidArgumentError(`at most 64 boot arguments, got ${values.length}`);
  }
  const out = new Uint8Array(12 + 4 * values.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, BOOT_ARGS_MAGIC, true);
  view.setUint32(4, BOOT_ARGS_VERSION, true);
  view.setUint32(8, values.length, true);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new InvalidArgumentError(`boot argument ${i} must be a u32, got ${v}`);
    }
    view.setUint32(12 + 4 * i, v, true);
  });
  return out;
}
