/** Load a YAML guest config: parse, apply `--set` overrides, validate, resolve paths. */
import { dirname, resolve } from "node:path";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { core } from "zod";
import { InputFileError, readLimitedFile } from "../input/read-file";
import { MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_YAML_ALIASES } from "../input/limits";
import { type ConfigIssue, ConfigError } from "./errors";
import { type ConfigOverride, OverrideError, parseOverride } from "./overrides";
import { configSchema, type FerryConfig, MISSING_PROGRAM } from "./schema";

/** Options of {@link parseConfigText}. */
export interface ParseConfigOptions {
  /** Name used in messages (a path, or a label such as `<inline>`). */
  readonly file?: string;
  /** Directory `guest.elf` is relative to; when absent the path is kept as written. */
  readonly baseDir?: string;
  /** `--set` overrides (`path=value` strings or parsed), applied in order before validation. */
  readonly overrides?: readonly (string | ConfigOverride)[];
}

/**
 * Read, parse and validate the config at `path`, applying `overrides` (`path=value` strings as
 * given to `--set`). `guest.elf` is resolved relative to the config file.
 * @throws ConfigError listing every issue with its path, expectation and (when known) line/column.
 */
export function loadConfig(
  path: string,
  overrides: readonly (string | ConfigOverride)[] = [],
): FerryConfig {
  let bytes: Uint8Array;
  try {
    bytes = readLimitedFile(path, MAX_CONFIG_BYTES, "config");
  } catch (err) {
    if (!(err instanceof InputFileError)) throw err;
    throw new ConfigError(path, [{ path: "", message: err.reason }]);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(path, [
      {
        path: "",
        message: `expected UTF-8 text, found invalid UTF-8 at byte ${firstBadUtf8(bytes)}`,
      },
    ]);
  }
  return parseConfigText(text, { file: path, baseDir: dirname(resolve(path)), overrides });
}

/** Offset of the first byte that makes `bytes` invalid UTF-8 (by bisection; 0 when unknown). */
/** Longest YAML parser message kept whole (the parser quotes the token it stopped at). */
const YAML_MESSAGE_MAX = 240;

/**
 * The first line of a YAML parser message, cut to {@link YAML_MESSAGE_MAX} characters: the token
 * it quotes may be an unterminated string that runs to the end of the file. The position the
 * message ends with is kept (the issue also carries it as line and column).
 */
function yamlMessage(message: string): string {
  const line = message.split("\n")[0]!;
  if (line.length <= YAML_MESSAGE_MAX) return line;
  const at = / at line \d+, column \d+:?$/.exec(line);
  return `${line.slice(0, 160)}…${at !== null ? at[0] : ""}`;
}

function firstBadUtf8(bytes: Uint8Array): number {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let lo = 0;
  let hi = bytes.length;
  // The longest valid prefix: invariant prefix(lo) decodes (allowing a cut code point at the end).
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    try {
      decoder.decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid;
    }
  }
  return lo;
}

/** Parse and validate config text (see {@link loadConfig}). */
export function parseConfigText(text: string, options: ParseConfigOptions = {}): FerryConfig {
  const file = options.file ?? "<inline>";
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [
      {
        path: "",
        message: `the config is ${text.length} characters, above the limit of ${MAX_CONFIG_BYTES}`,
      },
    ]);
  }
  const depth = flowDepth(text, MAX_CONFIG_DEPTH);
  if (depth > MAX_CONFIG_DEPTH) {
    throw new ConfigError(file, [
      {
        path: "",
        message: `the config nests [ ] / { } more than ${MAX_CONFIG_DEPTH} levels deep (the limit)`,
      },
    ]);
  }
  const lineCounter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter, uniqueKeys: true, logLevel: "error" });
  } catch (err) {
    // The composer recurses per nesting level: `[[[[…` deep enough overflows the stack.
    if (!(err instanceof RangeError)) throw err;
    throw new ConfigError(file, [
      {
        path: "",
        message: `the config nests too deeply to parse (limit ${MAX_CONFIG_DEPTH} levels)`,
      },
    ]);
  }
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: "",
          message: `invalid YAML: ${yamlMessage(e.message)}`,
          line: pos?.line,
          column: pos?.col,
        };
      }),
    );
  }

  const overridden: { path: readonly (string | number)[]; text: string }[] = [];
  for (const raw of options.overrides ?? []) {
    let o: ConfigOverride;
    try {
      o = typeof raw === "string" ? parseOverride(raw) : raw;
    } catch (err) {
      if (err instanceof OverrideError)
        throw new ConfigError(file, [{ path: "", message: err.message }]);
      throw err;
    }
    try {
      doc.setIn(o.path, o.value);
    } catch (err) {
      throw new ConfigError(file, [
        {
          path: o.path.join("."),
          message: `--set ${o.text}: cannot set this path (${(err as Error).message})`,
        },
      ]);
    }
    overridden.push({ path: o.path, text: o.text });
  }

  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      throw new ConfigError(file, [
        {
          path: "",
          message: `YAML aliases expand too much (more than ${MAX_YAML_ALIASES} alias expansions): refused as a resource-exhaustion attack`,
        },
      ]);
    }
    if (err instanceof ReferenceError || err instanceof RangeError) {
      throw new ConfigError(file, [
        { path: "", message: `invalid YAML: ${yamlMessage(err.message)}` },
      ]);
    }
    throw err;
  }
  const nested = valueDepth(input, MAX_CONFIG_DEPTH + 1);
  if (nested > MAX_CONFIG_DEPTH) {
    throw new ConfigError(file, [
      {
        path: "",
        message: `the config nests more than ${MAX_CONFIG_DEPTH} levels deep (the limit)`,
      },
    ]);
  }
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const issues = flattenIssues(result.error.issues).map((issue): ConfigIssue => {
      const path = issue.path as readonly (string | number)[];
      const found = valueAt(input, path);
      const pos = positionOf(doc, lineCounter, path);
      const via = overridden.find((o) => startsWith(path, o.path));
      let message = describeIssue(issue, found);
      if (via) message += ` (set by --set ${via.text})`;
      return { path: path.join("."), message, line: pos?.line, column: pos?.col };
    });
    // The guest-or-workload rule is a refinement, which zod skips once a field has failed:
    // report a missing section with the others.
    const root = input as Record<string, unknown> | null | undefined;
    if (
      root?.guest === undefined &&
      root?.workload === undefined &&
      !issues.some((i) => i.path === "guest")
    ) {
      issues.push({ path: "guest", message: MISSING_PROGRAM });
    }
    throw new ConfigError(file, issues);
  }
  const config = result.data;
  if (options.baseDir === undefined) return config;
  const configDir = resolve(options.baseDir);
  if (config.guest === undefined) return { ...config, configDir };
  return {
    ...config,
    configDir,
    guest: {
      ...config.guest,
      elf: resolve(options.baseDir, config.guest.elf),
      ...(config.guest.linux !== undefined
        ? {
            linux: {
              ...config.guest.linux,
              initrd:
                config.guest.linux.initrd === null
                  ? null
                  : resolve(options.baseDir, config.guest.linux.initrd),
            },
          }
        : {}),
    },
  };
}

/** Split `unrecognized_keys` issues into one issue per key so each gets its own path. */
function flattenIssues(issues: readonly core.$ZodIssue[]): core.$ZodIssue[] {
  const out: core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) out.push({ ...issue, keys: [key], path: [...issue.path, key] });
    } else out.push(issue);
  }
  return out;
}

function startsWith(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => String(p) === String(path[i]));
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

/** Longest found string quoted whole in a message; a longer one is cut (its length said). */
const FOUND_STRING_MAX = 80;

/**
 * Describe a found value for messages: `"abc"`, `12`, `true`, `a list`, `a mapping`, `nothing`;
 * a string over {@link FOUND_STRING_MAX} characters as its start and its length (a whole file read
 * as one scalar must not become the message).
 */
export function describeFound(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    if (value.length <= FOUND_STRING_MAX) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, FOUND_STRING_MAX - 20))}… (a string of ${value.length} characters)`;
  }
  return String(value);
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "a boolean",
  object: "a mapping",
  array: "a list",
};

function describeIssue(issue: core.$ZodIssue, found: unknown): string {
  const foundText = `found ${describeFound(found)}`;
  // Our schemas' own messages start with "expected"; zod's defaults do not.
  if (issue.message.startsWith("expected") && issue.code !== "unrecognized_keys") {
    return issue.message.includes("found") ? issue.message : `${issue.message}, ${foundText}`;
  }
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown field ${JSON.stringify(issue.keys[0])}`;
    case "invalid_type":
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, ${foundText}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, ${foundText}`;
    case "too_small": {
      const what = issue.origin === "array" ? "at least" : issue.inclusive ? ">=" : ">";
      const unit =
        issue.origin === "array" ? " items" : issue.origin === "string" ? " characters" : "";
      return `expected ${what} ${issue.minimum}${unit}, ${foundText}`;
    }
    case "too_big": {
      const what = issue.origin === "array" ? "at most" : issue.inclusive ? "<=" : "<";
      const unit = issue.origin === "array" ? " items" : "";
      return `expected ${what} ${issue.maximum}${unit}, ${foundText}`;
    }
    case "not_multiple_of":
      return `expected a multiple of ${issue.divisor}, ${foundText}`;
    default:
      return `${issue.message} (${foundText})`;
  }
}

/** Line/column of the node at `path`, or of its nearest existing ancestor. */
function positionOf(
  doc: ReturnType<typeof parseDocument>,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): { line: number; col: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]);
  }
  return undefined;
}

/**
 * Deepest nesting of YAML flow collections (`[`, `{`) in `text`, skipping quoted scalars and
 * comments; stops counting past `stop`. Lets `[[[[…` be refused before the parser recurses on it.
 */
function flowDepth(text: string, stop: number): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length && max <= stop; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      // A quoted scalar: skip to its closing quote ("" escapes by backslash, '' by doubling).
      for (i++; i < text.length && text[i] !== c; i++) if (c === '"' && text[i] === "\\") i++;
    } else if (c === "#" && (i === 0 || text[i - 1] === " " || text[i - 1] === "\n")) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "[" || c === "{") {
      depth++;
      if (depth > max) max = depth;
    } else if ((c === "]" || c === "}") && depth > 0) depth--;
  }
  return max;
}

/** Nesting depth of a parsed value (scalars 0), counted up to `stop`. */
function valueDepth(value: unknown, stop: number): number {
  if (value === null || typeof value !== "object") return 0;
  if (stop <= 0) return 1;
  let max = 0;
  for (const v of Object.values(value as object)) {
    const d = valueDepth(v, stop - 1);
    if (d > max) max = d;
    if (max >= stop) break;
  }
  return max + 1;
}
