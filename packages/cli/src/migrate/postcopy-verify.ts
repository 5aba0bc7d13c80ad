/**
 * Post-copy's RAM check. The destination runs the guest before it has every page, so its RAM
 * never equals the source's at one instant. What must hold instead, once the last page landed:
 * every page the destination did not write since it started running equals the source's page at
 * the switch (the source stays stopped from the switch on, so its RAM still is the switch RAM).
 * The destination's writes are recorded with its dirty log, started when it starts running.
 */
import { createDirtyBitmap, PAGE_SIZE, type RamRegion } from "@ferry/core";
import { isSyntheticRamBackend } from "@ferry/sim";

/** Result of {@link postcopyRamCheck}. */
export interface PostcopyRamCheck {
  /** Pages compared (not written by the destination since it ran). */
  readonly compared: number;
  /** Pages the destination wrote since it ran (skipped). */
  readonly written: number;
  /** The first page that differs, or -1. */
  readonly firstDifferent: number;
}

/**
 * Compare `dst` with the switch RAM `src` page by page, skipping the pages `dst`'s dirty log
 * recorded (what the destination wrote since it started running). The log is synced into a
 * bitmap first — with dirty rings, entries still in the rings and pages already harvested are
 * only complete after a sync — so call this once, at the end.
 */
export function postcopyRamCheck(src: RamRegion, dst: RamRegion): PostcopyRamCheck {
  const pages = Math.min(src.size, dst.size) / PAGE_SIZE;
  const dirtied = createDirtyBitmap(dst.size / PAGE_SIZE);
  dst.dirty.sync(dirtied);
  const words = dirtied.words;
  const a = src.backend;
  const b = dst.backend;
  const synA = isSyntheticRamBackend(a) ? a : null;
  const synB = isSyntheticRamBackend(b) ? b : null;
  const pa = new Uint8Array(PAGE_SIZE);
  const pb = new Uint8Array(PAGE_SIZE);
  let compared = 0;
  let written = 0;
  for (let p = 0; p < pages; p++) {
    if ((words[p >>> 5] & (1 << (p & 31))) !== 0) {
      written++;
      continue;
    }
    compared++;
    let same: boolean;
    if (synA !== null && synB !== null) same = synA.versions[p] === synB.versions[p];
    else if (a.bytes !== null && b.bytes !== null) {
      const o = p * PAGE_SIZE;
      same =
        Buffer.compare(a.bytes.subarray(o, o + PAGE_SIZE), b.bytes.subarray(o, o + PAGE_SIZE)) ===
        0;
    } else {
      a.read(p * PAGE_SIZE, pa);
      b.read(p * PAGE_SIZE, pb);
      same = Buffer.compare(pa, pb) === 0;
    }
    if (!same) return { compared, written, firstDifferent: p };
  }
  return { compared, written, firstDifferent: -1 };
}
