/**
 * The realtime scheduler: the Scheduler interface on the Node event loop and the monotonic clock.
 */
import { InvalidArgumentError } from "../errors";
import { EventQueue } from "./event-queue";
import type { Scheduler, Timer } from "./types";

/**
 * `now()` is `process.hrtime.bigint()` relative to creation, in ns. Events are kept in the
 * same (time, order) heap as the virtual scheduler and fired from one Node timer armed for
 * the earliest, so callbacks at equal times run in scheduling order.
 */
export class RealtimeScheduler implements Scheduler {
  readonly kind = "realtime" as const;
  private readonly origin = process.hrtime.bigint();
  private readonly queue = new EventQueue();
  private handle: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private armedFor = Number.POSITIVE_INFINITY;
  /** Total events fired since creation. */
  eventsFired = 0;

  now(): number {
    return Number(process.hrtime.bigint() - this.origin);
  }

  at(atNs: number, callback: () => void): Timer {
    if (typeof atNs !== "number" || Number.isNaN(atNs)) {
      throw new InvalidArgumentError(`at(): time must be a number of ns, got ${String(atNs)}`);
    }
    const ev = this.queue.push(atNs, callback, false);
    if (atNs < this.armedFor) this.arm();
    return ev;
  }

  after(delayNs: number, callback: () => void): Timer {
    if (typeof delayNs !== "number" || Number.isNaN(delayNs)) {
      throw new InvalidArgumentError(
        `after(): delay must be a number of ns, got ${String(delayNs)}`,
      );
    }
    return this.at(this.now() + Math.max(0, delayNs), callback);
  }

  sleep(delayNs: number): Promise<void> {
    return new Promise((resolve) => {
      this.after(delayNs, resolve);
    });
  }

  /** Cancel every pending event and the Node timer (lets the process exit). */
  dispose(): void {
    this.queue.clear();
    this.disarm();
  }

  private disarm(): void {
    if (this.handle !== null) {
      clearTimeout(this.handle as NodeJS.Timeout);
      clearImmediate(this.handle as NodeJS.Immediate);
      this.handle = null;
    }
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    this.disarm();
    const next = this.queue.peek();
    if (next === undefined) return;
    this.armedFor = next.timeNs;
    const delayMs = (next.timeNs - this.now()) / 1e6;
    const fire = () => {
      this.handle = null;
      this.armedFor = Number.POSITIVE_INFINITY;
      this.fireDue();
    };
    this.handle = delayMs <= 0 ? setImmediate(fire) : setTimeout(fire, Math.ceil(delayMs));
  }

  private fireDue(): void {
    const now = this.now();
    try {
      for (;;) {
        const next = this.queue.peek();
        if (next === undefined || next.timeNs > now) break;
        this.queue.pop();
        this.eventsFired++;
        next.callback();
      }
    } finally {
      this.arm();
    }
  }
}
