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

/** A value described for a message: strings quoted (cut), others as short JSON (cut). */
export function quoteValue(value: unknown, max: number = MAX_QUOTE_CHARS): string {
  if (typeof value === "string") return quote(value, max);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length <= max
    ? text
    : `${text.slice(0, max)}… (${text.length - max} more characters)`;
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
