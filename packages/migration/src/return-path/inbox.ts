/**
 * The source's inbox of return-path messages: messages in arrival order, `next()` with a timeout
 * on the transport's own clock (virtual time for the link, real time for sockets).
 */
import { MigrationError } from "../errors";
import type { RpMessage } from "./messages";

/** A cancellable timer factory: call `fn` after `ns`, return a canceller. */
export type TimerFn = (ns: number, fn: () => void) => () => void;

/** The inbox a transport fills and a source reads. */
export interface RpInbox {
  /** A message arrived. */
  push(msg: RpMessage): void;
  /** The return path broke: pending and later `next()` calls reject with `err`. */
  fail(err: Error): void;
  /** The next message; rejects after `timeoutNs` or when the return path breaks. */
  next(timeoutNs: number): Promise<RpMessage>;
  /** Every message received so far (in order). */
  readonly received: readonly RpMessage[];
}

/** Make an inbox; `label` names the transport in timeout errors. */
export function createRpInbox(timer: TimerFn, label: string): RpInbox {
  const queue: RpMessage[] = [];
  const all: RpMessage[] = [];
  let error: Error | null = null;
  let waiter: { resolve: (m: RpMessage) => void; reject: (e: Error) => void } | null = null;
  return {
    push(msg) {
      all.push(msg);
      if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w.resolve(msg);
      } else queue.push(msg);
    },
    fail(err) {
      if (error !== null) return;
      error = err;
      if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w.reject(err);
      }
    },
    next(timeoutNs) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (error !== null) return Promise.reject(error);
      if (waiter !== null) {
        return Promise.reject(new MigrationError(`${label}: return path already has a reader`));
      }
      return new Promise<RpMessage>((resolve, reject) => {
        const cancel = timer(timeoutNs, () => {
          waiter = null;
          reject(
            new MigrationError(
              `${label}: no return-path message from the destination within ${timeoutNs / 1e6} ms`,
            ),
          );
        });
        waiter = {
          resolve: (m) => {
            cancel();
            resolve(m);
          },
          reject: (e) => {
            cancel();
            reject(e);
          },
        };
      });
    },
    get received() {
      return all;
    },
  };
}
