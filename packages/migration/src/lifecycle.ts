/**
 * The migration lifecycle: QEMU's statuses with a checked transition table, the hand-over point
 * after which the destination may run the guest, and the decision of what the source does when
 * a migration ends without completing. Pure data and functions (no I/O, no clock).
 */
import { MigrationError } from "./errors";
import type { MigrationStatus } from "./plugin";

/**
 * Allowed transitions (QEMU's `migrate_set_state` call sites, reduced to what ferry's strategies
 * use). The terminal states (`completed`, `failed`, `cancelled`) have no way out.
 */
export const MIGRATION_TRANSITIONS: Readonly<Record<MigrationStatus, readonly MigrationStatus[]>> =
  {
    none: ["setup", "failed", "cancelling", "cancelled"],
    setup: ["active", "failed", "cancelling"],
    active: ["pre-switchover", "device", "postcopy-active", "failed", "cancelling"],
    "pre-switchover": ["device", "failed", "cancelling"],
    device: ["postcopy-active", "completed", "failed", "cancelling"],
    "postcopy-active": ["completed", "failed", "postcopy-paused"],
    // The connection broke during post-copy: neither side has the whole guest. Only a recovery
    // (a new connection) leads out; QEMU's `postcopy_pause` / `migrate-recover` / `resume`.
    "postcopy-paused": ["postcopy-recover-setup", "postcopy-recover", "failed"],
    "postcopy-recover-setup": ["postcopy-recover", "postcopy-paused", "failed"],
    "postcopy-recover": ["postcopy-active", "postcopy-paused", "failed"],
    cancelling: ["cancelled", "failed"],
    completed: [],
    failed: [],
    cancelled: [],
  };

/** True for `completed`, `failed` and `cancelled`. */
export function isTerminalStatus(s: MigrationStatus): boolean {
  return s === "completed" || s === "failed" || s === "cancelled";
}

/** True when the table allows `from → to`. */
export function canTransition(from: MigrationStatus, to: MigrationStatus): boolean {
  return MIGRATION_TRANSITIONS[from].includes(to);
}

/** A transition the table forbids was attempted: a bug in ferry or in a strategy plugin. */
export class IllegalTransitionError extends MigrationError {
  readonly from: MigrationStatus;
  readonly to: MigrationStatus;

  constructor(from: MigrationStatus, to: MigrationStatus) {
    super(`illegal migration state transition ${from} -> ${to}`);
    this.name = "IllegalTransitionError";
    this.from = from;
    this.to = to;
  }
}

/**
 * The destination refused the stream (it failed to load it, or it said so on the return path):
 * it has certainly not started the guest, so the source may resume.
 */
export class DestinationRefusedError extends MigrationError {
  constructor(message: string) {
    super(message);
    this.name = "DestinationRefusedError";
  }
}

/**
 * Who may run the guest:
 * - `source`: the end of stream has not been handed to the transport, so no destination can have
 *   started (it starts only after EOF and a successful load);
 * - `handed-over`: the end of stream was handed over and not yet acknowledged: the destination
 *   may be running;
 * - `destination`: the transport confirmed delivery (and, with a return path, the load).
 */
export type GuestOwner = "source" | "handed-over" | "destination";

/** What the source does when a migration ends without completing. */
export interface FailureOutcome {
  /** Final status. */
  readonly status: "failed" | "cancelled";
  /** Resume the source's vCPUs (only when the destination has certainly not started). */
  readonly resumeSource: boolean;
  /** The error to report (`error-desc`). */
  readonly error: Error;
}

/** The source stays paused because the destination may be running the guest. */
export class SplitBrainAvoidedError extends MigrationError {
  constructor(cause: Error) {
    super(
      `${cause.message}; the end of the stream was already sent and the destination did not refuse it, ` +
        "so it may be running the guest: the source stays paused (postmigrate) to avoid two running copies",
      { cause },
    );
    this.name = "SplitBrainAvoidedError";
  }
}

/**
 * What the source knows of the destination after handing it the end of stream:
 * - `refused`: it certainly did not start the guest (it refused or failed the load and said so,
 *   or the transport knows the end of stream was never delivered and never will be);
 * - `started`: it acknowledged the load (it runs the guest);
 * - `unknown`: no word from it.
 */
export type PeerVerdict = "refused" | "started" | "unknown";

/**
 * Decide the outcome of a migration that did not complete. `error` is what broke it, `cancelled`
 * whether the user cancelled, `owner` the hand-over state, `peer` what the transport knows of the
 * destination (only consulted once the end of stream was handed over).
 */
export function failureOutcome(
  error: Error,
  cancelled: boolean,
  owner: GuestOwner,
  peer: PeerVerdict,
): FailureOutcome {
  if (owner === "source" || (owner === "handed-over" && peer === "refused")) {
    return { status: cancelled ? "cancelled" : "failed", resumeSource: true, error };
  }
  return { status: "failed", resumeSource: false, error: new SplitBrainAvoidedError(error) };
}

/** The verdict a transport gives by its error alone (a {@link DestinationRefusedError} is a refusal). */
export function verdictOf(transportError: Error | null, reported?: PeerVerdict): PeerVerdict {
  if (reported !== undefined && reported !== "unknown") return reported;
  return transportError instanceof DestinationRefusedError ? "refused" : "unknown";
}

/** A checked status holder. */
export interface Lifecycle {
  /** Current status. */
  readonly status: MigrationStatus;
  /** Move to `next` (no-op when already there); throws {@link IllegalTransitionError}. */
  transition(next: MigrationStatus): MigrationStatus;
}

/** Make a lifecycle starting at `none`. */
export function createLifecycle(): Lifecycle {
  let status: MigrationStatus = "none";
  return {
    get status() {
      return status;
    },
    transition(next) {
      const prev = status;
      if (prev === next) return prev;
      if (!canTransition(prev, next)) throw new IllegalTransitionError(prev, next);
      status = next;
      return prev;
    },
  };
}
