/**
 * A small structured logger for migration parts (token `LoggerToken`): a message plus plain
 * fields, at four levels. The default is silent; `createLineLogger` writes one JSON line per
 * record (the CLI's debug output, a test's capture).
 */

/** Severity of a log record. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Plain, JSON-compatible fields of a log record. */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** A structured logger. */
export interface Logger {
  /** Record `msg` with `fields` at `level`. */
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** Build a {@link Logger} from its one `log` method. */
export function createLogger(log: Logger["log"]): Logger {
  return {
    log,
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
  };
}

/** The default logger: drops everything. */
export const silentLogger: Logger = createLogger(() => {});

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * A logger writing one JSON line per record at or above `minLevel` (default `debug`):
 * `{"level":"info","msg":"…",…fields}`; `now` adds `"t"` (e.g. the scheduler's virtual ns).
 */
export function createLineLogger(
  write: (line: string) => void,
  options: { readonly minLevel?: LogLevel; readonly now?: () => number } = {},
): Logger {
  const min = LEVELS.indexOf(options.minLevel ?? "debug");
  return createLogger((level, msg, fields) => {
    if (LEVELS.indexOf(level) < min) return;
    const t = options.now?.();
    write(JSON.stringify({ level, msg, ...(t === undefined ? {} : { t }), ...fields }));
  });
}
