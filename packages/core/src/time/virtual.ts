/**
 * The deterministic discrete-event scheduler (virtual nanoseconds).
 */
import { InvalidArgumentError, InvalidStateError } from "../errors";
import { EventQueue } from "./event-queue";
import type { Scheduler, Timer } from "./types";

/** Options of {@link VirtualScheduler.run}. */
export interface RunOptions {
  /** Stop when the next event would be later than this time; `now()` then equals it. */
  readonly untilNs?: number;
  /** Checked before every event: stop when it returns true. */
  readonly stopWhen?: () => boolean;
}

/** Why {@link VirtualScheduler.run} returned, and where. */
export interface RunOutcome {
  /** `idle`: no events left; `until`: reached `untilNs`; `stopWhen`; `stopped`: `stop()` was called. */
  readonly reason: "idle" | "until" | "stopWhen" | "stopped";
  /** Virtual time at return (ns). */
  readonly nowNs: number;
  /** Events fired during this run. */
  readonly eventsFired: number;
}

function checkTime(value: number, what: string): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new InvalidArgumentError(`${what} must be a number of ns, got ${String(value)}`);
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Deterministic discrete-event scheduler. Events run in (time, scheduling order). After an
 * event that resolved a promise (a `sleep`, or a callback that called {@link requestYield}),
 * `run()` yields to the Node event loop so the awaiting async code runs up to its next await
 * before the next event fires; pure callback events run back to back.
 */
export class VirtualScheduler implements Scheduler {
  readonly kind = "virtual" as const;
  private nowNs = 0;
  private readonly queue = new EventQueue();
  private running = false;
  private stopRequested = false;
  private yieldRequested = false;
  /** Total events fired since creation. */
  eventsFired = 0;

  /** Start the clock at `startNs` (default 0). */
  constructor(startNs = 0) {
    checkTime(startNs, "startNs");
    this.nowNs = startNs;
  }

  now(): number {
    return this.nowNs;
  }

  /** Live events queued. */
  get pendingEvents(): number {
    return this.queue.size;
  }

  /** True while `run`/`runSync` is processing events. */
  get isRunning(): boolean {
    return this.running;
  }

  at(atNs: number, callback: () => void): Timer {
    checkTime(atNs, "at(): time");
    return this.queue.push(Math.max(atNs, this.nowNs), callback, false);
  }

  after(delayNs: number, callback: () => void): Timer {
    checkTime(delayNs, "after(): delay");
    return this.at(this.nowNs + Math.max(delayNs, 0), callback);
  }

  sleep(delayNs: number): Promise<void> {
    checkTime(delayNs, "sleep(): delay");
    return new Promise((resolve) => {
      this.queue.push(this.nowNs + Math.max(delayNs, 0), resolve, true);
    });
  }

  /**
   * Called from inside an event callback that resolved a promise: `run()` lets async
   * continuations run before the next event.
   */
  requestYield(): void {
    this.yieldRequested = true;
  }

  /** Make `run`/`runSync` return after the current event. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Fire one event if due; returns false when the run must end (reason stored in `out`). */
  private step(opts: RunOptions, out: { reason: RunOutcome["reason"] | null }): boolean {
    if (this.stopRequested) {
      out.reason = "stopped";
      return false;
    }
    if (opts.stopWhen?.()) {
      out.reason = "stopWhen";
      return false;
    }
    const next = this.queue.peek();
    if (next === undefined) {
      out.reason = "idle";
      return false;
    }
    if (opts.untilNs !== undefined && next.timeNs > opts.untilNs) {
      this.nowNs = Math.max(this.nowNs, opts.untilNs);
      out.reason = "until";
      return false;
    }
    this.queue.pop();
    this.nowNs = next.timeNs;
    this.eventsFired++;
    if (next.wakesAsync) this.yieldRequested = true;
    next.callback();
    return true;
  }

  private begin(opts: RunOptions): void {
    if (this.running) throw new InvalidStateError("VirtualScheduler.run() is already running");
    if (opts.untilNs !== undefined) checkTime(opts.untilNs, "run(): untilNs");
    this.running = true;
    this.stopRequested = false;
  }

  /**
   * Process events in order until none is left (`idle`), the next is after `untilNs`
   * (`until`, and then `now() === untilNs`), `stopWhen()` is true, or `stop()` was called.
   */
  async run(opts: RunOptions = {}): Promise<RunOutcome> {
    this.begin(opts);
    const startFired = this.eventsFired;
    const out: { reason: RunOutcome["reason"] | null } = { reason: null };
    try {
      for (;;) {
        if (this.step(opts, out)) {
          if (this.yieldRequested) {
            this.yieldRequested = false;
            await yieldToEventLoop();
          }
          continue;
        }
        if (out.reason === "idle") {
          // Let async code that is about to schedule something do so before giving up.
          await yieldToEventLoop();
          if (this.queue.size > 0) continue;
          if (opts.untilNs !== undefined) {
            this.nowNs = Math.max(this.nowNs, opts.untilNs);
            out.reason = "until";
          }
        }
        break;
      }
    } finally {
      this.running = false;
      this.stopRequested = false;
    }
    return { reason: out.reason!, nowNs: this.nowNs, eventsFired: this.eventsFired - startFired };
  }

  /**
   * Synchronous variant of {@link run} for callback-only work: never yields, so promise
   * continuations (of `sleep`) run only after it returns. An empty queue with `untilNs`
   * advances the clock to `untilNs`.
   */
  runSync(opts: RunOptions = {}): RunOutcome {
    this.begin(opts);
    const startFired = this.eventsFired;
    const out: { reason: RunOutcome["reason"] | null } = { reason: null };
    try {
      while (this.step(opts, out)) this.yieldRequested = false;
      if (out.reason === "idle" && opts.untilNs !== undefined) {
        this.nowNs = Math.max(this.nowNs, opts.untilNs);
        out.reason = "until";
      }
    } finally {
      this.running = false;
      this.stopRequested = false;
    }
    return { reason: out.reason!, nowNs: this.nowNs, eventsFired: this.eventsFired - startFired };
  }
}

/**
 * Tell `scheduler` (if it is a {@link VirtualScheduler}) that the current event resolved a
 * promise, so awaiting code runs before the next event. A no-op for other schedulers.
 */
export function notifyAsyncWake(scheduler: Scheduler): void {
  if (scheduler instanceof VirtualScheduler) scheduler.requestYield();
}
