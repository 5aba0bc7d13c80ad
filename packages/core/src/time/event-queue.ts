/**
 * A binary min-heap of timed events ordered by (timeNs, seq): deterministic FIFO among ties.
 */
import type { Timer } from "./types";

/** One scheduled callback; it is also the {@link Timer} handed to the caller. */
export class ScheduledEvent implements Timer {
  /** Set when the event fires or is cancelled. */
  done = false;
  constructor(
    /** Absolute time (ns). */
    readonly timeNs: number,
    /** Insertion sequence number (tie breaker). */
    readonly seq: number,
    /** The callback. */
    readonly callback: () => void,
    /** True when firing resolves a promise (async continuations must run before the next event). */
    readonly wakesAsync: boolean,
    private readonly queue: EventQueue,
  ) {}

  get pending(): boolean {
    return !this.done;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.queue.noteCancelled();
  }
}

/** The heap. Cancelled events are removed lazily (and compacted when they pile up). */
export class EventQueue {
  private heap: ScheduledEvent[] = [];
  private nextSeq = 0;
  private cancelled = 0;

  /** Live (not cancelled) events queued. */
  get size(): number {
    return this.heap.length - this.cancelled;
  }

  /** Queue `callback` at `timeNs`. */
  push(timeNs: number, callback: () => void, wakesAsync: boolean): ScheduledEvent {
    const ev = new ScheduledEvent(timeNs, this.nextSeq++, callback, wakesAsync, this);
    const heap = this.heap;
    let i = heap.length;
    heap.push(ev);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      if (p.timeNs < timeNs || (p.timeNs === timeNs && p.seq < ev.seq)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = ev;
    return ev;
  }

  /** Earliest live event without removing it, or undefined. */
  peek(): ScheduledEvent | undefined {
    const heap = this.heap;
    while (heap.length > 0 && heap[0].done) {
      this.popTop();
      this.cancelled--;
    }
    return heap[0];
  }

  /** Remove and return the earliest live event (marked done), or undefined. */
  pop(): ScheduledEvent | undefined {
    const top = this.peek();
    if (top === undefined) return undefined;
    this.popTop();
    top.done = true;
    return top;
  }

  /** Cancel every queued event. */
  clear(): void {
    for (const ev of this.heap) ev.done = true;
    this.heap = [];
    this.cancelled = 0;
  }

  /** Called by a cancelled event; compacts the heap when most of it is dead. */
  noteCancelled(): void {
    this.cancelled++;
    if (this.cancelled > 1024 && this.cancelled * 2 > this.heap.length) this.compact();
  }

  private popTop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    const n = heap.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && less(heap[r], heap[l])) c = r;
      if (!less(heap[c], last)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
  }

  private compact(): void {
    const live = this.heap.filter((e) => !e.done);
    live.sort((a, b) => (less(a, b) ? -1 : 1));
    this.heap = live; // a sorted array is a valid heap
    this.cancelled = 0;
  }
}

function less(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.timeNs < b.timeNs || (a.timeNs === b.timeNs && a.seq < b.seq);
}
