/**
 * Time is asked of a Scheduler, never of the wall clock. Virtual time is in
 * nanoseconds as a float64 number (exact integers up to ~104 days).
 */

/** A scheduled callback that can be cancelled. */
export interface Timer {
  /** Cancel if not yet fired; harmless afterwards. */
  cancel(): void;
  /** True until it fires or is cancelled. */
  readonly pending: boolean;
}

/** The only source of time and waiting in ferry. */
export interface Scheduler {
  /** `virtual` (deterministic discrete-event) or `realtime` (monotonic clock). */
  readonly kind: "virtual" | "realtime";
  /** Current time in ns. */
  now(): number;
  /**
   * Run `callback` at absolute time `atNs` (clamped to now). Callbacks at the same
   * time run in the order they were scheduled (deterministic).
   */
  at(atNs: number, callback: () => void): Timer;
  /** Run `callback` after `delayNs`. */
  after(delayNs: number, callback: () => void): Timer;
  /** Resolve after `delayNs` (for async tasks such as the migration thread). */
  sleep(delayNs: number): Promise<void>;
}
