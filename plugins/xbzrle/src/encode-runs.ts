/**
 * XBZRLE encoding from a list of changed runs instead of two pages: the same bytes, length and
 * overflow result as {@link xbzrleEncode} gives for an old and a new page that differ exactly in
 * those runs. Used for synthetic pages, whose changed runs are computed from page versions.
 */
import { XbzrleArgumentError } from "./errors";

/** Longest run a small ULEB128 length carries (module-local: no imported binding in the loop). */
const MAX_RUN = 0x3fff;

/**
 * Encodes a page whose bytes differ from the old page exactly in the runs
 * `[starts[k], ends[k])`, `k < count` (ascending, non-empty, separated by at least one equal
 * byte), with the new bytes taken from `newBytes` at the same page offsets.
 *
 * QEMU's rules and results, as {@link xbzrleEncode} (with `dlen = outLimit`): before each run
 * pair, and after its zero-run length, `d + 2 > dlen` overflows; after the changed-run length,
 * `d + len > dlen` overflows; a page whose last change is followed by unchanged bytes needs 2
 * spare bytes; a run longer than 0x3fff overflows.
 *
 * @returns 0 when there is no run (and `outLimit ≥ 2`), -1 on overflow, else the encoded length
 * @throws XbzrleArgumentError if the output window lies outside `out`, `count` is out of range,
 *   or a run is empty, unordered or outside the page
 */
export function xbzrleEncodeRuns(
  starts: Int32Array,
  ends: Int32Array,
  count: number,
  newBytes: Uint8Array,
  pageSize: number,
  out: Uint8Array,
  outOff: number,
  outLimit: number,
): number {
  if (!Number.isInteger(outLimit) || outLimit < 0) {
    throw new XbzrleArgumentError(`outLimit: expected a non-negative integer, got ${outLimit}`);
  }
  if (!Number.isInteger(outOff) || outOff < 0 || outOff + outLimit > out.length) {
    throw new XbzrleArgumentError(
      `output: expected ${outLimit} bytes at offset ${outOff} within a buffer of ${out.length} bytes`,
    );
  }
  if (!(count >= 0 && count <= starts.length && count <= ends.length) || count % 1 !== 0) {
    throw new XbzrleArgumentError(
      `count: expected an integer in 0..${Math.min(starts.length, ends.length)}, got ${count}`,
    );
  }
  if (newBytes.length < pageSize) {
    throw new XbzrleArgumentError(
      `newBytes: expected at least ${pageSize} bytes, got ${newBytes.length}`,
    );
  }
  const dlen = outLimit;
  let d = 0;
  let prev = 0;
  for (let k = 0; k < count; k++) {
    const s = starts[k];
    const e = ends[k];
    if (!(s >= prev && e > s && e <= pageSize) || (k > 0 && s === prev)) {
      throw new XbzrleArgumentError(
        `run ${k}: expected ${prev}${k > 0 ? " <" : " ≤"} start < end ≤ ${pageSize}, got [${s}, ${e})`,
      );
    }
    if (d + 2 > dlen) return -1;
    const zrun = s - prev;
    if (zrun > MAX_RUN) return -1;
    d += putLen(out, outOff + d, zrun);
    if (d + 2 > dlen) return -1;
    const nzrun = e - s;
    if (nzrun > MAX_RUN) return -1;
    d += putLen(out, outOff + d, nzrun);
    if (d + nzrun > dlen) return -1;
    const o = outOff + d;
    for (let i = 0; i < nzrun; i++) out[o + i] = newBytes[s + i];
    d += nzrun;
    prev = e;
  }
  if (count === 0) return dlen < 2 ? -1 : 0;
  if (prev < pageSize && d + 2 > dlen) return -1;
  return d;
}

/** Writes a small ULEB128 length (the caller has checked there is room for 2 bytes). */
function putLen(out: Uint8Array, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return 1;
  }
  out[at] = (n & 0x7f) | 0x80;
  out[at + 1] = n >>> 7;
  return 2;
}
