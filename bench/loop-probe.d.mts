/** Event-loop stall figures since the last reset (ms). */
export interface LoopStall {
  readonly maxGapMs: number;
  readonly p99GapMs: number;
  readonly maxCpuInGapMs: number;
  readonly ticks: number;
  /** The longest gaps (> 5 ms): [start µs, end µs] on process.hrtime's clock (V8 CPU profiles'), ms. */
  readonly worst: ReadonlyArray<readonly [number, number, number]>;
}
/** Start measuring the event loop of this process (see loop-probe.mjs). */
export function startLoopProbe(): { reset(): void; report(): LoopStall; stop(): void };
