/**
 * The adapter boundary: what the QMP commands need from the machine and from the migration
 * framework, as two small interfaces. `migration-adapter.ts` implements {@link MigrationControl}
 * over `@ferry/migration`'s public API; `vm.ts` implements {@link VmControl} over a core machine.
 * Re-pointing the monitor to another framework means writing another MigrationControl.
 */
import type { ThrottleControl } from "@ferry/core";
import type { EventEmitter } from "eventemitter3";
import type { DirtyLimit } from "@ferry/core";
import type { DirtyRateMachine } from "@ferry/migration";
import type { JsonValue } from "./protocol";

/** QEMU's RunState values ferry reports. */
export type RunState =
  | "prelaunch"
  | "running"
  | "paused"
  | "inmigrate"
  | "finish-migrate"
  | "postmigrate"
  | "shutdown"
  | "internal-error";

/** A page-readable RAM block (for dirty-rate sampling). */
export interface SampledRamBlock {
  readonly name: string;
  /** Size in bytes (a multiple of the page size). */
  readonly size: number;
  /** Copy `dst.length` bytes at `offset` into `dst`. */
  read(offset: number, dst: Uint8Array): void;
}

/** Events of a {@link VmControl}. */
export interface VmEvents {
  /** The guest's vCPUs stopped (QEMU's STOP). */
  stop: () => void;
  /** The guest's vCPUs run again (QEMU's RESUME). */
  resume: () => void;
  /** The guest shut down or the machine is quitting (QEMU's SHUTDOWN). */
  shutdown: (guest: boolean, reason: string) => void;
  /** The machine was reset (QEMU's RESET). */
  reset: (guest: boolean, reason: string) => void;
  /** A powerdown was requested (QEMU's POWERDOWN). */
  powerdown: () => void;
}

/** The machine as the monitor sees it. */
export interface VmControl {
  /** QEMU run state (combines the machine's state and the migration's). */
  runState(): RunState;
  /** Pause the vCPUs (`stop`). */
  stop(): Promise<void>;
  /** Resume (`cont`); throws a QmpError when the state forbids it. */
  cont(): void;
  /** `system_reset`. */
  reset(): void;
  /** `system_powerdown`. */
  powerdown(): void;
  /** `quit`: end the process after the response is written. */
  quit(): void;
  /** RAM blocks for `calc-dirty-rate`. */
  ramBlocks(): readonly SampledRamBlock[];
  /** The machine's shared vCPU throttle (`x-set-cpu-throttle`), when it has one. */
  readonly throttle?: ThrottleControl;
  /** The machine's dirty tracking for `calc-dirty-rate` modes dirty-bitmap/dirty-ring (absent: refused). */
  dirtyTracking?(): DirtyRateMachine | null;
  /** The machine's vCPU dirty limit (`set-vcpu-dirty-limit`, …; absent or null: no dirty ring). */
  dirtyLimit?(): DirtyLimit | null;
  /** Typed events. */
  readonly events: EventEmitter<VmEvents>;
}

/** Where a migration goes or comes from (parsed from `uri` or `channels`). */
export type MigrationAddress =
  | {
      readonly transport: "socket";
      readonly type: "inet";
      readonly host: string;
      readonly port: number;
    }
  | { readonly transport: "socket"; readonly type: "unix"; readonly path: string }
  | { readonly transport: "file"; readonly filename: string; readonly offset: number };

/** Events of a {@link MigrationControl}. */
export interface MigrationControlEvents {
  /** The (outgoing or incoming) migration's status changed (QEMU's MIGRATION, when `events` is on). */
  status: (status: string) => void;
  /** A dirty-log sync began a new pass (QEMU's MIGRATION_PASS, when `events` is on). */
  pass: (pass: number) => void;
}

/** The migration framework as the monitor sees it. */
export interface MigrationControl {
  /** `query-migrate-capabilities`. */
  capabilities(): Array<{ capability: string; state: boolean }>;
  /** `migrate-set-capabilities` (all or nothing; throws QmpError). */
  setCapabilities(list: ReadonlyArray<{ capability: string; state: boolean }>): void;
  /** `query-migrate-parameters`. */
  parameters(): Record<string, JsonValue>;
  /** `migrate-set-parameters` (all or nothing; throws QmpError). */
  setParameters(values: Readonly<Record<string, unknown>>): void;
  /** `query-migrate` (`{}` before any migration). */
  info(): Record<string, JsonValue>;
  /** `migrate`: start an outgoing migration (errors after the start show in `info()`). */
  migrate(to: MigrationAddress): void;
  /** `migrate-incoming` / `--incoming`: receive a migration (the destination runs once it has loaded). */
  incoming(from: MigrationAddress, exitOnError?: boolean): Promise<void>;
  /** Whether this process waits for an incoming migration (`--incoming`). */
  readonly expectsIncoming: "no" | "listening" | "defer";
  /** `migrate_cancel`. */
  cancel(): void;
  /** `migrate-continue`: leave a pause the `pause-before-switchover` capability made. */
  continueFrom(state: string): void;
  /** Whether the `events` capability is on (MIGRATION / MIGRATION_PASS are sent). */
  readonly eventsEnabled: boolean;
  /** True once the guest may run elsewhere (migration completed, or its end is unknown): never resume here. */
  readonly handedOver: boolean;
  /** Whether a destination starts the guest once loaded (QEMU's autostart; `stop` clears it). */
  setAutostart(on: boolean): void;
  /** Stop listening for an incoming migration (process exit). */
  dispose(): void;
  /** The current outgoing status, or the incoming one on a destination. */
  readonly status: string;
  /** Typed events. */
  readonly events: EventEmitter<MigrationControlEvents>;
}
