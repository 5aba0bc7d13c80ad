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
export { isaTestCommand } from "./commands/isa-test";
export { type CommandEntry, commandEntries, type LazyCommandEntry } from "./commands/lazy";
export {
  capabilitiesCommand,
  paramsCommand,
  pluginsCommand,
  registeredFor,
} from "./commands/registered";
export {
  type CapabilityRow,
  describeRegistered,
  formatCapabilities,
  formatParameters,
  formatPlugins,
  formatTable,
  type ParameterRow,
  type PluginRow,
  type Registered,
} from "./inspect/registered";
export { type IsaTestOptions, type IsaTestResult, runIsaTest } from "./isa/run-isa-test";
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
export { buildWorkloadMachine, workloadMachineOptions } from "./run/workload-config";
export { migrateCommand } from "./commands/migrate";
export { formatMigrateReport, formatMigrateSummary, formatProgress } from "./migrate/format";
export { loadPlugins } from "./migrate/plugins";
export {
  type DeclaredReading,
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
export {
  type CompareReport,
  type CompareRow,
  type CompareRun,
  compareRowOf,
  faultLatencyOf,
  multifdBytesOf,
  type RunCompareOptions,
  runCompare,
} from "./compare/run-compare";
export {
  type CompareColumn,
  compareColumns,
  formatCompareTable,
  formatLatencyNs,
} from "./compare/format";
export { parseStrategySet, parseStrategySets, type StrategySet } from "./compare/strategies";
export { compareCommand } from "./commands/compare";
export { restoreCommand, snapshotCommand } from "./commands/snapshot";
export {
  importPlugin,
  isFerryPlugin,
  loadPluginSet,
  PluginLoadError,
  type PluginSetFactory,
  type PluginSpec,
  pluginSpecs,
} from "./migrate/config-plugins";
export { ModuleResolveError, resolveModule } from "./migrate/resolve-module";
export type { GuestWorkLost } from "./migrate/run-migration";
export { type ProgressLine, progressLine, withSigint } from "./progress-line";
export {
  type Chart,
  type ChartRun,
  chartSpecs,
  lineChartSpec,
  MAX_POINTS_PER_LINE,
  renderCharts,
  renderSvg,
} from "./report/charts";
export { controllerChartSpec } from "./report/controller-chart";
export { type DeclaredRow, type DeclaredSample, declaredJoin } from "./report/declared";
export { displayUnit, formatDeclared } from "./report/declared-units";
export { CSV_COLUMNS, seriesCsv } from "./report/csv";
export { escapeHtml, type HtmlReportInput, type HtmlRun, reportHtml } from "./report/html";
export { buildReportSeries, type ReportSample, type WorkSample } from "./report/series";
export { type ReportFiles, writeCompareReport, writeMigrateReport } from "./report/write";
export {
  type RestoreOptions,
  type RestoreReport,
  type RestoreStatus,
  restoreFromSnapshot,
  SNAPSHOT_META_KEY,
  SnapshotError,
  type SnapshotMeta,
  type SnapshotReport,
  type TakeSnapshotOptions,
  takeSnapshot,
} from "./snapshot/snapshot";
