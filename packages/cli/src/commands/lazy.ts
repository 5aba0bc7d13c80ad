/**
 * The commands `ferry` dispatches to, each imported on first use: `ferry --help` and
 * `ferry <command> --help` load only the command concerned (no emulator, no vega). A test checks
 * that every entry's name and summary equal those of the command it loads.
 */
import type { Command } from "../command";
import type { CliIo } from "../io";

/** What the dispatcher needs of a command before loading it (a {@link Command} is one). */
export interface CommandEntry {
  /** The word after `ferry`. */
  readonly name: string;
  /** One line for `ferry --help`. */
  readonly summary: string;
  /** Load the command and run it with the arguments after its name; resolve to the exit code. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}

/** An entry that imports its command when first run. */
export interface LazyCommandEntry extends CommandEntry {
  /** Import the command module. */
  load(): Promise<Command>;
}

function lazy(name: string, summary: string, load: () => Promise<Command>): LazyCommandEntry {
  return { name, summary, load, run: async (args, io) => (await load()).run(args, io) };
}

/** Every command, in help order. Add a command by writing its module and listing it here. */
export const commandEntries: readonly LazyCommandEntry[] = [
  lazy(
    "run",
    "run a guest config until the guest shuts down or the time limit",
    async () => (await import("./run")).runCommand,
  ),
  lazy(
    "migrate",
    "live-migrate a guest config over a virtual link and verify the result",
    async () => (await import("./migrate")).migrateCommand,
  ),
  lazy(
    "compare",
    "run one migration scenario under several strategy sets and tabulate the results",
    async () => (await import("./compare")).compareCommand,
  ),
  lazy(
    "dirty-rate",
    "measure a guest config's dirty page rate (QEMU's calc-dirty-rate) in virtual time",
    async () => (await import("./dirty-rate")).dirtyRateCommand,
  ),
  lazy(
    "snapshot",
    "run a guest to a point of virtual time and write a snapshot file",
    async () => (await import("./snapshot")).snapshotCommand,
  ),
  lazy(
    "restore",
    "load a snapshot file into a fresh machine and run it to the end",
    async () => (await import("./snapshot")).restoreCommand,
  ),
  lazy(
    "config",
    "validate a guest config, print the config JSON Schema or reference",
    async () => (await import("./config")).configCommand,
  ),
  lazy(
    "plugins",
    "list the migration plugins loaded and what each registers",
    async () => (await import("./registered")).pluginsCommand,
  ),
  lazy(
    "capabilities",
    "list migration capabilities with defaults and the plugin providing each",
    async () => (await import("./registered")).capabilitiesCommand,
  ),
  lazy(
    "params",
    "list migration parameters with defaults, ranges, units and the plugin providing each",
    async () => (await import("./registered")).paramsCommand,
  ),
  lazy(
    "isa-test",
    "run riscv-tests ELFs (tohost protocol) and report pass/fail",
    async () => (await import("./isa-test")).isaTestCommand,
  ),
];
