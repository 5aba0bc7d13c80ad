/**
 * The source's choice of stream integrity framing (parameter `x-integrity`), made before the
 * stream header is written: a one-way transport (a file) is framed unless the parameter is
 * `false`; on a two-way transport the stream is framed only with `true` and only when the
 * destination's `INTEGRITY` announcement says it reads framing (never sent to a peer that does
 * not understand it).
 */
import { MigrationError } from "../errors";
import { DestinationRefusedError } from "../lifecycle";
import type { OutgoingTransport } from "../transport/types";

/** The `x-integrity` parameter's values. */
export type IntegrityParameter = boolean | "auto";

/**
 * What the parameter means on `transport`: `frame` or `plain` at once, or `ask` the destination
 * (`true` on a two-way transport).
 */
export function integrityPlan(
  parameter: IntegrityParameter,
  transport: OutgoingTransport,
): "frame" | "plain" | "ask" {
  if (parameter === false) return "plain";
  if (transport.returnPath === undefined) return "frame";
  return parameter === true ? "ask" : "plain";
}

/**
 * Wait (at most `timeoutNs`, on the transport's clock) for the destination's `INTEGRITY`
 * announcement; true when it reads framing.
 * @throws DestinationRefusedError when the destination reports a failure instead;
 * MigrationError when it sends something else first or nothing in time.
 */
export async function askDestination(
  transport: OutgoingTransport,
  timeoutNs: number,
): Promise<boolean> {
  const label = transport.name ?? "transport";
  const rp = transport.returnPath;
  if (rp === undefined) return true;
  const msg = await rp.next(timeoutNs);
  if (msg.type === "integrity") return msg.mode !== "off";
  if (msg.type === "error") {
    throw new DestinationRefusedError(`${label}: the destination failed: ${msg.message}`);
  }
  throw new MigrationError(
    `${label}: x-integrity is on, and the destination's first return-path message is ${msg.type}, not its integrity mode`,
  );
}
