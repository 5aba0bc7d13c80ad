/**
 * Strategy sets of `ferry compare`: `+`-joined capability names, each optionally followed by
 * `:name=value,name=value` migration parameters. `precopy` names no capability (plain pre-copy):
 * `precopy`, `precopy+xbzrle`, `precopy+auto-converge:cpu-throttle-initial=30`,
 * `xbzrle+auto-converge:x-auto-converge-policy=rfc-2013,xbzrle-cache-size=64MiB`.
 */
import { UsageError } from "../command";

/** One parsed strategy set. */
export interface StrategySet {
  /** The set as written (the label in tables, charts and reports). */
  readonly label: string;
  /** Capabilities turned on (every other capability is off). */
  readonly capabilities: readonly string[];
  /** Parameters as written (units converted later, like `--param`). */
  readonly parameters: Readonly<Record<string, string>>;
}

const NAME = /^[a-z0-9][a-z0-9-]*$/i;

function bad(text: string, why: string): never {
  throw new UsageError(
    `--strategies ${JSON.stringify(text)}: ${why} (expected capability names joined by "+", each ` +
      'optionally followed by ":param=value,param=value", e.g. precopy+auto-converge:cpu-throttle-initial=30)',
  );
}

/**
 * Parse one strategy set.
 * @throws UsageError naming the set, what was expected and what was found.
 */
export function parseStrategySet(text: string): StrategySet {
  const label = text.trim();
  if (label === "") bad(text, "found an empty set");
  const capabilities: string[] = [];
  const parameters: Record<string, string> = {};
  for (const term of label.split("+")) {
    const colon = term.indexOf(":");
    const name = (colon < 0 ? term : term.slice(0, colon)).trim();
    if (!NAME.test(name))
      bad(text, `found ${JSON.stringify(name)} where a capability name belongs`);
    if (name !== "precopy") {
      if (capabilities.includes(name)) bad(text, `found capability ${name} twice`);
      capabilities.push(name);
    }
    if (colon < 0) continue;
    const list = term.slice(colon + 1);
    for (const assignment of list.split(",")) {
      const eq = assignment.indexOf("=");
      const key = eq < 0 ? "" : assignment.slice(0, eq).trim();
      const value = eq < 0 ? "" : assignment.slice(eq + 1).trim();
      if (!NAME.test(key) || value === "") {
        bad(text, `found ${JSON.stringify(assignment)} where param=value belongs`);
      }
      parameters[key] = value;
    }
  }
  return { label, capabilities, parameters };
}

/**
 * Parse the `--strategies` values (each value may also hold several sets separated by spaces).
 * @throws UsageError for none, a duplicate label or a malformed set.
 */
export function parseStrategySets(values: readonly string[]): StrategySet[] {
  const sets = values
    .flatMap((v) => v.split(/\s+/))
    .filter((v) => v !== "")
    .map(parseStrategySet);
  if (sets.length === 0) {
    throw new UsageError(
      "compare: expected at least one strategy set after --strategies, found none",
    );
  }
  const seen = new Set<string>();
  for (const s of sets) {
    if (seen.has(s.label)) throw new UsageError(`--strategies: found ${s.label} twice`);
    seen.add(s.label);
  }
  return sets;
}
