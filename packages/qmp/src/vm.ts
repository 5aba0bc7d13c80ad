/**
 * {@link VmControl} over a core machine: QEMU's run state from the machine's and the migration's
 * states, STOP / RESUME / SHUTDOWN / RESET events from the machine's own events.
 */
import type { MachineEvents, ThrottleControl } from "@ferry/core";
import type { EventEmitter as EE } from "eventemitter3";
import { EventEmitter } from "eventemitter3";
import {
  type DirtyLimit,
  type DirtyLog,
  type DirtyRings,
  dirtyLimitOf,
  isDirtyLimitMachine,
  type Scheduler,
} from "@ferry/core";
import type { DirtyRateMachine } from "@ferry/migration";
import type { MigrationControl, RunState, SampledRamBlock, VmControl, VmEvents } from "./control";
import { QmpError } from "./errors";

/** The machine surface the VM control needs (a core `Machine` has it). */
export interface VmMachine {
  readonly state: "created" | "running" | "paused" | "stopped";
  readonly events: EE<MachineEvents>;
  readonly memory: {
    readonly ramRegions: ReadonlyArray<{
      readonly name: string;
      readonly size: number;
      readonly readonly: boolean;
      readonly backend: { read(offset: number, dst: Uint8Array): void };
      /** The region's dirty tracker (dirty-bitmap / dirty-ring rates). */
      readonly dirty?: DirtyLog;
    }>;
  };
  /** The per-vCPU dirty rings (dirty-ring rates, the vCPU dirty limit); null: a bitmap. */
  readonly dirtyRings?: DirtyRings | null;
  /** The machine's scheduler (the vCPU dirty limit's measuring period). */
  readonly scheduler?: Pick<Scheduler, "now" | "at">;
  start(): void;
  pause(): Promise<void>;
  resume(): void;
}

/** Options of {@link createVmControl}. */
export interface VmControlOptions {
  readonly machine: VmMachine;
  readonly migration: MigrationControl;
  /** `system_reset`: reload the guest and reset harts and devices (absent: refused). */
  readonly reset?: () => void;
  /** `quit`: called after the response and the SHUTDOWN event are sent. */
  readonly quit: () => void;
  /** The machine's shared vCPU throttle (core's `throttleControlFor`) for `x-set-cpu-throttle`. */
  readonly throttle?: ThrottleControl;
}

/** Make the VM control. */
export function createVmControl(options: VmControlOptions): VmControl {
  const { machine, migration } = options;
  const events = new EventEmitter<VmEvents>();
  let vcpuFailed = false;
  machine.events.on("state", (s) => {
    if (s === "paused") events.emit("stop");
    else if (s === "running") events.emit("resume");
  });
  machine.events.on("shutdown", (e) => {
    if (e.kind === "reset") events.emit("reset", true, "guest-reset");
    else events.emit("shutdown", true, "guest-shutdown");
  });
  machine.events.on("vcpu-error", () => {
    vcpuFailed = true;
  });

  const runState = (): RunState => {
    switch (machine.state) {
      case "stopped":
        return vcpuFailed ? "internal-error" : "shutdown";
      case "created":
        // A destination: waiting, or loaded but kept paused (`stop` cleared autostart).
        if (migration.expectsIncoming !== "no") {
          return migration.status === "completed" ? "paused" : "inmigrate";
        }
        return "prelaunch";
      case "running":
        return "running";
      case "paused":
        if (migration.handedOver) return "postmigrate";
        // QEMU stops the vCPUs with RUN_STATE_FINISH_MIGRATE, pause-before-switchover included.
        if (migration.status === "device" || migration.status === "pre-switchover") {
          return "finish-migrate";
        }
        return "paused";
    }
  };

  return {
    events,
    runState,
    ...(options.throttle !== undefined ? { throttle: options.throttle } : {}),
    async stop() {
      const s = runState();
      if (s === "inmigrate") {
        migration.setAutostart(false);
        return;
      }
      if (s === "running") await machine.pause();
    },
    cont() {
      const s = runState();
      switch (s) {
        case "running":
          return;
        case "inmigrate":
          migration.setAutostart(true);
          return;
        case "shutdown":
        case "internal-error":
          throw new QmpError("Resetting the Virtual Machine is required");
        case "postmigrate":
          // After a completed migration the guest runs on the destination: never here too. After
          // a failure whose outcome is unknown (acknowledgement lost), only the operator — who can
          // check that the destination is not running — may resume it, as QEMU allows.
          if (migration.status === "completed") {
            throw new QmpError(
              "The guest migrated to the destination: ferry does not resume it here",
            );
          }
          machine.resume();
          return;
        case "finish-migrate":
          throw new QmpError("The migration is switching over; wait for it to end");
        case "prelaunch":
          machine.start();
          return;
        case "paused":
          if (machine.state === "created") machine.start();
          else machine.resume();
      }
    },
    reset() {
      if (options.reset === undefined)
        throw new QmpError("system_reset is not available for this machine");
      const s = runState();
      if (s === "inmigrate" || s === "postmigrate" || s === "finish-migrate" || s === "shutdown") {
        throw new QmpError(`Cannot reset the guest in state ${s}`);
      }
      options.reset();
      events.emit("reset", false, "host-qmp-system-reset");
    },
    powerdown() {
      // ferry's virt board has no power button device: like QEMU with a guest that ignores ACPI,
      // the request is announced and the guest is not told.
      events.emit("powerdown");
    },
    quit() {
      setImmediate(() => {
        events.emit("shutdown", false, "host-qmp-quit");
        setImmediate(options.quit);
      });
    },
    dirtyTracking(): DirtyRateMachine | null {
      const regions = machine.memory.ramRegions.filter((r) => !r.readonly);
      if (machine.dirtyRings === undefined || regions.some((r) => r.dirty === undefined))
        return null;
      return {
        memory: { ramRegions: regions.map((r) => ({ dirty: r.dirty as DirtyLog })) },
        dirtyRings: machine.dirtyRings,
      };
    },
    dirtyLimit(): DirtyLimit | null {
      if (!isDirtyLimitMachine(machine) || machine.dirtyRings === null) return null;
      const scheduler = machine.scheduler;
      return scheduler === undefined ? null : dirtyLimitOf(machine, scheduler);
    },
    ramBlocks(): SampledRamBlock[] {
      return machine.memory.ramRegions
        .filter((r) => !r.readonly)
        .map((r) => ({ name: r.name, size: r.size, read: (o, d) => r.backend.read(o, d) }));
    },
  };
}
