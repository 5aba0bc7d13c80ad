/**
 * Post-copy's preempt channel between processes (QEMU's `postcopy-preempt`): a second connection
 * to the destination's incoming address (TLS too when `tls-creds` is set), opened with the main
 * one and again with every recovery. The destination tells its connections apart by their first
 * bytes, as it does for multifd's data channels: a preempt channel opens with
 * {@link PREEMPT_CHANNEL_MAGIC}, a multifd channel with `MULTIFD_MAGIC`, the main stream with the
 * stream header. After the magic the channel carries the preempt stream (docs/stream-format.md).
 */
import type { Socket } from "node:net";
import {
  MULTIFD_MAGIC,
  type OutgoingTransport,
  peekSocketMagic,
  socketChannelSink,
} from "@ferry/migration";
import type { MigrationAddress } from "./control";
import { connectSecured, describeSocket } from "./net-channel";
import type { NetParameters } from "./net-parameters";
import type { ObjectStore } from "./tls/objects";

/** The first 4 bytes of a preempt channel: "FRPE" (ferry's; QEMU tells it by connection order). */
export const PREEMPT_CHANNEL_MAGIC = 0x46525045;

/** What an accepted connection is, by its first bytes. */
export type ChannelKind = "main" | "multifd" | "preempt";

type SocketAddress = Exclude<MigrationAddress, { transport: "file" }>;

/**
 * Source: open the preempt channel to `to` (TLS when `tls-creds` is set) and announce it. No peer
 * timeout on it: it idles while no page is requested (the main channel's timeout watches the peer).
 */
export async function openPreemptChannel(
  to: SocketAddress,
  params: NetParameters,
  objects: ObjectStore | undefined,
): Promise<OutgoingTransport> {
  const socket = await connectSecured(to, params, objects);
  const label = params["tls-creds"] !== "" ? `${describeSocket(to)} (TLS)` : describeSocket(to);
  socket.setTimeout(0);
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(PREEMPT_CHANNEL_MAGIC, 0);
  socket.write(magic);
  return socketChannelSink(socket, `${label} preempt channel`);
}

/**
 * Destination: wait for a connection's first 4 bytes and tell what it is. A preempt channel's
 * magic is consumed; any other bytes are put back. A connection that closes first is `main` (the
 * main-stream path then reports it).
 */
export async function peekChannelKind(socket: Socket): Promise<ChannelKind> {
  const magic = await peekSocketMagic(socket);
  if (magic === PREEMPT_CHANNEL_MAGIC) {
    socket.read(4);
    return "preempt";
  }
  return magic === MULTIFD_MAGIC ? "multifd" : "main";
}
