/** Error classes of the XBZRLE codec and page cache. */

/** A caller passed an argument the codec cannot use (offsets out of bounds, bad page size). */
export class XbzrleArgumentError extends RangeError {
  /** @param message what was expected and what was found */
  constructor(message: string) {
    super(message);
    this.name = "XbzrleArgumentError";
  }
}

/**
 * An XBZRLE payload is malformed: truncated, a bad ULEB128 length, an empty run where QEMU's
 * decoder forbids one, or a run that would overrun the page or the payload.
 */
export class XbzrleDecodeError extends Error {
  /** Byte offset in the payload (relative to its start) where the problem was found. */
  readonly payloadOffset: number;

  /**
   * @param message what was expected and what was found
   * @param payloadOffset offset in the payload where decoding stopped
   */
  constructor(message: string, payloadOffset: number) {
    super(`XBZRLE payload invalid at byte ${payloadOffset}: ${message}`);
    this.name = "XbzrleDecodeError";
    this.payloadOffset = payloadOffset;
  }
}

/** The page cache was configured with an unusable size. */
export class PageCacheConfigError extends RangeError {
  /** @param message what was expected and what was found */
  constructor(message: string) {
    super(message);
    this.name = "PageCacheConfigError";
  }
}
