/** `ferry dirty-rate`: QEMU's calc-dirty-rate on a config's guest, in virtual time. */
import { DIRTY_RATE_MODES, DirtyRateError, type DirtyRateMode } from "@ferry/migration";
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { loadConfig, parseDuration, UnitError } from "../config";
import { formatDirtyRate, measureDirtyRate } from "../dirty-rate/measure";
import { ExitCode } from "../exit-codes";

const HELP = `Usage: ferry dirty-rate <config.yaml> [--mode page-sampling|dirty-bitmap|dirty-ring]
                        [--calc-time <duration>] [--sample-pages N] [--at <duration>]
                        [--set path=value]... [--json]

Run the config's guest (or workload) on a virtual clock until --at (default: the config's
migration.start-after), then measure how fast it dirties memory over --calc-time of virtual
time, as QEMU's calc-dirty-rate / query-dirty-rate do. Deterministic (same config and seed,
same numbers). Rates are in MB/s (QEMU's unit: MiB per second).

Modes (QEMU's):
  page-sampling  hash --sample-pages random pages per GiB at both ends of the window and scale
                 the changed share to RAM (default; any machine)
  dirty-bitmap   count the pages the dirty log reports over the window (machine.dirty-tracking:
                 bitmap, the default)
  dirty-ring     count each vCPU's dirty-ring entries: per-vCPU rates and their sum
                 (machine.dirty-tracking: ring)

Options:
  --mode mode          Measuring mode (default page-sampling).
  --calc-time dur      Window length: whole seconds 1..60, or 100ms..60000ms (default 1s).
  --sample-pages N     page-sampling only: pages per GiB, 128..4096 (default 512).
  --at dur             Virtual time since boot when the window opens (default
                       migration.start-after).
  --set path=value     Override a config field; value parsed as YAML (repeatable).
  --json               Print { status, exitCode, config, mode, atNs, windowNs, dirtyRate,
                       vcpus, samplePages, info, wallMs } (info is query-dirty-rate's answer).
  -h, --help           Show this help.

Exit codes: 0 measured; 1 the guest ended before the window closed; 2 bad input (config,
mode not available on this machine, out-of-range calc-time or sample-pages); 70 internal error.
`;

function duration(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new UsageError(`dirty-rate: expected --${flag} <duration>, found none`, HELP);
  }
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof UnitError) throw new UsageError(`--${flag} ${value}: ${err.message}`, HELP);
    throw err;
  }
}

/** The `dirty-rate` command. */
export const dirtyRateCommand: Command = {
  name: "dirty-rate",
  summary: "measure a guest config's dirty page rate (QEMU's calc-dirty-rate) in virtual time",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        mode: { type: "string" },
        "calc-time": { type: "string" },
        "sample-pages": { type: "string" },
        at: { type: "string" },
        set: { type: "string", multiple: true },
      },
      HELP,
    );
    if (values.help) {
      io.out(HELP);
      return ExitCode.Ok;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        `dirty-rate: expected one config file, found ${positionals.length}`,
        HELP,
      );
    }
    const mode = (values.mode ?? "page-sampling") as string;
    if (!DIRTY_RATE_MODES.includes(mode as DirtyRateMode)) {
      throw new UsageError(
        `--mode: expected page-sampling, dirty-bitmap or dirty-ring, found ${JSON.stringify(mode)}`,
        HELP,
      );
    }
    const calcNs = duration("calc-time", values["calc-time"]) ?? 1e9;
    const wholeSeconds = calcNs % 1e9 === 0;
    const calcTime = wholeSeconds ? calcNs / 1e9 : calcNs / 1e6;
    if (!Number.isInteger(calcTime)) {
      throw new UsageError(
        `--calc-time: expected whole seconds or whole milliseconds, found ${String(values["calc-time"])}`,
        HELP,
      );
    }
    let samplePages: number | undefined;
    if (values["sample-pages"] !== undefined) {
      samplePages = Number(values["sample-pages"]);
      if (!Number.isInteger(samplePages)) {
        throw new UsageError(
          `--sample-pages: expected an integer, found ${JSON.stringify(values["sample-pages"])}`,
          HELP,
        );
      }
    }
    const file = positionals[0];
    const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
    const atNs = duration("at", values.at) ?? config.migration.startAfterNs;
    let report: Awaited<ReturnType<typeof measureDirtyRate>>;
    try {
      report = await measureDirtyRate(config, {
        mode: mode as DirtyRateMode,
        calcTime,
        unit: wholeSeconds ? "second" : "millisecond",
        samplePages,
        atNs,
        configFile: file,
      });
    } catch (e) {
      if (e instanceof DirtyRateError) throw new UsageError(`dirty-rate: ${e.message}`, HELP);
      throw e;
    }
    if (values.json === true) {
      writeJson(io, report);
      return report.exitCode;
    }
    io.out(formatDirtyRate(report));
    io.err(
      report.status === "measured"
        ? `ferry: ${config.name}: dirty rate ${report.dirtyRate} MB/s (${report.mode}; ${report.wallMs} ms wall)\n`
        : `ferry: ${config.name}: ${report.message}\n`,
    );
    return report.exitCode;
  },
};
