/** A one-line status repainted on a terminal (stderr), at most every `intervalMs` of wall time. */
import type { CliIo } from "./io";

/** A repainting status line. */
export interface ProgressLine {
  /** Repaint with `text` unless the last paint was less than the interval ago. */
  show(text: string): void;
  /** Erase the line (when anything was shown). */
  clear(): void;
}

/** Make a {@link ProgressLine} writing to `io.err`. */
export function progressLine(io: CliIo, intervalMs = 100): ProgressLine {
  let last = Number.NEGATIVE_INFINITY;
  let shown = false;
  return {
    show(text) {
      const now = performance.now();
      if (now - last < intervalMs) return;
      last = now;
      shown = true;
      io.err(`\r${text}\x1b[K`);
    },
    clear() {
      if (shown) io.err("\r\x1b[K");
    },
  };
}

/**
 * Run `body` with an AbortSignal that the first Ctrl-C (SIGINT) aborts. The handler is attached
 * once: a second Ctrl-C ends the process as usual (a way out if cancelling takes long).
 */
export async function withSigint<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once("SIGINT", onSigint);
  try {
    return await body(abort.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
