/**
 * QMP input framing: QEMU's JSON streamer splits the byte stream into top-level JSON values by
 * tracking brackets, strings and escapes — newlines carry no meaning. This splitter does the same
 * in one pass over each chunk, whatever the chunk boundaries, and bounds the size of one value.
 */

/** One framed unit: a complete top-level JSON text, or a framing error to report. */
export type Frame =
  | { readonly kind: "value"; readonly text: string }
  | { readonly kind: "error"; readonly message: string };

/** Options of {@link createJsonSplitter}. */
export interface JsonSplitterOptions {
  /** Largest top-level value in bytes (default 1 MiB); a longer one is skipped and reported. */
  readonly maxBytes?: number;
  /** Deepest bracket nesting (default 1024, QEMU's MAX_NESTING). */
  readonly maxDepth?: number;
}

/** A push splitter: feed chunks, get the frames they complete. */
export interface JsonSplitter {
  /** Feed bytes; returns the frames completed by them, in order. */
  push(chunk: Uint8Array): Frame[];
  /** Bytes buffered for the value in progress. */
  readonly pending: number;
}

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
/** Bytes that may continue a bare top-level token (keyword or number). */
const isBare = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) ||
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x61 && c <= 0x7a) ||
  c === 0x2d ||
  c === 0x2b ||
  c === 0x2e;

/** Lexer modes. */
const enum Mode {
  /** Between values. */
  Idle = 0,
  /** Inside an object/array (depth > 0), outside strings. */
  Nested = 1,
  /** Inside a string. */
  String = 2,
  /** After a backslash inside a string. */
  Escape = 3,
  /** A bare top-level token (number, keyword, garbage). */
  Bare = 4,
  /** A top-level string. */
  TopString = 5,
  /** After a backslash in a top-level string. */
  TopEscape = 6,
}

/**
 * Make a splitter. Each top-level value (object, array, string, number, keyword) becomes one
 * `value` frame; a value longer than `maxBytes` or nested deeper than `maxDepth` becomes one
 * `error` frame (its bytes are skipped, the stream stays in sync); a stray closing bracket is an
 * `error` frame of its own.
 */
export function createJsonSplitter(options: JsonSplitterOptions = {}): JsonSplitter {
  const maxBytes = options.maxBytes ?? 1 << 20;
  const maxDepth = options.maxDepth ?? 1024;
  if (!(maxBytes > 0) || !(maxDepth > 0)) {
    throw new RangeError("json splitter: maxBytes and maxDepth must be positive");
  }
  let mode: Mode = Mode.Idle;
  let depth = 0;
  let parts: Uint8Array[] = [];
  let size = 0;
  let overflow: string | null = null;
  const decoder = new TextDecoder("utf-8");

  const take = (chunk: Uint8Array, from: number, to: number): void => {
    if (overflow !== null || to <= from) return;
    size += to - from;
    if (size > maxBytes) {
      overflow = "JSON token size limit exceeded";
      parts = [];
      return;
    }
    parts.push(chunk.subarray(from, to));
  };
  const finish = (out: Frame[]): void => {
    if (overflow !== null) {
      out.push({ kind: "error", message: `JSON parse error, ${overflow}` });
    } else {
      let text: string;
      if (parts.length === 1) text = decoder.decode(parts[0]);
      else {
        const all = new Uint8Array(size);
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        text = decoder.decode(all);
      }
      out.push({ kind: "value", text });
    }
    parts = [];
    size = 0;
    overflow = null;
    mode = Mode.Idle;
    depth = 0;
  };

  return {
    get pending() {
      return size;
    },
    push(chunk) {
      const out: Frame[] = [];
      let start = 0;
      let i = 0;
      const n = chunk.length;
      while (i < n) {
        const c = chunk[i];
        switch (mode) {
          case Mode.Idle:
            if (isSpace(c)) {
              i++;
              start = i;
            } else if (c === LBRACE || c === LBRACKET) {
              start = i;
              mode = Mode.Nested;
              depth = 1;
              i++;
            } else if (c === QUOTE) {
              start = i;
              mode = Mode.TopString;
              i++;
            } else if (isBare(c)) {
              start = i;
              mode = Mode.Bare;
              i++;
            } else {
              const ch =
                c < 0x20 || c >= 0x7f
                  ? `\\x${c.toString(16).padStart(2, "0")}`
                  : String.fromCharCode(c);
              out.push({ kind: "error", message: `JSON parse error, stray '${ch}'` });
              i++;
              start = i;
            }
            break;
          case Mode.Nested:
            if (c === QUOTE) mode = Mode.String;
            else if (c === LBRACE || c === LBRACKET) {
              depth++;
              if (depth > maxDepth && overflow === null) {
                overflow = "JSON nesting depth limit exceeded";
                parts = [];
              }
            } else if (c === RBRACE || c === RBRACKET) {
              depth--;
              if (depth === 0) {
                take(chunk, start, i + 1);
                i++;
                start = i;
                finish(out);
                break;
              }
            }
            i++;
            break;
          case Mode.String:
            if (c === BACKSLASH) mode = Mode.Escape;
            else if (c === QUOTE) mode = Mode.Nested;
            i++;
            break;
          case Mode.Escape:
            mode = Mode.String;
            i++;
            break;
          case Mode.TopString:
            i++;
            if (c === BACKSLASH) mode = Mode.TopEscape;
            else if (c === QUOTE) {
              take(chunk, start, i);
              start = i;
              finish(out);
            }
            break;
          case Mode.TopEscape:
            mode = Mode.TopString;
            i++;
            break;
          case Mode.Bare:
            if (isBare(c)) i++;
            else {
              take(chunk, start, i);
              start = i;
              finish(out);
            }
            break;
        }
      }
      if (mode !== Mode.Idle) take(chunk, start, n);
      return out;
    },
  };
}
