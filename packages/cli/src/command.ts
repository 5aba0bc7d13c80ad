/** The shape of a `ferry` command and argument-parsing helpers shared by every command. */
import { parseArgs } from "node:util";
import type { CliIo } from "./io";

/** Bad command-line usage (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
  /** The usage text of the command concerned, shown after the message. */
  readonly usage: string;
  constructor(message: string, usage = "") {
    super(message);
    this.usage = usage;
  }
}

/** A `ferry` command (or a group of subcommands, which dispatches itself). */
export interface Command {
  /** The word after `ferry` (`run`, `config`). */
  readonly name: string;
  /** One line for `ferry --help`. */
  readonly summary: string;
  /** Full help text for `ferry <name> --help`. */
  readonly help: string;
  /** Run with the arguments after the command name; resolve to the exit code. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}

/** Option spec accepted by {@link parseCommandArgs} (a subset of `node:util` `parseArgs`). */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
} as const satisfies OptionSpec;

/** Parsed command line of one command. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
}

/**
 * Parse `args` strictly with `node:util` `parseArgs` (plus `--help` and `--json`).
 * @throws UsageError for unknown options or a missing option value.
 */
export function parseCommandArgs(
  args: readonly string[],
  options: OptionSpec,
  usage: string,
): ParsedArgs {
  try {
    const parsed = parseArgs({
      args: [...args],
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

/** Write `value` as pretty JSON followed by a newline. */
export function writeJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
