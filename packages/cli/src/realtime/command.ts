/** The `--realtime` branch of `ferry run` (options checked here, the run in run-realtime.ts). */
import { type ParsedArgs, UsageError, writeJson } from "../command";
import { loadConfig } from "../config";
import type { CliIo } from "../io";
import {
  parseIncomingOption,
  parseObjectOptions,
  parsePeerTimeout,
  parseQmpOptions,
} from "./options";
import { runRealtime } from "./run-realtime";

/** Help lines `ferry run --help` shows for the realtime options. */
export const REALTIME_HELP = `  --realtime         Run on the realtime scheduler (wall time) instead of virtual time;
                     run.time-limit does not apply. See docs/qmp.md.
  --qmp ADDR         Open a QMP monitor on unix:<path> or tcp:<host>:<port> (repeatable;
                     TCP binds where asked, 127.0.0.1 when the host is empty). Needs --realtime.
  --incoming ADDR    Wait for a migration on tcp:<host>:<port>, unix:<path> or file:<path>,
                     or "defer" (then migrate-incoming over QMP). Needs --realtime.
  --pace             Pace vCPUs to machine.mips (default: as fast as the interpreter runs).
  --object SPEC      Create an object, as QEMU's -object (repeatable):
                     tls-creds-x509,id=ID,dir=DIR,endpoint=server|client[,verify-peer=on|off],
                     authz-simple,id=ID,identity=DN, authz-list,id=ID,policy=deny,
                     rules.0.match=DN,rules.0.policy=allow (a comma in a value is ",,"), or
                     a JSON object with "qom-type". Used by the tls-creds / tls-authz migration
                     parameters and by --qmp tcp:<host>:<port>,tls-creds=ID[,tls-authz=ID].
  --peer-timeout D   Initial x-peer-timeout: a migration peer silent this long (e.g. 10s, 500ms;
                     a bare number is seconds) fails the migration (default 30s). Needs --realtime.
`;

/** Whether any realtime option was given. */
export function wantsRealtime(values: ParsedArgs["values"]): boolean {
  return (
    values.realtime === true ||
    values.qmp !== undefined ||
    values.incoming !== undefined ||
    values.pace === true ||
    values.object !== undefined ||
    values["peer-timeout"] !== undefined
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
    throw new UsageError(
      "run: --qmp, --incoming and --pace need --realtime (so does --object)",
      usage,
    );
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
  const peerTimeoutMs =
    typeof values["peer-timeout"] === "string"
      ? parsePeerTimeout(values["peer-timeout"], usage)
      : undefined;
  const objects = parseObjectOptions((values.object as string[] | undefined) ?? [], usage);
  const qmp = parseQmpOptions((values.qmp as string[] | undefined) ?? [], objects, usage);
  const incoming =
    typeof values.incoming === "string" ? parseIncomingOption(values.incoming, usage) : undefined;
  const json = values.json === true;
  let output = "";
  const r = await runRealtime({
    config,
    configFile: file,
    qmp,
    objects,
    ...(peerTimeoutMs !== undefined ? { peerTimeoutMs } : {}),
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
