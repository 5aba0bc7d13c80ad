/**
 * A scripted operator: a timeline of actions on a running migration — `migrate-set-parameters`,
 * an external vCPU throttle, `migrate-continue`, `migrate_cancel` — each fired at a time after the
 * migration started or at a dirty-sync pass, on the migration's scheduler. In virtual time the
 * timeline is deterministic (same config and seed ⇒ the same actions at the same nanosecond), so
 * operator behaviour can be reproduced and compared. Every fired action is recorded with its time
 * and its outcome (an action the migration refuses, e.g. `continue` outside `pre-switchover`, is
 * recorded as an error; the migration goes on).
 */
import type { Scheduler, Timer } from "@ferry/core";
import type { MigrationStatus } from "./plugin";
import type { Migration } from "./thread";

/** When an action fires. */
export type OperatorTrigger =
  /** This long after the migration started (ns of the migration's scheduler). */
  | { readonly atNs: number }
  /** At the dirty-log sync that makes `dirty-sync-count` reach this pass (QEMU's MIGRATION_PASS). */
  | { readonly pass: number };

/** What an action does. */
export type OperatorCommand =
  /** `migrate-set-parameters` (values in the registry's units). */
  | { readonly kind: "set"; readonly parameters: Readonly<Record<string, unknown>> }
  /** The external vCPU throttle in % (0 = off). */
  | { readonly kind: "throttle"; readonly percentage: number }
  /** `migrate-continue` from `pre-switchover`. */
  | { readonly kind: "continue" }
  /** `migrate_cancel`. */
  | { readonly kind: "cancel" };

/** One timeline entry. */
export interface OperatorAction {
  readonly trigger: OperatorTrigger;
  readonly command: OperatorCommand;
}

/** A fired action, as reports show it. */
export interface AppliedAction {
  /** Index in the timeline. */
  readonly index: number;
  /** When it fired, in ns after the migration started (whole ns). */
  readonly atNs: number;
  /** `dirty-sync-count` when it fired. */
  readonly pass: number;
  /** The migration's status when it fired. */
  readonly status: MigrationStatus;
  /** `set`, `throttle`, `continue` or `cancel`. */
  readonly kind: OperatorCommand["kind"];
  /** The parameters set, or the throttle %. */
  readonly value?: Readonly<Record<string, unknown>> | number;
  /** `ok`, or `error` with the refusal's message. */
  readonly result: "ok" | "error";
  readonly error?: string;
}

/** Options of {@link runOperatorActions}. */
export interface OperatorTimelineOptions {
  readonly migration: Migration;
  readonly scheduler: Scheduler;
  readonly actions: readonly OperatorAction[];
  /** Sets the external throttle (e.g. core's `throttleControlFor(vcpus, s).source("external").set`). */
  readonly setThrottle?: (percentage: number) => void;
  /** Called after each action fired. */
  readonly onAction?: (a: AppliedAction) => void;
}

/** A running timeline. */
export interface OperatorTimeline {
  /** The actions fired so far, in firing order. */
  readonly applied: readonly AppliedAction[];
  /** Cancel the actions not fired yet (also done when the migration ends). */
  dispose(): void;
}

const TERMINAL: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);

/**
 * Start the timeline of `actions` on `migration`, from now (call it right after `migrate()`).
 * Timed actions are scheduler timers; pass actions fire from the `sync` event. Actions still
 * pending when the migration ends are dropped.
 */
export function runOperatorActions(options: OperatorTimelineOptions): OperatorTimeline {
  const { migration, scheduler } = options;
  const startNs = scheduler.now();
  const applied: AppliedAction[] = [];
  const timers: Timer[] = [];
  const byPass = options.actions
    .map((a, index) => ({ a, index }))
    .filter((x) => "pass" in x.a.trigger);
  let pass = 0;
  let ended = false;

  const fire = (a: OperatorAction, index: number): void => {
    if (ended) return;
    const c = a.command;
    const status = migration.status;
    let error: string | undefined;
    try {
      switch (c.kind) {
        case "set":
          migration.setParameters(c.parameters);
          break;
        case "throttle":
          if (options.setThrottle === undefined) {
            throw new Error("this machine has no vCPU throttle");
          }
          options.setThrottle(c.percentage);
          break;
        case "continue":
          migration.continueFrom("pre-switchover");
          break;
        case "cancel":
          if (TERMINAL.has(migration.status)) {
            throw new Error(`the migration has already ended (${migration.status})`);
          }
          migration.cancel();
          break;
      }
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const record: AppliedAction = {
      index,
      atNs: Math.round(scheduler.now() - startNs),
      pass,
      status,
      kind: c.kind,
      ...(c.kind === "set" ? { value: { ...c.parameters } } : {}),
      ...(c.kind === "throttle" ? { value: c.percentage } : {}),
      result: error === undefined ? "ok" : "error",
      ...(error !== undefined ? { error } : {}),
    };
    applied.push(record);
    options.onAction?.(record);
  };

  const dispose = (): void => {
    if (ended) return;
    ended = true;
    for (const t of timers) t.cancel();
    timers.length = 0;
    migration.events.off("sync", onSync);
    migration.events.off("state", onState);
  };
  const onSync = (st: { readonly syncCount: number }): void => {
    pass = st.syncCount;
    for (const x of byPass) {
      const t = x.a.trigger as { readonly pass: number };
      if (t.pass === pass) fire(x.a, x.index);
    }
  };
  const onState = (st: MigrationStatus): void => {
    if (TERMINAL.has(st)) dispose();
  };
  migration.events.on("sync", onSync);
  migration.events.on("state", onState);
  options.actions.forEach((a, index) => {
    if ("atNs" in a.trigger) {
      timers.push(scheduler.after(a.trigger.atNs, () => fire(a, index)));
    }
  });
  return {
    get applied() {
      return applied;
    },
    dispose,
  };
}
