/** Migration addresses from QMP's `uri` string or `channels` list (QEMU's MigrationChannel). */
import { z } from "zod";
import type { MigrationAddress } from "./control";
import { QmpError } from "./errors";

/** QEMU's MigrationAddress (flattened: members by `transport` / `type`). */
export const migrationAddressSchema = z.object({
  transport: z.enum(["socket", "exec", "rdma", "file"]),
  type: z.enum(["inet", "unix", "vsock", "fd"]).optional(),
  host: z.string().optional(),
  port: z.string().optional(),
  path: z.string().optional(),
  filename: z.string().optional(),
  offset: z.number().int().min(0, "a non-negative integer").optional(),
  args: z.array(z.string()).optional(),
});

/** QEMU's MigrationChannel. */
export const migrationChannelSchema = z.object({
  "channel-type": z.enum(["main"]),
  addr: migrationAddressSchema,
});

const unsupported = (what: string): QmpError =>
  new QmpError(`migration ${what} is not supported by ferry (use tcp:, unix: or file:)`);

function parsePort(text: string, whole: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new QmpError(`address resolution failed for ${whole}: invalid port '${text}'`);
  }
  return Number(text);
}

/** Parse a `uri` (`tcp:host:port`, `unix:path`, `file:path[,offset=N]`). */
export function parseMigrationUri(uri: string): MigrationAddress {
  if (uri.startsWith("tcp:")) {
    const rest = uri.slice(4);
    const colon = rest.lastIndexOf(":");
    if (colon < 0) throw new QmpError(`address resolution failed for ${rest}: missing port`);
    let host = rest.slice(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
    return {
      transport: "socket",
      type: "inet",
      host: host === "" ? "127.0.0.1" : host,
      port: parsePort(rest.slice(colon + 1), rest),
    };
  }
  if (uri.startsWith("unix:")) {
    return { transport: "socket", type: "unix", path: uri.slice(5) };
  }
  if (uri.startsWith("file:")) {
    const rest = uri.slice(5);
    const m = /^(.*),offset=(\d+|0x[0-9a-fA-F]+)$/.exec(rest);
    if (m !== null) return { transport: "file", filename: m[1], offset: Number(m[2]) };
    return { transport: "file", filename: rest, offset: 0 };
  }
  const scheme = uri.split(":")[0];
  if (["exec", "rdma", "fd", "vsock"].includes(scheme)) throw unsupported(`protocol '${scheme}'`);
  throw new QmpError(`unknown migration protocol: ${uri}`);
}

/** Parse QEMU's `channels` list (exactly one `main` channel). */
export function parseChannels(
  channels: ReadonlyArray<z.output<typeof migrationChannelSchema>>,
): MigrationAddress {
  if (channels.length === 0) throw new QmpError("migration channels list is empty");
  if (channels.length > 1) throw new QmpError("Channel list has more than one entries");
  const a = channels[0].addr;
  if (a.transport === "file") {
    if (a.filename === undefined)
      throw new QmpError("Parameter 'channels[0].addr.filename' is missing");
    return { transport: "file", filename: a.filename, offset: a.offset ?? 0 };
  }
  if (a.transport !== "socket") throw unsupported(`transport '${a.transport}'`);
  if (a.type === "inet") {
    if (a.host === undefined) throw new QmpError("Parameter 'channels[0].addr.host' is missing");
    if (a.port === undefined) throw new QmpError("Parameter 'channels[0].addr.port' is missing");
    return {
      transport: "socket",
      type: "inet",
      host: a.host,
      port: parsePort(a.port, `${a.host}:${a.port}`),
    };
  }
  if (a.type === "unix") {
    if (a.path === undefined) throw new QmpError("Parameter 'channels[0].addr.path' is missing");
    return { transport: "socket", type: "unix", path: a.path };
  }
  if (a.type === undefined) throw new QmpError("Parameter 'channels[0].addr.type' is missing");
  throw unsupported(`socket type '${a.type}'`);
}

/** The address of a `migrate` / `migrate-incoming` request (`uri` xor `channels`). */
export function addressOf(
  args: {
    readonly uri?: string;
    readonly channels?: ReadonlyArray<z.output<typeof migrationChannelSchema>>;
  },
  command: string,
): MigrationAddress {
  if (args.uri !== undefined && args.channels !== undefined) {
    throw new QmpError(
      `'uri' and 'channels' arguments are mutually exclusive; exactly one of the two should be present in '${command}' qmp command `,
    );
  }
  if (args.uri !== undefined) return parseMigrationUri(args.uri);
  if (args.channels !== undefined) return parseChannels(args.channels);
  throw new QmpError("need either 'uri' or 'channels' argument");
}
