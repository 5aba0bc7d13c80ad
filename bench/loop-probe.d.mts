/** Event-loop stall figures since the last reset (ms). */
export interface LoopStall {
  readonly maxGapMs: number;
  readonly p99GapMs: number;
  readonly maxCpuInGapMs: number;
  readonly ticks: number;
}
/** Start measuring the event loop of this process (see loop-probe.mjs). */
export function startLoopProbe(): { reset(): void; report(): LoopStall; stop(): void };
