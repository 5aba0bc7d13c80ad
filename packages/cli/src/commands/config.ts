/** `ferry config check <file>`, `ferry config schema` and `ferry config reference`. */
import { existsSync } from "node:fs";
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import {
  ConfigError,
  configJsonSchema,
  configReferenceMarkdown,
  type FerryConfig,
  formatSize,
  loadConfig,
} from "../config";
import { ExitCode } from "../exit-codes";
import type { CliIo } from "../io";
import { readGuestElf } from "../run/run-guest";

const HELP = `Usage:
  ferry config check <config.yaml> [--set path=value]... [--json]
  ferry config schema
  ferry config reference

Subcommands:
  check       Validate a guest config (after --set overrides) and print it normalized:
              sizes in bytes, durations in ns, bandwidths in bytes/s (with --json, as JSON).
  schema      Print the JSON Schema (draft 2020-12) of guest configs.
  reference   Print the field-by-field config reference as Markdown, generated from the
              schema (pnpm docs:config writes it to docs/config-reference.md).

Options:
  --set path=value   Override a field; value is parsed as YAML (repeatable).
  --json             Machine-readable output.
  -h, --help         Show this help.
`;

function formatNs(ns: number): string {
  if (ns === 0) return "0";
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

/** A human summary of a validated config. */
export function describeConfig(config: FerryConfig): string {
  const m = config.machine;
  const g = config.guest;
  const w = config.workload;
  const mig = config.migration;
  return [
    `name:      ${config.name}`,
    ...(config.description ? [`about:     ${config.description}`] : []),
    `machine:   ${m.vcpus} vCPU, ${formatSize(m.memoryBytes)} RAM (${m.ramBackend}), ${m.mips} MIPS,` +
      ` slice ${formatNs(m.sliceNs)}` +
      (m.dirtyTracking.kind === "ring"
        ? `, dirty ring of ${m.dirtyTracking.ringSize} entries`
        : ""),
    ...(g !== undefined && g.linux !== undefined
      ? [
          `kernel:    ${g.elf}`,
          `initrd:    ${g.linux.initrd ?? "none"}`,
          `bootargs:  ${g.linux.bootargs}`,
        ]
      : []),
    ...(g !== undefined && g.linux === undefined
      ? [`guest:     ${g.elf}`, `args:      [${g.args.join(", ")}]`]
      : []),
    ...(w !== undefined
      ? [
          `workload:  ${w.writesPerSecond} writes/s per vCPU x busy ${w.busyShare}, ` +
            `${w.readsPerWrite} reads/write, seed ${w.seed}, ${w.bytesPerWrite} B/write`,
          `pages:     ${JSON.stringify(w.distribution)}, zero-share ${w.zeroShare},` +
            ` delta-window ${w.deltaWindow}`,
        ]
      : []),
    `run:       time limit ${formatNs(config.run.timeLimitNs)}, seed ${config.run.seed}`,
    `migration: start after ${formatNs(mig.startAfterNs)}, link ${Number.isFinite(mig.link.bandwidthBytesPerSec) ? `${mig.link.bandwidthBytesPerSec} B/s` : "unlimited"}` +
      ` + ${formatNs(mig.link.latencyNs)}, capabilities ${JSON.stringify(mig.capabilities)},` +
      ` parameters ${JSON.stringify(mig.parameters)}`,
    "",
  ].join("\n");
}

async function check(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { set: { type: "string", multiple: true } },
    HELP,
  );
  if (values.help) {
    io.out(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      `config check: expected one config file, found ${positionals.length}`,
      HELP,
    );
  }
  const config = loadConfig(positionals[0], (values.set as string[] | undefined) ?? []);
  // The guest ELF (or kernel Image) must be a readable regular file within the size limit.
  if (config.guest !== undefined) readGuestElf(config, positionals[0]);
  const initrd = config.guest?.linux?.initrd;
  if (initrd !== undefined && initrd !== null && !existsSync(initrd)) {
    throw new ConfigError(positionals[0], [
      {
        path: "guest.initrd",
        message: `expected an existing cpio file, found no file at ${initrd}`,
      },
    ]);
  }
  if (values.json) writeJson(io, { status: "ok", file: positionals[0], config });
  else io.out(`${positionals[0]}: ok\n${describeConfig(config)}`);
  return ExitCode.Ok;
}

async function schema(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {}, HELP);
  if (values.help) {
    io.out(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length !== 0) {
    throw new UsageError(`config schema: expected no arguments, found ${positionals.length}`, HELP);
  }
  writeJson(io, configJsonSchema());
  return ExitCode.Ok;
}

async function reference(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {}, HELP);
  if (values.help) {
    io.out(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length !== 0) {
    throw new UsageError(
      `config reference: expected no arguments, found ${positionals.length}`,
      HELP,
    );
  }
  io.out(configReferenceMarkdown());
  return ExitCode.Ok;
}

/** The `config` command group. */
export const configCommand: Command = {
  name: "config",
  summary: "validate a guest config, print the config JSON Schema or reference",
  help: HELP,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === "check") return check(rest, io);
    if (sub === "schema") return schema(rest, io);
    if (sub === "reference") return reference(rest, io);
    if (sub === undefined || sub === "--help" || sub === "-h") {
      io.out(HELP);
      return sub === undefined ? ExitCode.BadInput : ExitCode.Ok;
    }
    throw new UsageError(
      `config: unknown subcommand ${JSON.stringify(sub)} (expected check, schema or reference)`,
      HELP,
    );
  },
};
