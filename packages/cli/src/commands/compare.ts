/** `ferry compare <config> --strategies <set>...`: one scenario under several strategy sets. */
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { formatCompareTable } from "../compare/format";
import { runCompare } from "../compare/run-compare";
import { parseStrategySets } from "../compare/strategies";
import { loadConfig } from "../config";
import { ExitCode } from "../exit-codes";
import { formatProgress } from "../migrate/format";
import { parseParameterFlags } from "../migrate/settings";
import { progressLine, withSigint } from "../progress-line";
import { ensureDirectory } from "../output/check-writable";
import { writeCompareReport } from "../report/write";

const HELP = `Usage: ferry compare <config.yaml> --strategies <set> [<set>...] [--param name=value]...
                     [--set path=value]... [--plugin name]... [--report dir]
                     [--require-converged] [--json]

Run the config's migration scenario once per strategy set (sequentially, each on fresh machines
and a fresh virtual clock: deterministic) and print one table: status, total time, downtime,
transferred, iterations (dirty-sync-count), max throttle % and guest work lost.

A strategy set is capability names joined by "+"; "precopy" names no capability (plain
pre-copy). Every capability not in the set is off (the config's migration.capabilities are
ignored). Parameters for one set follow a ":" as name=value pairs separated by ",":
  precopy  precopy+xbzrle  precopy+auto-converge  xbzrle+auto-converge
  precopy+auto-converge:cpu-throttle-initial=30,cpu-throttle-increment=20
Several sets may follow one --strategies (the config file comes first), or repeat the flag.

Guest work lost = work (instructions / operations) an unmigrated twin of the guest, started at
the same time on the same clock, did from the migration's start to its end, minus the work the
migrated guest did over that span (see docs/cli.md).

Options:
  --strategies set...  Strategy sets to compare (required).
  --param name=value   A migration parameter for every run (a set's own parameters win).
  --set path=value     Override a config field; value parsed as YAML (repeatable).
  --plugin name        Load a migration plugin (package name or path) after the built-ins.
  --report dir         Write report.json, series.csv and report.html (charts overlaid per
                       strategy set) into dir.
  --require-converged  Exit 1 when a strategy set does not converge.
  --json               Print { status, exitCode, rows, runs: [{ strategy, report }],
                       notConverged }.
  -h, --help           Show this help.

Ctrl-C cancels the running migration cleanly, skips the remaining sets and prints the partial
table (exit 130).
Exit codes: 0 the comparison ran: every run completed and verified or did not converge (a
strategy that does not converge is a result; --require-converged makes it exit 1); 1 a run
failed, was cancelled or failed verification; 2 bad input (config, unknown capability or
parameter, bad set); 130 interrupted.
`;

/** The `compare` command. */
export const compareCommand: Command = {
  name: "compare",
  summary: "run one migration scenario under several strategy sets and tabulate the results",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        strategies: { type: "string", multiple: true },
        set: { type: "string", multiple: true },
        param: { type: "string", multiple: true },
        "require-converged": { type: "boolean" },
        plugin: { type: "string", multiple: true },
        report: { type: "string" },
      },
      HELP,
    );
    if (values.help) {
      io.out(HELP);
      return ExitCode.Ok;
    }
    const strategyFlags = (values.strategies as string[] | undefined) ?? [];
    if (positionals.length === 0) {
      throw new UsageError("compare: expected a config file, found none", HELP);
    }
    if (strategyFlags.length === 0) {
      throw new UsageError("compare: expected --strategies <set>..., found none", HELP);
    }
    const [file, ...extraSets] = positionals;
    const sets = parseStrategySets([...strategyFlags, ...extraSets]);
    const parameters = parseParameterFlags((values.param as string[] | undefined) ?? []);
    const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
    const reportDir = values.report as string | undefined;
    if (reportDir === "") {
      throw new UsageError("--report: expected a directory, found an empty string", HELP);
    }
    // Before the run: a report directory that cannot be created or written fails now (exit 2).
    if (reportDir !== undefined) ensureDirectory(reportDir, "report directory");
    const json = values.json === true;
    const progress = !json && io.errIsTTY === true ? progressLine(io) : null;
    let report: Awaited<ReturnType<typeof runCompare>>;
    try {
      report = await withSigint((signal) =>
        runCompare(config, sets, {
          configFile: file,
          parameters,
          pluginFlags: (values.plugin as string[] | undefined) ?? [],
          signal,
          requireConverged: values["require-converged"] === true,
          onRunStart: json
            ? undefined
            : (label, i, n) => {
                progress?.clear();
                io.err(`ferry: compare ${i + 1}/${n}: ${label}\n`);
              },
          onProgress: progress
            ? (label, p) => progress.show(`[${label}] ${formatProgress(p).replace(/^ferry: /, "")}`)
            : undefined,
        }),
      );
    } finally {
      progress?.clear();
    }
    if (json) writeJson(io, report);
    else io.out(formatCompareTable(report));
    if (reportDir !== undefined) {
      const files = await writeCompareReport(reportDir, report, config.description);
      if (!json)
        io.err(`ferry: report written to ${files.dir} (report.html, report.json, series.csv)\n`);
    }
    if (!json) {
      io.err(
        `ferry: ${config.name}: compare ${report.status}: ${report.rows.length} strategy sets` +
          (report.notConverged.length > 0
            ? `, not converged: ${report.notConverged.join(", ")}`
            : "") +
          ` (exit ${report.exitCode}, ${report.wallMs} ms wall)\n`,
      );
    }
    return report.exitCode;
  },
};
