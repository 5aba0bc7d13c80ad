/** The `ferry` command-line entry: dispatch to a command and map errors to exit codes. */
import { InvalidArgumentError } from "@ferry/core";
import { MigrationConfigError, StreamError } from "@ferry/migration";
import { ElfError, RiscvOptionsError } from "@ferry/riscv";
import { type Command, UsageError } from "./command";
import { commands } from "./commands";
import { ConfigError } from "./config";
import { ExitCode } from "./exit-codes";
import { type CliIo, processIo } from "./io";
import { PluginLoadError } from "./migrate/config-plugins";
import { SnapshotError } from "./snapshot/snapshot";

function mainHelp(list: readonly Command[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    "ferry: run RISC-V guests and live-migrate them with pluggable strategies",
    "",
    "Usage: ferry <command> [options]",
    "",
    "Commands:",
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Every command accepts --help and --json.",
    "Exit codes: 0 ok, 1 guest or migration failure (or not converged), 2 bad input,",
    "3 time limit reached, 70 internal error, 130 interrupted (Ctrl-C).",
    "",
  ].join("\n");
}

/** Errors that mean bad input from the user (exit code 2) rather than a ferry bug. */
function isBadInput(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    err instanceof ElfError ||
    err instanceof RiscvOptionsError ||
    err instanceof InvalidArgumentError ||
    err instanceof MigrationConfigError ||
    err instanceof StreamError ||
    err instanceof PluginLoadError ||
    err instanceof SnapshotError
  );
}

/**
 * Run `ferry` with `argv` (the arguments after the program name). Resolves to the exit code;
 * never throws: errors are reported on `io` (as JSON on stdout when `--json` is given).
 */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo(),
  list: readonly Command[] = commands,
): Promise<number> {
  const json = argv.includes("--json");
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      io.out(mainHelp(list));
      return name === undefined ? ExitCode.BadInput : ExitCode.Ok;
    }
    const command = list.find((c) => c.name === name);
    if (!command) {
      throw new UsageError(
        `unknown command ${JSON.stringify(name)} (expected one of: ${list.map((c) => c.name).join(", ")})`,
        mainHelp(list),
      );
    }
    return await command.run(rest, io);
  } catch (err) {
    const badInput = isBadInput(err);
    const code = badInput ? ExitCode.BadInput : ExitCode.Internal;
    const message = err instanceof Error ? err.message : String(err);
    if (json) {
      io.out(`${JSON.stringify({ status: "error", exitCode: code, error: message }, null, 2)}\n`);
    } else if (err instanceof ConfigError && err.issues.length > 1) {
      io.err(
        `ferry: ${err.issues.length} problems in the config:\n  ${message.replaceAll("\n", "\n  ")}\n`,
      );
    } else if (badInput) {
      io.err(`ferry: ${message}\n`);
      if (err instanceof UsageError && err.usage !== "") io.err(`\n${err.usage}`);
    } else {
      io.err(`ferry: internal error: ${err instanceof Error ? (err.stack ?? message) : message}\n`);
    }
    return code;
  }
}
