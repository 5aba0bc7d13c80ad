/**
 * The `ferry` command-line entry: dispatch to a command and map errors to exit codes. Commands
 * and the error classes of the packages are imported only when needed, so `ferry --help` starts
 * without loading the emulator.
 */
import { UsageError } from "./command";
import { type CommandEntry, commandEntries } from "./commands/lazy";
import { ExitCode } from "./exit-codes";
import { type CliIo, processIo } from "./io";

function mainHelp(list: readonly CommandEntry[]): string {
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
async function isBadInput(err: unknown): Promise<boolean> {
  if (err instanceof UsageError) return true;
  const [{ InvalidArgumentError }, { MigrationConfigError, StreamError }, riscv, cli] =
    await Promise.all([
      import("@ferry/core"),
      import("@ferry/migration"),
      import("@ferry/riscv"),
      errorClasses(),
    ]);
  const { ElfError, RiscvOptionsError } = riscv;
  const { ConfigError, PluginLoadError, SnapshotError } = cli;
  return (
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

/** The CLI's own input-error classes (loaded on the error path only). */
async function errorClasses() {
  const [{ ConfigError }, { PluginLoadError }, { SnapshotError }] = await Promise.all([
    import("./config"),
    import("./migrate/config-plugins"),
    import("./snapshot/snapshot"),
  ]);
  return { ConfigError, PluginLoadError, SnapshotError };
}

/**
 * Run `ferry` with `argv` (the arguments after the program name). Resolves to the exit code;
 * never throws: errors are reported on `io` (as JSON on stdout when `--json` is given).
 */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo(),
  list: readonly CommandEntry[] = commandEntries,
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
    const badInput = await isBadInput(err);
    const code = badInput ? ExitCode.BadInput : ExitCode.Internal;
    const message = err instanceof Error ? err.message : String(err);
    if (json) {
      io.out(`${JSON.stringify({ status: "error", exitCode: code, error: message }, null, 2)}\n`);
    } else if (err instanceof (await errorClasses()).ConfigError && err.issues.length > 1) {
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
