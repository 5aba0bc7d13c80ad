/**
 * Contract between the vCPU run loop (`@ferry/core`) and CPU backends
 * (`@ferry/riscv`'s interpreter, the synthetic `workload` backend, …).
 *
 * Modelled on KVM: the loop owns a mutable {@link VcpuRun} per vCPU (like
 * `struct kvm_run`), calls {@link VcpuCore.run} ("KVM_RUN") with a virtual-time
 * budget, and the backend fills in why it stopped. No allocation per run.
 */
import type { AddressSpace } from "../memory/types";

/** Why `VcpuCore.run` returned. Numeric codes so the hot loop switches on small ints. */
export const ExitReason = {
  /** Not run yet. */
  None: 0,
  /** The guest accessed an MMIO region: fields `mmio*` describe it. */
  Mmio: 1,
  /** The guest executed WFI with no interrupt pending: halt until an interrupt or kick. */
  Halt: 2,
  /** The guest executed ECALL/hypercall that the backend routes to the VMM. */
  Hypercall: 3,
  /** A device asked for shutdown/reset (fields `systemEvent*`). Set by the loop, not the backend. */
  SystemEvent: 4,
  /** The time budget was used up. */
  BudgetExhausted: 5,
  /** `immediateExit` was set (a kick): the backend returned before or promptly during the run. */
  Kicked: 6,
  /** The backend met a state it cannot continue from (`internalError` says what). */
  InternalError: 7,
  /**
   * A store filled this vCPU's dirty ring (KVM's `KVM_EXIT_DIRTY_RING_FULL`): the store is done,
   * and the vCPU may not re-enter the guest until the ring is harvested and reset.
   */
  DirtyRingFull: 8,
  /**
   * The guest touched a page its RAM region does not have yet (a post-copy destination's missing
   * page; `faultAddr` is the guest-physical address). The access did not happen and did not
   * retire: the vCPU waits until the page lands, then runs the same access again.
   */
  PageMissing: 9,
} as const;
/** One of {@link ExitReason}'s values. */
export type ExitReasonCode = (typeof ExitReason)[keyof typeof ExitReason];

/** Architecture-neutral interrupt lines a device can raise on a vCPU (RISC-V cause numbers). */
export const InterruptLine = {
  /** Supervisor software interrupt (an IPI delivered by firmware). */
  SupervisorSoftware: 1,
  /** Supervisor timer interrupt (raised by firmware's timer). */
  SupervisorTimer: 5,
  /** Supervisor external interrupt (a PLIC S-mode context). */
  SupervisorExternal: 9,
  MachineSoftware: 3,
  MachineTimer: 7,
  MachineExternal: 11,
} as const;
export type InterruptLineCode = (typeof InterruptLine)[keyof typeof InterruptLine];

/**
 * The shared run structure of one vCPU (KVM's `struct kvm_run`): written by the
 * backend on exit, read by the loop. One object per vCPU, reused for every run.
 */
export interface VcpuRun {
  /** Why the last run returned. */
  exitReason: ExitReasonCode;
  /** Set by `kick()`: the backend must return `Kicked` at its next check (at least once per run). */
  immediateExit: boolean;
  /** Virtual time (ns) at which the current run started; set by the loop before each run. */
  startNs: number;
  /** Virtual time (ns) consumed by the last run; set by the backend. */
  consumedNs: number;
  /** Units of guest work retired by the last run (instructions for RISC-V, operations for workloads). */
  retired: number;
  /** MMIO exit: guest-physical address. */
  mmioAddr: number;
  /** MMIO exit: access width in bytes. */
  mmioSize: 1 | 2 | 4;
  /** MMIO exit: true for a store. */
  mmioIsWrite: boolean;
  /** MMIO exit: value stored (for a write). For a read the loop answers with `VcpuCore.completeMmioRead`. */
  mmioData: number;
  /** Hypercall exit: call number (a7 on RISC-V). */
  hypercallNr: number;
  /** Hypercall exit: arguments (a0..a5 on RISC-V). */
  readonly hypercallArgs: Int32Array;
  /** System event exit: what was requested. */
  systemEvent: "none" | "shutdown" | "reset";
  /** System event exit: the guest's exit status (0 = pass). */
  systemEventCode: number;
  /** Internal error exit: human-readable reason. */
  internalError: string;
  /** PageMissing exit: guest-physical address of the missing page touched. */
  faultAddr: number;
}

/** Make a fresh, zeroed {@link VcpuRun}. */
export function createVcpuRun(): VcpuRun {
  return {
    exitReason: ExitReason.None,
    immediateExit: false,
    startNs: 0,
    consumedNs: 0,
    retired: 0,
    mmioAddr: 0,
    mmioSize: 4,
    mmioIsWrite: false,
    mmioData: 0,
    hypercallNr: 0,
    hypercallArgs: new Int32Array(6),
    systemEvent: "none",
    systemEventCode: 0,
    internalError: "",
    faultAddr: 0,
  };
}

/** What a backend gets to build one vCPU. */
export interface VcpuContext {
  /** Hart / vCPU index, 0-based. */
  readonly hartId: number;
  /** The machine's guest-physical address space (RAM fast paths and the MMIO map). */
  readonly memory: AddressSpace;
  /** Timebase of the `time`/`mtime` counter in Hz (10 MHz on `virt`). */
  readonly timebaseHz: number;
  /** Number of vCPUs in the machine. */
  readonly vcpuCount: number;
  /**
   * The guest's timebase counter (`mtime`, in ticks of `timebaseHz`) at virtual time `ns`, when
   * the machine has a clock device. It stops while the machine is paused and continues across a
   * migration, so backends should read `time` CSRs through it. Absent: derive from `ns`.
   */
  readonly timebaseAt?: (ns: number) => number;
}

/** Plain-data CPU state (JSON-compatible), saved and restored by migration. */
export type CpuState = { readonly arch: string } & Record<string, unknown>;

/** One vCPU's execution engine, made by a {@link CpuBackend}. */
export interface VcpuCore {
  /**
   * Run guest code for at most `budgetNs` of virtual time starting at `run.startNs`.
   * Fill `run.exitReason`, `run.consumedNs`, `run.retired` and the exit fields.
   * Must not allocate per instruction. Must return `Kicked` promptly when `run.immediateExit` is set.
   */
  run(run: VcpuRun, budgetNs: number): void;
  /** Answer the MMIO read that caused the last `Mmio` exit (KVM writes it into the register on the next run). */
  completeMmioRead(value: number): void;
  /** Answer the hypercall that caused the last `Hypercall` exit (return value register). */
  completeHypercall(result: number): void;
  /** Raise or lower an interrupt line (sets/clears the pending bit, e.g. `mip.MTIP`). */
  setInterrupt(line: InterruptLineCode, level: boolean): void;
  /** True when an enabled interrupt is pending (what wakes a halted vCPU, regardless of the global enable). */
  wantsWake(): boolean;
  /** Total guest work retired since creation (instructions or operations). */
  readonly workDone: number;
  /** Reset to the power-on state: pc at `entry`, with `a0 = hartId`, `a1 = bootArg`. */
  reset(entry: number, bootArg: number): void;
  /** Save the architectural state as plain data. */
  saveState(): CpuState;
  /** Restore state produced by `saveState` (validates it; throws a clear error on mismatch). */
  loadState(state: CpuState): void;
}

/** A CPU plugin point: a factory of vCPU engines. */
export interface CpuBackend {
  /** Backend name as used in configs (`riscv`, `workload`). */
  readonly name: string;
  /** The unit its `retired` counts ("instructions", "operations"). */
  readonly workUnit: string;
  /** Build the engine for one vCPU. */
  createVcpu(ctx: VcpuContext): VcpuCore;
}

/** Information a pre-run hook sees about the vCPU about to enter the guest. */
export interface PreRunInfo {
  readonly vcpuIndex: number;
  /** Current virtual time (ns). */
  readonly nowNs: number;
  /**
   * The preemption timer (QEMU: a timer that kicks the vCPU). The loop sets it to Infinity before
   * the hooks run; a hook that must run again at virtual time T, even in the middle of a slice,
   * lowers it to T (`info.preemptAtNs = Math.min(info.preemptAtNs, T)`). The vCPU then leaves the
   * guest when its virtual time reaches T (within one backend step) and runs the hooks again,
   * with `nowNs` = T. Absent when the caller has no preemption (a test fake): hooks then run at
   * the next entry only.
   */
  preemptAtNs?: number;
}

/**
 * A pre-run hook: called before every entry into the guest. Return the number of
 * virtual ns to sleep first (0 to enter at once). Hooks run in registration order;
 * the sleeps add up. Must not allocate in the common path.
 */
export type PreRunHook = (info: PreRunInfo) => number;
