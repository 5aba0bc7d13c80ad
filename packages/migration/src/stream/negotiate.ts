/**
 * The source's choice of stream integrity framing (parameter `x-integrity`), made before the
 * stream header is written: a one-way transport (a file) is framed unless the parameter is
 * `false`; on a two-way transport the stream is framed only with `true` and only when the
 * destination's `INTEGRITY` announcement says it reads framing (never sent to a peer that does
 * not understand it).
 */
import { MigrationError } from "../errors";
import { DestinationRefusedError } from "../lifecycle";
import type { Scheduler } from "@ferry/core";
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

/** How often the source looks for the destination's announcement (transport clock, ns). */
export const INTEGRITY_POLL_NS = 100_000;

/**
 * Wait (at most `timeoutNs`, on `scheduler`) for the destination's `INTEGRITY` announcement;
 * true when it reads framing. The wait sleeps on the scheduler in steps of
 * {@link INTEGRITY_POLL_NS} (a scheduler sleep is what wakes the migration thread in virtual
 * time), and leaves the message in the inbox (later readers skip it).
 * @throws DestinationRefusedError when the destination reports a failure instead;
 * MigrationError when nothing comes in time.
 */
export async function askDestination(
  transport: OutgoingTransport,
  scheduler: Scheduler,
  timeoutNs: number,
): Promise<boolean> {
  const label = transport.name ?? "transport";
  const rp = transport.returnPath;
  if (rp === undefined) return true;
  const deadline = scheduler.now() + timeoutNs;
  for (;;) {
    for (const msg of rp.received) {
      if (msg.type === "integrity") {
        // A destination in mode `off` does not digest the stream: count only (see ack.ts).
        if (msg.mode === "off") rp.countOnly?.();
        return msg.mode !== "off";
      }
      if (msg.type === "error") {
        throw new DestinationRefusedError(`${label}: the destination failed: ${msg.message}`);
      }
      if (msg.type === "shut") {
        throw new DestinationRefusedError(
          `${label}: the destination shut the return path (status ${msg.status}) before announcing its integrity mode`,
        );
      }
    }
    const err = transport.error;
    if (err !== null) throw err;
    const left = deadline - scheduler.now();
    if (left <= 0) {
      throw new MigrationError(
        `${label}: x-integrity is on, and the destination did not announce its integrity mode within ${timeoutNs / 1e6} ms`,
      );
    }
    await scheduler.sleep(Math.min(INTEGRITY_POLL_NS, left));
  }
}
