/**
 * Migration capabilities and parameters from a config and from `--capability` / `--param`
 * flags: flags win; parameter values with units are converted to the registry's units
 * (`downtime-limit: 300ms` → 300, `max-bandwidth: 128MiB/s` → bytes/s, `xbzrle-cache-size:
 * 64MiB` → bytes). Names, types and ranges are then checked by the migration registry.
 */
import { UsageError } from "../command";
import {
  type ParameterValue,
  parseBandwidth,
  parseDuration,
  parseSize,
  UnitError,
} from "../config";

/** How a parameter's value is measured. */
export type ParameterUnit = "ms" | "bytes" | "bytes/s";

/** Units of the known QEMU / ferry parameters that take one. */
export const PARAMETER_UNITS: Readonly<Record<string, ParameterUnit>> = {
  "downtime-limit": "ms",
  "max-bandwidth": "bytes/s",
  "avail-switchover-bandwidth": "bytes/s",
  "xbzrle-cache-size": "bytes",
  "x-rfc2013-sleep-ms": "ms",
  "x-rfc2013-run-ms": "ms",
};

/** The unit of parameter `name`: listed, or by suffix (`-bandwidth`, `-size`, `-ms`). */
export function parameterUnit(name: string): ParameterUnit | undefined {
  const listed = PARAMETER_UNITS[name];
  if (listed) return listed;
  if (name.endsWith("-bandwidth")) return "bytes/s";
  if (name.endsWith("-size")) return "bytes";
  if (name.endsWith("-ms")) return "ms";
  return undefined;
}

const NUMBER = /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/;

/**
 * Convert one parameter value as written: numbers stay; `on`/`true`/`off`/`false` become booleans;
 * numeric strings become numbers; strings with units are converted to the parameter's unit;
 * other strings (enum values) stay strings.
 * @throws UsageError when a value with a unit does not parse for that parameter.
 */
export function convertParameter(name: string, value: ParameterValue): ParameterValue {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (text === "true" || text === "on") return true;
  if (text === "false" || text === "off") return false;
  if (NUMBER.test(text)) return Number(text);
  const unit = parameterUnit(name);
  if (unit === undefined || !/^\s*\d/.test(text)) return value;
  try {
    if (unit === "ms") return parseDuration(text) / 1e6;
    if (unit === "bytes") return parseSize(text);
    return parseBandwidth(text);
  } catch (err) {
    if (err instanceof UnitError)
      throw new UsageError(`migration parameter ${name}: ${err.message}`);
    throw err;
  }
}

function splitFlag(flag: string, what: string): [string, string] {
  const eq = flag.indexOf("=");
  if (eq <= 0) {
    throw new UsageError(`--${what} ${flag}: expected name=value, found no "="`);
  }
  return [flag.slice(0, eq).trim(), flag.slice(eq + 1).trim()];
}

/** Parse `--capability name=on|off` flags (also `true`/`false`). */
export function parseCapabilityFlags(flags: readonly string[]): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const flag of flags) {
    const [name, v] = splitFlag(flag, "capability");
    const value = v.toLowerCase();
    if (value === "on" || value === "true") out[name] = true;
    else if (value === "off" || value === "false") out[name] = false;
    else {
      throw new UsageError(
        `--capability ${flag}: expected on or off (or true/false), found ${JSON.stringify(v)}`,
      );
    }
  }
  return out;
}

/** Parse `--param name=value` flags (values kept as strings; see {@link convertParameter}). */
export function parseParameterFlags(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const [name, value] = splitFlag(flag, "param");
    out[name] = value;
  }
  return out;
}

/** Merge config and flag parameters (flags win) and convert units. */
export function resolveParameters(
  fromConfig: Readonly<Record<string, ParameterValue>>,
  fromFlags: Readonly<Record<string, ParameterValue>>,
): Record<string, ParameterValue> {
  const merged = { ...fromConfig, ...fromFlags };
  const out: Record<string, ParameterValue> = {};
  for (const [name, value] of Object.entries(merged)) out[name] = convertParameter(name, value);
  return out;
}
