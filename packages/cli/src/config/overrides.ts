/** `--set path=value` overrides of config fields. */
import { parse as parseYaml } from "yaml";
import {
  MAX_SET_INDEX,
  MAX_SET_PATH_SEGMENTS,
  MAX_SET_TEXT,
  MAX_YAML_ALIASES,
} from "../input/limits";
import { quote } from "../input/quote";

/** A parsed `--set` override. Numeric path segments index sequences (`guest.args.0=5`). */
export interface ConfigOverride {
  readonly path: readonly (string | number)[];
  readonly value: unknown;
  /** The original `path=value` text (for messages). */
  readonly text: string;
}

/** A `--set` argument that is not `path=value`. */
export class OverrideError extends Error {
  override readonly name = "OverrideError";
}

/**
 * Parse `path=value`. The value is parsed as YAML, so `2s`, `16MiB` and `on` stay strings,
 * `1024` is a number, `true` a boolean and `[1, 2]` a list.
 */
export function parseOverride(text: string): ConfigOverride {
  if (text.length > MAX_SET_TEXT) {
    throw new OverrideError(
      `--set ${quote(text)}: the argument is ${text.length} characters, above the limit of ${MAX_SET_TEXT}`,
    );
  }
  const eq = text.indexOf("=");
  if (eq <= 0) {
    throw new OverrideError(
      `expected --set path=value (like run.time-limit=2s), found ${quote(text)}`,
    );
  }
  const pathText = text.slice(0, eq).trim();
  const segments = pathText.split(".");
  if (segments.some((s) => s === "")) {
    throw new OverrideError(
      `expected a dotted path such as machine.memory, found ${quote(pathText)}`,
    );
  }
  if (segments.length > MAX_SET_PATH_SEGMENTS) {
    throw new OverrideError(
      `--set ${quote(pathText)}: the path has ${segments.length} segments, above the limit of ${MAX_SET_PATH_SEGMENTS}`,
    );
  }
  const path: (string | number)[] = [];
  for (const s of segments) {
    if (!/^\d+$/.test(s)) {
      path.push(s);
      continue;
    }
    // List indexes are bounded before anything is built: a huge index would make the YAML
    // library allocate a list of that length.
    const index = s.length > 16 ? Number.POSITIVE_INFINITY : Number(s);
    if (index > MAX_SET_INDEX) {
      throw new OverrideError(
        `--set ${quote(pathText)}: list index ${quote(s, 20)} is above the limit of ${MAX_SET_INDEX}`,
      );
    }
    path.push(index);
  }
  let value: unknown;
  try {
    value = parseYaml(text.slice(eq + 1), { maxAliasCount: MAX_YAML_ALIASES, logLevel: "error" });
  } catch (err) {
    throw new OverrideError(
      `--set ${quote(pathText)}: value is not valid YAML: ${(err as Error).message.split("\n")[0].slice(0, 200)}`,
    );
  }
  return { path, value: value === null && text.slice(eq + 1).trim() === "" ? "" : value, text };
}
