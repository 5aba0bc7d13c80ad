/**
 * Operator control of a running migration, the parts the thread delegates: the
 * `pause-before-switchover` gate (QEMU's `migration_maybe_pause` + `migrate-continue`) and the
 * effects of `migrate-set-parameters` on the framework itself (QEMU's `migrate_params_apply`:
 * `max-bandwidth` re-arms the rate limiter at once, `downtime-limit` and
 * `avail-switchover-bandwidth` feed the next `threshold_size`).
 */
import { MigrationError } from "./errors";
import type { MigrationStatus } from "./plugin";

/** The capability that makes the source wait in `pre-switchover` for `migrate-continue`. */
export const PAUSE_BEFORE_SWITCHOVER = "pause-before-switchover";

/** A one-shot wait released by `migrate-continue` or by a cancel. */
export interface SwitchoverGate {
  /** True while the thread waits in `pre-switchover`. */
  readonly waiting: boolean;
  /** Wait until {@link SwitchoverGate.release} (resolves at once when already released). */
  wait(): Promise<void>;
  /** Let the waiting thread go on (idempotent). */
  release(): void;
}

/** Make a gate. It waits for an operator, not a peer: QEMU has no timeout here either. */
export function createSwitchoverGate(): SwitchoverGate {
  let released = false;
  let waiting = false;
  let wake: (() => void) | null = null;
  return {
    get waiting() {
      return waiting;
    },
    wait() {
      if (released) return Promise.resolve();
      waiting = true;
      return new Promise<void>((resolve) => {
        wake = () => {
          waiting = false;
          resolve();
        };
      });
    },
    release() {
      released = true;
      const w = wake;
      wake = null;
      w?.();
    },
  };
}

/**
 * QEMU's `qmp_migrate_continue` check: the migration must be in `state` (QEMU's message
 * otherwise: `Migration not in expected state: <current>`), and only `pre-switchover` waits.
 */
export function checkContinue(current: MigrationStatus, state: string, waiting: boolean): void {
  if (current !== state || !waiting) {
    throw new MigrationError(`Migration not in expected state: ${current}`);
  }
}

/** What a live parameter change does to the framework's own parts. */
export interface FrameworkParameterEffects {
  /** New `max-bandwidth` (bytes/s). */
  readonly maxBandwidth?: number;
  /** New `downtime-limit` (ms). */
  readonly downtimeLimitMs?: number;
  /** New `avail-switchover-bandwidth` (bytes/s). */
  readonly availSwitchoverBw?: number;
}

/**
 * The framework parameters among `changed` that act on the running migration. Others
 * (`x-page-cost-ns`, `x-flush-pages`, plugin parameters read at setup only) are stored and take
 * effect with the next migration, as QEMU's setup-time parameters do.
 */
export function frameworkEffects(
  changed: Readonly<Record<string, unknown>>,
): FrameworkParameterEffects {
  const num = (k: string): number | undefined =>
    typeof changed[k] === "number" ? (changed[k] as number) : undefined;
  return {
    maxBandwidth: num("max-bandwidth"),
    downtimeLimitMs: num("downtime-limit"),
    availSwitchoverBw: num("avail-switchover-bandwidth"),
  };
}
