/**
 * Switchover acknowledgement on the source: wait for the destination's `SWITCHOVER_ACK` and
 * accept it only when it accounts for exactly the stream the source sent (byte count and digest).
 */
import { MigrationError } from "../errors";
import { DestinationRefusedError } from "../lifecycle";
import type { SourceReturnPath } from "../transport/types";
import type { RpMessage } from "./messages";

/**
 * Check an acknowledgement against what the source sent; returns null when it matches, else the
 * reason it does not.
 */
export function ackMismatch(
  ack: Extract<RpMessage, { type: "switchover-ack" }>,
  sent: { readonly bytes: number; readonly digest: string; readonly digested?: boolean },
): string | null {
  if (ack.bytes !== sent.bytes) {
    return `the destination acknowledged ${ack.bytes} stream bytes, the source sent ${sent.bytes}`;
  }
  if (sent.digested !== false && ack.digest !== sent.digest) {
    const kind = (d: string): string => (d.length === 8 ? "CRC-32" : "Fletcher-64");
    return `the destination's stream digest (${kind(ack.digest)}) 0x${ack.digest} differs from the source's (${kind(sent.digest)}) 0x${sent.digest}`;
  }
  return null;
}

/**
 * Wait (at most `timeoutNs` per message) for the destination's switchover acknowledgement and
 * verify it. PONG and page requests met on the way are skipped. Throws a
 * {@link DestinationRefusedError} when the destination reports an error or shuts with a failure
 * status, a {@link MigrationError} when the acknowledgement does not match or never comes.
 */
export async function awaitSwitchoverAck(
  rp: SourceReturnPath,
  label: string,
  timeoutNs: number,
): Promise<void> {
  let reported: string | null = null;
  for (;;) {
    const msg = await rp.next(timeoutNs);
    switch (msg.type) {
      case "switchover-ack": {
        const why = ackMismatch(msg, rp.sent);
        if (why !== null) {
          throw new MigrationError(`${label}: switchover acknowledgement refused: ${why}`);
        }
        return;
      }
      case "integrity":
        // A destination in mode `off` does not digest the stream (it announces so first).
        if (msg.mode === "off") rp.countOnly?.();
        break;
      case "error":
        reported = msg.message;
        break;
      case "shut":
        if (msg.status !== 0 || reported !== null) {
          throw new DestinationRefusedError(
            `${label}: the destination failed${reported !== null ? `: ${reported}` : ` (status ${msg.status})`}`,
          );
        }
        throw new MigrationError(
          `${label}: the destination shut the return path without acknowledging the switchover`,
        );
      default:
        break;
    }
  }
}
