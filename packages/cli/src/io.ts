/** Where commands write: injected so tests can capture output. */
export interface CliIo {
  /** Write to standard output (no newline added). */
  out(text: string): void;
  /** Write to standard error (no newline added). */
  err(text: string): void;
  /** True when standard error is a terminal (live progress is shown only then). */
  readonly errIsTTY?: boolean;
}

/** The process's stdout and stderr. */
export function processIo(): CliIo {
  return {
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
    errIsTTY: process.stderr.isTTY === true,
  };
}

/** An in-memory {@link CliIo} for tests and embedding. */
export interface CapturedIo extends CliIo {
  /** Everything written to `out`. */
  readonly stdout: () => string;
  /** Everything written to `err`. */
  readonly stderr: () => string;
}

/** Make a {@link CapturedIo}. */
export function captureIo(): CapturedIo {
  let out = "";
  let err = "";
  return {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
    stdout: () => out,
    stderr: () => err,
  };
}
