/** `ferry run <config>`: run a guest to shutdown or its time limit. */
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { loadConfig } from "../config";
import { ExitCode } from "../exit-codes";
import { runGuest } from "../run/run-guest";
import { runWorkload } from "../run/run-workload";
import { REALTIME_HELP, runRealtimeCommand, wantsRealtime } from "../realtime/command";

const HELP = `Usage: ferry run <config.yaml> [--set path=value]... [--json]

Build the machine the config describes (virtual time, riscv backend), load the guest ELF,
write its boot arguments, and run until the guest shuts down or run.time-limit of virtual time
passes. Guest UART output streams to stdout; a summary goes to stderr.
A workload config (workload: instead of guest:) runs its synthetic dirtier for run.time-limit
and reports operations and distinct pages dirtied ({ status: "done", kind: "workload", ... }).

Options:
  --set path=value   Override a config field; value parsed as YAML (repeatable).
  --json             Print { status, exitCode, guestCode, guestOutput, virtualTimeNs,
                     instructions, wallMs } instead of streaming output.
${REALTIME_HELP}  -h, --help         Show this help.

Exit codes: 0 guest passed, 1 guest failed, 2 bad input, 3 time limit reached, 70 internal error.
`;

/** The `run` command. */
export const runCommand: Command = {
  name: "run",
  summary: "run a guest config until the guest shuts down or the time limit",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        set: { type: "string", multiple: true },
        realtime: { type: "boolean" },
        qmp: { type: "string", multiple: true },
        incoming: { type: "string" },
        pace: { type: "boolean" },
        object: { type: "string", multiple: true },
        "peer-timeout": { type: "string" },
      },
      HELP,
    );
    if (values.help) {
      io.out(HELP);
      return ExitCode.Ok;
    }
    if (wantsRealtime(values)) return runRealtimeCommand({ values, positionals }, io, HELP);
    if (positionals.length !== 1) {
      throw new UsageError(`run: expected one config file, found ${positionals.length}`, HELP);
    }
    const file = positionals[0];
    const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
    const json = values.json === true;
    if (config.workload !== undefined) {
      const w = await runWorkload(config);
      if (json) writeJson(io, w);
      else {
        const detail = w.message !== undefined ? `: ${w.message}` : "";
        io.err(
          `ferry: ${config.name}: ${w.status}${detail} after ${(w.virtualTimeNs / 1e9).toFixed(3)} s virtual, ` +
            `${w.operations} operations, ${w.pagesDirtied} pages dirtied, ${w.wallMs} ms wall\n`,
        );
      }
      return w.exitCode;
    }
    const report = await runGuest(config, {
      configFile: file,
      onOutput: json ? undefined : (text) => io.out(text),
    });
    if (json) {
      writeJson(io, report);
    } else {
      const guest = report.guestCode !== null ? ` (guest code ${report.guestCode})` : "";
      const detail = report.message !== undefined ? `: ${report.message}` : "";
      io.err(
        `ferry: ${config.name}: ${report.status}${guest}${detail} after ` +
          `${(report.virtualTimeNs / 1e6).toFixed(3)} ms virtual, ${report.instructions} instructions, ` +
          `${report.wallMs} ms wall\n`,
      );
    }
    return report.exitCode;
  },
};
