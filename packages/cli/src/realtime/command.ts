/** The `--realtime` branch of `ferry run` (options checked here, the run in run-realtime.ts). */
import { type ParsedArgs, UsageError, writeJson } from "../command";
import { loadConfig } from "../config";
import type { CliIo } from "../io";
import { parseIncomingOption, parseQmpOptions } from "./options";
import { runRealtime } from "./run-realtime";

/** Help lines `ferry run --help` shows for the realtime options. */
export const REALTIME_HELP = `  --realtime         Run on the realtime scheduler (wall time) instead of virtual time;
                     run.time-limit does not apply. See docs/qmp.md.
  --qmp ADDR         Open a QMP monitor on unix:<path> or tcp:<host>:<port> (repeatable;
                     TCP binds where asked, 127.0.0.1 when the host is empty). Needs --realtime.
  --incoming ADDR    Wait for a migration on tcp:<host>:<port>, unix:<path> or file:<path>,
                     or "defer" (then migrate-incoming over QMP). Needs --realtime.
  --pace             Pace vCPUs to machine.mips (default: as fast as the interpreter runs).
`;

/** Whether any realtime option was given. */
export function wantsRealtime(values: ParsedArgs["values"]): boolean {
  return (
    values.realtime === true ||
    values.qmp !== undefined ||
    values.incoming !== undefined ||
    values.pace === true
  );
}

/** Run `ferry run --realtime …`; resolves to the exit code. */
export async function runRealtimeCommand(
  parsed: ParsedArgs,
  io: CliIo,
  usage: string,
): Promise<number> {
  const { values, positionals } = parsed;
  if (values.realtime !== true) {
    throw new UsageError("run: --qmp, --incoming and --pace need --realtime", usage);
  }
  if (positionals.length !== 1) {
    throw new UsageError(`run: expected one config file, found ${positionals.length}`, usage);
  }
  const file = positionals[0];
  const config = loadConfig(file, (values.set as string[] | undefined) ?? []);
  if (config.guest === undefined) {
    throw new UsageError(
      "run --realtime: needs a guest config (workload configs run in virtual time only)",
      usage,
    );
  }
  const qmp = parseQmpOptions((values.qmp as string[] | undefined) ?? [], usage);
  const incoming =
    typeof values.incoming === "string" ? parseIncomingOption(values.incoming, usage) : undefined;
  const json = values.json === true;
  let output = "";
  const r = await runRealtime({
    config,
    configFile: file,
    qmp,
    ...(incoming !== undefined ? { incoming } : {}),
    pace: values.pace === true,
    onOutput: (text) => {
      if (json) output += text;
      else io.out(text);
    },
    onStatus: (line) => io.err(`${line}\n`),
  });
  if (json) writeJson(io, { ...r, guestOutput: output });
  else {
    const detail = r.message !== undefined ? `: ${r.message}` : "";
    const guest = r.guestCode !== null ? ` (guest code ${r.guestCode})` : "";
    io.err(`ferry: ${config.name}: ${r.status}${guest}${detail}\n`);
  }
  return r.exitCode;
}
