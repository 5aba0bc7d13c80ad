/** `ferry snapshot` and `ferry restore`: a guest to a file and back (file transport). */
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { loadConfig, parseDuration, UnitError } from "../config";
import { ExitCode } from "../exit-codes";
import { checkWritableFile } from "../output/check-writable";
import { withSigint } from "../progress-line";
import { restoreFromSnapshot, takeSnapshot } from "../snapshot/snapshot";

const SNAPSHOT_HELP = `Usage: ferry snapshot <config.yaml> --at <duration> --out <file> [--set path=value]... [--json]

Run the config's guest (or workload) on a virtual clock until --at (virtual time since boot,
e.g. 50ms, 1.5s), then write a snapshot of the whole machine (RAM and vCPU/device state) to
--out in ferry's migration stream format, and stop. Restore it with ferry restore.

Options:
  --at duration      When to take the snapshot (virtual time; a bare number means seconds).
  --out file         The snapshot file to write.
  --set path=value   Override a config field; value parsed as YAML (repeatable).
  --json             Print { status, exitCode, file, atNs, snapshot: { bytes, zeroPages,
                     normalPages }, guestOutput, work, wallMs }.
  -h, --help         Show this help.

The guest's output up to the snapshot goes to stdout (not with --json), a summary to stderr.
Exit codes: 0 written; 1 the guest shut down before --at (nothing written); 2 bad input;
70 internal error.
`;

const RESTORE_HELP = `Usage: ferry restore <config.yaml> <file> [--set path=value]... [--json]

Build a fresh machine from the config, load the snapshot file written by ferry snapshot (of the
same config) into it and run it until the guest shuts down or run.time-limit passes (counted
from boot: the time before the snapshot counts). The output after the snapshot point and the
exit code equal those of ferry run on the same config.

Options:
  --set path=value   Override a config field; value parsed as YAML (repeatable).
  --json             Print { status, exitCode, file, snapshotAtNs, guestCode, guestOutput,
                     virtualTimeNs, work, wallMs } instead of streaming output.
  -h, --help         Show this help.

Exit codes (as ferry run): 0 guest passed (workload: ran to the limit); 1 guest failed;
2 bad input (config, missing or corrupt snapshot, snapshot of another config); 3 time limit
reached; 70 internal error; 130 interrupted.
`;

function durationFlag(value: unknown, usage: string): number {
  if (typeof value !== "string" || value === "") {
    throw new UsageError("snapshot: expected --at <duration> (e.g. 50ms), found none", usage);
  }
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof UnitError) throw new UsageError(`--at ${value}: ${err.message}`, usage);
    throw err;
  }
}

/** The `snapshot` command. */
export const snapshotCommand: Command = {
  name: "snapshot",
  summary: "run a guest to a point of virtual time and write a snapshot file",
  help: SNAPSHOT_HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { at: { type: "string" }, out: { type: "string" }, set: { type: "string", multiple: true } },
      SNAPSHOT_HELP,
    );
    if (values.help) {
      io.out(SNAPSHOT_HELP);
      return ExitCode.Ok;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        `snapshot: expected one config file, found ${positionals.length}`,
        SNAPSHOT_HELP,
      );
    }
    const atNs = durationFlag(values.at, SNAPSHOT_HELP);
    const out = values.out;
    if (typeof out !== "string" || out === "") {
      throw new UsageError("snapshot: expected --out <file>, found none", SNAPSHOT_HELP);
    }
    const file = positionals[0];
    const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
    // Before the guest runs to --at: a snapshot file that cannot be written fails now (exit 2).
    checkWritableFile(out, "snapshot file");
    const report = await takeSnapshot(config, { atNs, out, configFile: file });
    if (values.json === true) {
      writeJson(io, report);
      return report.exitCode;
    }
    io.out(report.guestOutput);
    if (report.snapshot !== null) {
      io.err(
        `ferry: ${config.name}: snapshot at ${(report.atNs / 1e6).toFixed(3)} ms virtual written to ` +
          `${out} (${report.snapshot.bytes} bytes, ${report.snapshot.normalPages} pages, ` +
          `${report.snapshot.zeroPages} zero pages; ${report.wallMs} ms wall)\n`,
      );
    } else io.err(`ferry: ${config.name}: ${report.message}\n`);
    return report.exitCode;
  },
};

/** The `restore` command. */
export const restoreCommand: Command = {
  name: "restore",
  summary: "load a snapshot file into a fresh machine and run it to the end",
  help: RESTORE_HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { set: { type: "string", multiple: true } },
      RESTORE_HELP,
    );
    if (values.help) {
      io.out(RESTORE_HELP);
      return ExitCode.Ok;
    }
    if (positionals.length !== 2) {
      throw new UsageError(
        `restore: expected a config file and a snapshot file, found ${positionals.length} arguments`,
        RESTORE_HELP,
      );
    }
    const [file, snapshot] = positionals;
    const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
    const report = await withSigint((signal) =>
      restoreFromSnapshot(config, snapshot, { configFile: file, signal }),
    );
    if (values.json === true) {
      writeJson(io, report);
      return report.exitCode;
    }
    io.out(report.guestOutput);
    const code = report.guestCode !== null ? ` (guest code ${report.guestCode})` : "";
    const detail = report.message !== undefined ? `: ${report.message}` : "";
    io.err(
      `ferry: ${config.name}: restored from ${(report.snapshotAtNs / 1e6).toFixed(3)} ms; ` +
        `${report.status}${code}${detail} at ${(report.virtualTimeNs / 1e6).toFixed(3)} ms virtual, ` +
        `${report.wallMs} ms wall\n`,
    );
    return report.exitCode;
  },
};
