/**
 * One side of a CLI migration (source or destination): core's `Machine` running a guest program
 * or a workload, behind one small interface — start, state changes, RAM hash, output and how it
 * ended.
 */
import type { Machine, RamRegion, Scheduler, VirtualScheduler } from "@ferry/core";
import { isSyntheticRamBackend } from "@ferry/sim";
import type { MigratableMachine } from "@ferry/migration";
import type { FerryConfig } from "../config";
import { buildGuestMachine } from "../run/run-guest";
import { buildWorkloadMachine } from "../run/workload-config";

/** How a side's guest ended, once it has. */
export interface SideEnd {
  readonly status: "pass" | "fail" | "error";
  /** Finisher code (null for an error). */
  readonly code: number | null;
  readonly atNs: number;
  readonly message?: string;
}

/** A machine of a migration, as the CLI drives it. */
export interface Side {
  readonly machine: MigratableMachine & { readonly scheduler: Scheduler };
  readonly ram: RamRegion;
  readonly state: string;
  start(): void;
  /** Stop the machine for good (its vCPUs schedule nothing more). */
  stop(): void;
  /** Listen to lifecycle changes (synchronous; `running` is emitted before any vCPU runs). */
  onState(listener: (state: string) => void): void;
  /** Work done (instructions or operations) of all vCPUs. */
  workDone(): number;
  /** Guest UART output so far ("" for workloads). */
  output(): string;
  /** How the guest ended, or null while it runs. */
  ended(): SideEnd | null;
}

/** sha256 of a RAM region's content, in chunks (see `ram/whole-ram.ts`). */
export { ramHash } from "../ram/whole-ram";

/** Build a side from a config on `scheduler` (`elf` for guest configs). */
export function buildSide(
  config: FerryConfig,
  scheduler: VirtualScheduler,
  elf: Uint8Array | null,
): Side {
  let machine: Machine;
  if (config.workload !== undefined) machine = buildWorkloadMachine(config, scheduler);
  else if (elf === null) throw new TypeError("buildSide: a guest config needs the ELF bytes");
  else machine = buildGuestMachine(config, elf, scheduler).machine;
  let end: SideEnd | null = null;
  machine.events.on("shutdown", (e) => {
    if (e.kind === "reset" || end !== null) return;
    end = {
      status: e.kind === "fail" || e.code !== 0 ? "fail" : "pass",
      code: e.code,
      atNs: e.atNs,
    };
  });
  machine.events.on("vcpu-error", (e) => {
    if (end === null) {
      // A guest fault fails the guest (exit 1); another vCPU error is a ferry bug (exit 70).
      end = {
        status: e.guestFault ? "fail" : "error",
        code: null,
        atNs: e.atNs,
        message: `${e.guestFault ? "guest fault: " : ""}vCPU ${e.vcpu}: ${e.message}`,
      };
    }
  });
  return {
    machine,
    ram: machine.ram,
    get state() {
      return machine.state;
    },
    start: () => machine.start(),
    stop: () => machine.stop(),
    onState: (l) => {
      machine.events.on("state", l);
    },
    workDone: () => machine.workDone(),
    output: () => machine.uartOutput(),
    ended: () => end,
  };
}
