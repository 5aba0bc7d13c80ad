/** Load a YAML guest config: parse, apply `--set` overrides, validate, resolve paths. */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { core } from "zod";
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
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(err);
    throw new ConfigError(path, [{ path: "", message: `cannot read the config: ${reason}` }]);
  }
  return parseConfigText(text, { file: path, baseDir: dirname(resolve(path)), overrides });
}

/** Parse and validate config text (see {@link loadConfig}). */
export function parseConfigText(text: string, options: ParseConfigOptions = {}): FerryConfig {
  const file = options.file ?? "<inline>";
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: "",
          message: `invalid YAML: ${e.message.split("\n")[0]}`,
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

  const input: unknown = doc.toJS();
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

/** Describe a found value for messages: `"abc"`, `12`, `true`, `a list`, `a mapping`, `nothing`. */
export function describeFound(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
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
