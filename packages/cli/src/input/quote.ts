/** Quoting user input in error messages: short, one line, never the whole input. */
import { MAX_ERROR_MESSAGE_CHARS, MAX_QUOTE_CHARS } from "./limits";

/**
 * `JSON.stringify` of at most `max` characters of `text` (one line: control characters escaped),
 * followed by `… (N more characters)` when cut.
 */
export function quote(text: string, max: number = MAX_QUOTE_CHARS): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length - max} more characters)`;
}

/**
 * A value described for a message: strings quoted (cut), others as compact JSON-like text of at
 * most `max` characters. Never recurses deeper than a few levels (a hostile value may nest
 * 100 000 deep) and never throws.
 */
export function quoteValue(value: unknown, max: number = MAX_QUOTE_CHARS): string {
  if (typeof value === "string") return quote(value, max);
  const text = shortText(value, 4, max + 1);
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** JSON-like text of `value`, `…` below `depth` levels, stopping once `budget` characters are out. */
function shortText(value: unknown, depth: number, budget: number): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "string") return JSON.stringify(value.slice(0, budget));
    if (typeof value === "bigint") return `${value}n`;
    return String(value);
  }
  if (depth === 0) return Array.isArray(value) ? "[…]" : "{…}";
  const parts: string[] = [];
  let used = 2;
  const entries = Array.isArray(value)
    ? value.map((v) => [null, v] as const)
    : Object.entries(value);
  for (const [key, v] of entries) {
    if (used >= budget) {
      parts.push("…");
      break;
    }
    const item =
      (key === null ? "" : `${JSON.stringify(key.slice(0, budget))}:`) +
      shortText(v, depth - 1, budget - used);
    parts.push(item);
    used += item.length + 1;
  }
  return Array.isArray(value) ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
}

/**
 * An error message made safe to print: at most `max` characters (cut with a note of how many
 * were left out) and no raw control characters except newlines between issues.
 */
export function boundMessage(message: string, max: number = MAX_ERROR_MESSAGE_CHARS): string {
  const clean = message.replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, (c) =>
    c === "\t" ? " " : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  if (clean.length <= max) return clean;
  return `${clean.slice(0, max)}… (message cut: ${clean.length - max} more characters)`;
}
