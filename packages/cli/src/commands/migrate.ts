/** `ferry migrate <config>`: live-migrate the config's guest and verify the result. */
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { loadConfig } from "../config";
import { ExitCode } from "../exit-codes";
import { formatMigrateReport, formatMigrateSummary, formatProgress } from "../migrate/format";
import { runMigration } from "../migrate/run-migration";
import { parseCapabilityFlags, parseParameterFlags } from "../migrate/settings";
import { progressLine, withSigint } from "../progress-line";
import { ensureDirectory } from "../output/check-writable";
import { writeMigrateReport } from "../report/write";

const HELP = `Usage: ferry migrate <config.yaml> [--capability name=on|off]... [--param name=value]...
                     [--set path=value]... [--plugin name]... [--report dir] [--json]

Run the config's guest (or workload) on a virtual clock, start a live migration at
migration.start-after over an in-process link (migration.link bandwidth/latency) to a
destination machine built from the same config, keep the destination running to the end of
the guest (or run.time-limit), then print info migrate, the guest output of both sides and a
verification block: RAM and vCPU/device state equal at switchover, and (guests) output and exit
equal to an unmigrated run of the same config.

Options:
  --capability name=on|off  Set a migration capability (wins over migration.capabilities).
  --param name=value        Set a migration parameter; units allowed (downtime-limit=300ms,
                            max-bandwidth=128MiB/s, xbzrle-cache-size=64MiB).
  --set path=value          Override a config field; value parsed as YAML (repeatable).
  --plugin name             Load a migration plugin (package name or path, from the working
                            directory) after the built-ins and the config's plugins: list.
  --report dir              Write report.json, series.csv and report.html (charts) into dir.
  --json                    Print { status, exitCode, stats, verification, series,
                            guestOutput, ... } as one JSON document.
  -h, --help                Show this help.

A live progress line is shown on stderr when it is a terminal (not with --json).
Ctrl-C cancels the migration cleanly (the source keeps running) and prints the partial report.

Exit codes: 0 completed and verified; 1 verification failed, migration failed or cancelled, or
not converged (still active at run.time-limit); 2 bad input (config, unknown capability or
parameter, bad value); 130 interrupted; 70 internal error.
`;

/** The `migrate` command. */
export const migrateCommand: Command = {
  name: "migrate",
  summary: "live-migrate a guest config over a virtual link and verify the result",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        set: { type: "string", multiple: true },
        capability: { type: "string", multiple: true },
        param: { type: "string", multiple: true },
        plugin: { type: "string", multiple: true },
        report: { type: "string" },
      },
      HELP,
    );
    if (values.help) {
      io.out(HELP);
      return ExitCode.Ok;
    }
    if (positionals.length !== 1) {
      throw new UsageError(`migrate: expected one config file, found ${positionals.length}`, HELP);
    }
    const file = positionals[0];
    const capabilities = parseCapabilityFlags((values.capability as string[] | undefined) ?? []);
    const parameters = parseParameterFlags((values.param as string[] | undefined) ?? []);
    const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
    const json = values.json === true;
    const progress = !json && io.errIsTTY === true ? progressLine(io) : null;
    const reportDir = values.report as string | undefined;
    if (reportDir === "")
      throw new UsageError("--report: expected a directory, found an empty string", HELP);
    // Before the run: a report directory that cannot be created or written fails now (exit 2).
    if (reportDir !== undefined) ensureDirectory(reportDir, "report directory");
    let report: Awaited<ReturnType<typeof runMigration>>;
    try {
      report = await withSigint((signal) =>
        runMigration(config, {
          configFile: file,
          capabilities,
          parameters,
          pluginFlags: (values.plugin as string[] | undefined) ?? [],
          signal,
          onProgress: progress ? (p) => progress.show(formatProgress(p)) : undefined,
        }),
      );
    } finally {
      progress?.clear();
    }
    if (json) writeJson(io, report);
    else io.out(formatMigrateReport(report));
    if (reportDir !== undefined) {
      const files = await writeMigrateReport(reportDir, config.name, report, config.description);
      if (!json)
        io.err(`ferry: report written to ${files.dir} (report.html, report.json, series.csv)\n`);
    }
    if (!json) io.err(formatMigrateSummary(config.name, report));
    return report.exitCode;
  },
};
