/**
 * The migration thread's side of multifd's worker threads: one `node:worker_threads` worker per
 * data channel (QEMU: one thread per channel), started on the channel's {@link WorkerInit}, fed
 * jobs in order and answering them in order. A worker that throws, exits or answers nothing for
 * `timeoutMs` fails its channel through `onError`; `close()` terminates it, and workers are
 * unref'd so that one never keeps the process alive.
 *
 * The entry file is `worker.js` next to this module in the built package, or `worker.ts` when
 * running from TypeScript sources (vitest, tsx), where the worker loads tsx's loader first.
 */
import { startWorkerEntry } from "@ferry/core";
import { MigrationError } from "../errors";
import type { FromWorker, RecvJob, SendJob, WorkerInit } from "./worker-protocol";

let live = 0;

/** Channel worker threads started and not yet exited (in this thread; for leak checks). */
export function liveMultifdWorkers(): number {
  return live;
}

/** Default time a worker may take to answer its oldest job (ms). */
export const MULTIFD_WORKER_TIMEOUT_MS = 60_000;

/** Options of {@link startChannelWorker}. */
export interface ChannelWorkerOptions {
  readonly init: Omit<WorkerInit, "kind">;
  /** Longest wait for an answer while jobs are pending (ms). */
  readonly timeoutMs?: number;
  /** The worker failed (once): a job failed, it threw, exited or timed out. */
  readonly onError: (error: Error) => void;
}

/** A running channel worker. */
export interface ChannelWorker {
  /** Jobs submitted and not yet answered. */
  readonly inFlight: number;
  /** Resolves once the thread is up (its compression module loaded); rejects if it failed. */
  readonly ready: Promise<void>;
  /** Hand a job to the worker; `done` gets its answer (answers come in submission order). */
  submit(
    job: SendJob | RecvJob,
    transfer: readonly ArrayBuffer[],
    done: (r: FromWorker) => void,
  ): void;
  /** Resolves once every submitted job is answered; rejects if the worker failed. */
  idle(): Promise<void>;
  /** Terminate the thread (pending jobs are dropped). */
  close(): Promise<void>;
}

/** Start the worker of one channel. */
export function startChannelWorker(options: ChannelWorkerOptions): ChannelWorker {
  const label = `multifd channel ${options.init.channel}`;
  const timeoutMs = options.timeoutMs ?? MULTIFD_WORKER_TIMEOUT_MS;
  const worker = startWorkerEntry(import.meta.url, "worker");
  worker.unref();
  live++;
  worker.once("exit", () => live--);
  const pending: Array<(r: FromWorker) => void> = [];
  let head = 0;
  let error: Error | null = null;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let idleWaiters: Array<{ ok: () => void; ko: (e: Error) => void }> = [];
  let started = false;
  let readyOk: () => void = noop;
  let readyKo: (e: Error) => void = noop;
  const ready = new Promise<void>((ok, ko) => {
    readyOk = ok;
    readyKo = ko;
  });
  ready.catch(noop);

  const inFlight = (): number => pending.length - head;
  const settleIdle = (): void => {
    if (inFlight() > 0 && error === null) return;
    const w = idleWaiters;
    idleWaiters = [];
    for (const x of w) {
      if (error !== null) x.ko(error);
      else x.ok();
    }
  };
  const fail = (why: string): void => {
    if (error !== null || closed) return;
    error = new MigrationError(`${label}: ${why}`);
    if (timer !== null) clearTimeout(timer);
    timer = null;
    void worker.terminate();
    readyKo(error);
    options.onError(error);
    settleIdle();
  };
  const arm = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer =
      inFlight() > 0 || !started
        ? setTimeout(
            () =>
              fail(
                started
                  ? `worker thread answered nothing for ${timeoutMs} ms`
                  : `worker thread did not start within ${timeoutMs} ms`,
              ),
            timeoutMs,
          )
        : null;
  };
  arm();

  worker.on("message", (msg: FromWorker) => {
    if (error !== null || closed) return;
    if (msg.kind === "ready") {
      started = true;
      arm();
      readyOk();
      return;
    }
    if (msg.kind === "failed") {
      fail(msg.seq < 0 ? `worker thread did not start: ${msg.message}` : msg.message);
      return;
    }
    const done = pending[head];
    pending[head++] = noop;
    if (head === pending.length) {
      pending.length = 0;
      head = 0;
    }
    arm();
    done(msg);
    settleIdle();
  });
  worker.on("error", (e) => fail(`worker thread failed: ${e.message}`));
  worker.on("exit", (code) => fail(`worker thread exited (code ${code})`));
  worker.postMessage({ kind: "init", ...options.init } satisfies WorkerInit);

  return {
    get inFlight() {
      return inFlight();
    },
    ready,
    submit(job, transfer, done) {
      if (error !== null) throw error;
      if (closed) throw new MigrationError(`${label}: worker thread closed`);
      pending.push(done);
      if (inFlight() === 1) arm();
      worker.postMessage(job, transfer as ArrayBuffer[]);
    },
    idle() {
      if (error !== null) return Promise.reject(error);
      if (inFlight() === 0) return Promise.resolve();
      return new Promise((ok, ko) => idleWaiters.push({ ok, ko }));
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      const w = idleWaiters;
      idleWaiters = [];
      const why = error ?? new MigrationError(`${label}: worker thread closed`);
      readyKo(why);
      for (const x of w) x.ko(why);
      await worker.terminate();
    },
  };
}

function noop(): void {}
