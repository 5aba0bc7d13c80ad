/** Synthetic sync sequences for the policy tests. */
import type { SyncSample } from "../src/index";

/** Milliseconds in ns. */
export const MS = 1_000_000;

/** A feed of syncs with a running clock: `sync(periodMs, dirtyBytes, sentBytes)`. */
export function feed(startNs = 0): (periodMs: number, dirty: number, sent: number) => SyncSample {
  let now = startNs;
  return (periodMs, dirty, sent) => {
    now += periodMs * MS;
    return { nowNs: now, periodNs: periodMs * MS, dirtyBytesPeriod: dirty, bytesSentPeriod: sent };
  };
}
