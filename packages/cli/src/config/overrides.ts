/** `--set path=value` overrides of config fields. */
import { parse as parseYaml } from "yaml";

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
  const eq = text.indexOf("=");
  if (eq <= 0) {
    throw new OverrideError(
      `expected --set path=value (like run.time-limit=2s), found ${JSON.stringify(text)}`,
    );
  }
  const pathText = text.slice(0, eq).trim();
  const segments = pathText.split(".");
  if (segments.some((s) => s === "")) {
    throw new OverrideError(
      `expected a dotted path such as machine.memory, found ${JSON.stringify(pathText)}`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text.slice(eq + 1));
  } catch (err) {
    throw new OverrideError(
      `--set ${pathText}: value is not valid YAML: ${(err as Error).message}`,
    );
  }
  const path = segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  return { path, value: value === null && text.slice(eq + 1).trim() === "" ? "" : value, text };
}
