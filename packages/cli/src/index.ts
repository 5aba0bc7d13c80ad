/**
 * @ferry/cli — the `ferry` command: guest-config loading (YAML + zod), `ferry run`,
 * `ferry config check|schema`, and the pieces other commands build on.
 */
export * from "./config";
export {
  type Command,
  COMMON_OPTIONS,
  type OptionSpec,
  type ParsedArgs,
  parseCommandArgs,
  UsageError,
  writeJson,
} from "./command";
export { commands } from "./commands";
export { configCommand, describeConfig } from "./commands/config";
export { runCommand } from "./commands/run";
export { ExitCode, type ExitCodeValue } from "./exit-codes";
export { type CapturedIo, captureIo, type CliIo, processIo } from "./io";
export { main } from "./main";
export {
  buildGuestMachine,
  classifyRun,
  type GuestMachine,
  type GuestRunReport,
  type GuestRunStatus,
  readGuestElf,
  type RunGuestOptions,
  guestOf,
  runGuest,
} from "./run/run-guest";
export { countSetPages, runWorkload, type WorkloadRunReport } from "./run/run-workload";
export {
  buildWorkloadMachine,
  WORKLOAD_RAM_BASE,
  type WorkloadMachine,
  type WorkloadMachineSaved,
  type WorkloadMachineState,
} from "./run/workload-machine";
export { migrateCommand } from "./commands/migrate";
export { formatMigrateReport, formatMigrateSummary, formatProgress } from "./migrate/format";
export { loadPlugins } from "./migrate/plugins";
export {
  type MigrateProgress,
  type MigrateReport,
  type MigrateStatus,
  type MigrateVerification,
  type RunMigrationOptions,
  runMigration,
} from "./migrate/run-migration";
export {
  convertParameter,
  PARAMETER_UNITS,
  type ParameterUnit,
  parameterUnit,
  parseCapabilityFlags,
  parseParameterFlags,
  resolveParameters,
} from "./migrate/settings";
export { buildSide, ramHash, type Side, type SideEnd } from "./migrate/sides";
