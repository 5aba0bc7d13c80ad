/**
 * The `ferry` command-line entry: dispatch to a command and map errors to exit codes. Commands
 * and the error classes of the packages are imported only when needed, so `ferry --help` starts
 * without loading the emulator.
 */
import { UsageError } from "./command";
import { type CommandEntry, commandEntries } from "./commands/lazy";
import { ExitCode } from "./exit-codes";
import { boundMessage } from "./input/quote";
import { OutputPathError } from "./output/check-writable";
import { type CliIo, processIo } from "./io";
import { describeErrno, InputFileError } from "./input/read-file";

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
  const { ConfigError, OverrideError, PluginLoadError, SnapshotError, UnitError } = cli;
  return (
    err instanceof ConfigError ||
    err instanceof UnitError ||
    err instanceof OverrideError ||
    err instanceof ElfError ||
    err instanceof RiscvOptionsError ||
    err instanceof InvalidArgumentError ||
    err instanceof MigrationConfigError ||
    err instanceof StreamError ||
    err instanceof PluginLoadError ||
    err instanceof SnapshotError ||
    err instanceof InputFileError ||
    err instanceof OutputPathError ||
    isEnvironmentError(err)
  );
}

/** The CLI's own input-error classes (loaded on the error path only). */
async function errorClasses() {
  const [{ ConfigError, OverrideError, UnitError }, { PluginLoadError }, { SnapshotError }] =
    await Promise.all([
      import("./config"),
      import("./migrate/config-plugins"),
      import("./snapshot/snapshot"),
    ]);
  return { ConfigError, OverrideError, PluginLoadError, SnapshotError, UnitError };
}

/**
 * A file-system or system-call failure (`ENOSPC`, `EACCES`, `EISDIR`, …) that reached the top:
 * the environment, not a ferry bug (exit code 2).
 */
function isEnvironmentError(err: unknown): err is NodeJS.ErrnoException {
  if (!(err instanceof Error)) return false;
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code) && typeof e.syscall === "string";
}

/** Most config issues listed in one error (the rest are counted). */
const MAX_LISTED_ISSUES = 20;

/** The one-line (or, for several config issues, one line per issue) text of an error. */
async function messageOf(err: unknown): Promise<string> {
  const { ConfigError } = await errorClasses();
  if (err instanceof ConfigError && err.issues.length > MAX_LISTED_ISSUES) {
    const shown = err.message.split("\n").slice(0, MAX_LISTED_ISSUES);
    shown.push(`… and ${err.issues.length - MAX_LISTED_ISSUES} more`);
    return shown.map((line) => boundMessage(line, 400)).join("\n");
  }
  if (err instanceof ConfigError) {
    return err.message
      .split("\n")
      .map((line) => boundMessage(line, 400))
      .join("\n");
  }
  if (isEnvironmentError(err)) {
    const e = err as NodeJS.ErrnoException;
    const where = e.path !== undefined ? ` ${e.path}` : "";
    return boundMessage(`${e.syscall}${where}: ${describeErrno(e.code)} (${e.code})`);
  }
  const text = err instanceof Error ? err.message : String(err);
  // One line: a message is never a dump of its input.
  return boundMessage(text.replaceAll("\n", " "));
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
    const message = await messageOf(err);
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
      const stack =
        err instanceof Error && err.stack !== undefined ? boundMessage(err.stack, 8000) : message;
      io.err(`ferry: internal error: ${stack}\n`);
    }
    return code;
  }
}
