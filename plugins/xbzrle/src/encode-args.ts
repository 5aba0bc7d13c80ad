/** Argument checks shared by the XBZRLE encoders (the JavaScript and the WebAssembly one). */
import { XbzrleArgumentError } from "./errors";

function checkRange(name: string, arr: Uint8Array, off: number, len: number): void {
  if (!Number.isInteger(off) || off < 0 || off + len > arr.length) {
    throw new XbzrleArgumentError(
      `${name}: expected ${len} bytes at offset ${off} within a buffer of ${arr.length} bytes`,
    );
  }
}

/**
 * Throws {@link XbzrleArgumentError} unless `pageSize` is a positive integer, `outLimit` a
 * non-negative integer, and both pages and the output window lie inside their buffers.
 */
export function checkEncodeArgs(
  old: Uint8Array,
  oldOff: number,
  neu: Uint8Array,
  newOff: number,
  pageSize: number,
  out: Uint8Array,
  outOff: number,
  outLimit: number,
): void {
  if (!Number.isInteger(pageSize) || pageSize <= 0) {
    throw new XbzrleArgumentError(`pageSize: expected a positive integer, got ${pageSize}`);
  }
  if (!Number.isInteger(outLimit) || outLimit < 0) {
    throw new XbzrleArgumentError(`outLimit: expected a non-negative integer, got ${outLimit}`);
  }
  checkRange("old page", old, oldOff, pageSize);
  checkRange("new page", neu, newOff, pageSize);
  checkRange("output", out, outOff, outLimit);
}
