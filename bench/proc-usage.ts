/**
 * CPU time and minor page faults of a process from /proc (Linux; null elsewhere), for the
 * benchmarks that run a destination in another process: `usageOf(pid)` before and after, and
 * {@link usageDelta} between them.
 */
import { readFileSync } from "node:fs";

/** A process's accumulated CPU time (ms) and minor page faults. */
export interface ProcUsage {
  readonly userMs: number;
  readonly sysMs: number;
  readonly minorFaults: number;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on Linux). */
const HZ = 100;

/** The usage of process `pid` ("self" for this one) so far, or null without /proc. */
export function usageOf(pid: number | "self"): ProcUsage | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is field 3.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return {
      minorFaults: Number(f[7]),
      userMs: (Number(f[11]) * 1000) / HZ,
      sysMs: (Number(f[12]) * 1000) / HZ,
    };
  } catch {
    return null;
  }
}

/** `after` − `before`, or null when either is missing. */
export function usageDelta(before: ProcUsage | null, after: ProcUsage | null): ProcUsage | null {
  if (before === null || after === null) return null;
  return {
    userMs: after.userMs - before.userMs,
    sysMs: after.sysMs - before.sysMs,
    minorFaults: after.minorFaults - before.minorFaults,
  };
}
