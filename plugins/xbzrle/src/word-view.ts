/**
 * Cached whole-buffer `Int32Array` views, so the codec can compare 4 bytes at a time without
 * allocating a view per page. Two entries are kept (typically: the page cache's store and guest
 * RAM), replaced least-recently-used first. They are held through `WeakRef`s, so the cache never
 * keeps a dropped buffer (an old page-cache store, a finished guest's RAM) alive.
 */

let refA: WeakRef<Int32Array> | null = null;
let refB: WeakRef<Int32Array> | null = null;

/**
 * Returns an `Int32Array` over all whole 4-byte words of `buffer` (index = byte offset >> 2),
 * reusing a cached view when the buffer was seen recently.
 *
 * @param minWords the view must cover at least this many words (a grown resizable buffer gets a
 *   fresh view)
 */
export function wordViewOf(buffer: ArrayBufferLike, minWords: number): Int32Array {
  const a = refA === null ? undefined : refA.deref();
  if (a !== undefined && a.buffer === buffer && a.length >= minWords) {
    return a;
  }
  const b = refB === null ? undefined : refB.deref();
  if (b !== undefined && b.buffer === buffer && b.length >= minWords) {
    const r = refB;
    refB = refA;
    refA = r;
    return b;
  }
  const view = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  refB = refA;
  refA = new WeakRef(view);
  return view;
}
