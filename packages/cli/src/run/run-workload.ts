/** `ferry run` for `workload:` configs: run the synthetic dirtier for `run.time-limit`. */
import { VirtualScheduler } from "@ferry/core";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import type { FerryConfig } from "../config";
import { buildWorkloadMachine } from "./workload-config";

/** The outcome of {@link runWorkload} (the `ferry run --json` document of a workload config). */
export interface WorkloadRunReport {
  /**
   * `done`: ran for the whole time limit; `fail`: a guest fault (an access to unmapped or
   * read-only memory, exit 1); `error`: another vCPU error (a ferry bug, exit 70).
   */
  readonly status: "done" | "fail" | "error";
  readonly exitCode: ExitCodeValue;
  readonly kind: "workload";
  /** Virtual time at the end (ns): `run.time-limit`. */
  readonly virtualTimeNs: number;
  /** Operations (page writes + counted reads) of all vCPUs. */
  readonly operations: number;
  /** Distinct pages written (from the dirty log, on during the whole run). */
  readonly pagesDirtied: number;
  /** Wall-clock duration (ms; not deterministic). */
  readonly wallMs: number;
  /** What went wrong, for `error`. */
  readonly message?: string;
}

/** Number of set bits in a page bitmap's words. */
export function countSetPages(words: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < words.length; i++) {
    let v = words[i];
    if (v === 0) continue;
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return n;
}

/** Run a workload config for `run.time-limit` of virtual time with dirty logging on. */
export async function runWorkload(config: FerryConfig): Promise<WorkloadRunReport> {
  const scheduler = new VirtualScheduler();
  const wm = buildWorkloadMachine(config, scheduler);
  let error: string | undefined;
  let guestFault = false;
  wm.events.on("vcpu-error", (e) => {
    if (error !== undefined) return;
    error = `${e.guestFault ? "guest fault: " : ""}vCPU ${e.vcpu}: ${e.message}`;
    guestFault = e.guestFault;
  });
  const wallStart = performance.now();
  wm.ram.dirty.start();
  wm.start();
  await scheduler.run({ untilNs: config.run.timeLimitNs, stopWhen: () => error !== undefined });
  wm.stop();
  const pagesDirtied = countSetPages(wm.ram.dirty.words);
  wm.ram.dirty.stop();
  return {
    status: error === undefined ? "done" : guestFault ? "fail" : "error",
    exitCode: error === undefined ? ExitCode.Ok : guestFault ? ExitCode.Failure : ExitCode.Internal,
    kind: "workload",
    virtualTimeNs: scheduler.now(),
    operations: wm.workDone(),
    pagesDirtied,
    wallMs: Math.round(performance.now() - wallStart),
    ...(error !== undefined ? { message: error } : {}),
  };
}
