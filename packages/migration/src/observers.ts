/**
 * Typed observers with isolation: a listener that throws is reported to `onError` and never
 * stops the other listeners nor the code that emitted the event (a migration's outcome must not
 * depend on who watches it).
 */

/** Event name → listener signature. */
export type EventMap = { readonly [event: string]: (...args: never[]) => void };

/** The subscribe side (the subset of eventemitter3's API ferry uses). */
export interface Observable<E extends EventMap> {
  /** Call `fn` on every `event`. */
  on<K extends keyof E & string>(event: K, fn: E[K]): this;
  /** Alias of {@link on}. */
  addListener<K extends keyof E & string>(event: K, fn: E[K]): this;
  /** Call `fn` on the next `event` only. */
  once<K extends keyof E & string>(event: K, fn: E[K]): this;
  /** Remove `fn` (every registration of it) from `event`. */
  off<K extends keyof E & string>(event: K, fn: E[K]): this;
  /** Alias of {@link off}. */
  removeListener<K extends keyof E & string>(event: K, fn: E[K]): this;
  /** Remove every listener (of `event`, or of all events). */
  removeAllListeners(event?: keyof E & string): this;
  /** Number of listeners of `event`. */
  listenerCount(event: keyof E & string): number;
}

/** An observer that threw: which event, and what. */
export interface ObserverFailure {
  readonly event: string;
  readonly error: Error;
}

interface Entry {
  readonly fn: (...args: never[]) => void;
  readonly once: boolean;
}

/** An {@link Observable} that can emit. */
export class ObserverHub<E extends EventMap> implements Observable<E> {
  private readonly map = new Map<string, Entry[]>();
  private readonly onError: (failure: ObserverFailure) => void;

  /** `onError` receives every listener exception (it must not throw; if it does, that is dropped). */
  constructor(onError: (failure: ObserverFailure) => void) {
    this.onError = onError;
  }

  on<K extends keyof E & string>(event: K, fn: E[K]): this {
    return this.add(event, fn, false);
  }

  addListener<K extends keyof E & string>(event: K, fn: E[K]): this {
    return this.add(event, fn, false);
  }

  once<K extends keyof E & string>(event: K, fn: E[K]): this {
    return this.add(event, fn, true);
  }

  off<K extends keyof E & string>(event: K, fn: E[K]): this {
    const list = this.map.get(event);
    if (list !== undefined) {
      const kept = list.filter((e) => e.fn !== fn);
      if (kept.length === 0) this.map.delete(event);
      else this.map.set(event, kept);
    }
    return this;
  }

  removeListener<K extends keyof E & string>(event: K, fn: E[K]): this {
    return this.off(event, fn);
  }

  removeAllListeners(event?: keyof E & string): this {
    if (event === undefined) this.map.clear();
    else this.map.delete(event);
    return this;
  }

  listenerCount(event: keyof E & string): number {
    return this.map.get(event)?.length ?? 0;
  }

  /** Call every listener of `event` in registration order, each isolated. */
  emit<K extends keyof E & string>(event: K, ...args: Parameters<E[K]>): void {
    const list = this.map.get(event);
    if (list === undefined) return;
    if (list.some((e) => e.once)) {
      const kept = list.filter((e) => !e.once);
      if (kept.length === 0) this.map.delete(event);
      else this.map.set(event, kept);
    }
    for (const entry of list) {
      try {
        (entry.fn as (...a: Parameters<E[K]>) => void)(...args);
      } catch (e) {
        const error = e instanceof Error ? e : new Error(String(e));
        try {
          this.onError({ event, error });
        } catch {
          // the reporter itself failed: nothing more can be done without changing the outcome
        }
      }
    }
  }

  private add(event: string, fn: (...args: never[]) => void, once: boolean): this {
    const list = this.map.get(event);
    const entry: Entry = { fn, once };
    if (list === undefined) this.map.set(event, [entry]);
    else list.push(entry);
    return this;
  }
}
