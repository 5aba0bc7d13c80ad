/**
 * The `virt` machine: RAM, UART, test finisher, CLINT and vCPUs composed on one scheduler.
 */
import { EventEmitter } from "eventemitter3";
import { z } from "zod";
import { Ns16550a, UART_SIZE } from "../devices/uart";
import { parseState } from "../devices/validate";
import { InvalidArgumentError, InvalidStateError, StateValidationError } from "../errors";
import { createAddressSpace, type MutableAddressSpace } from "../memory/address-space";
import { createDirtyRings, type DirtyRings } from "../memory/dirty-ring";
import { createRamBackend } from "../memory/ram";
import {
  PAGE_SIZE,
  type DeviceState,
  type MmioAccess,
  type MmioDevice,
  type RamRegion,
} from "../memory/types";
import type { Scheduler, Timer } from "../time/types";
import { VirtualScheduler, notifyAsyncWake } from "../time/virtual";
import type { CpuBackend, CpuState } from "../vcpu/types";
import { ENOSYS_RESULT, Vcpu, type VcpuHost, type VcpuStats } from "../vcpu/vcpu";
import type { Board, BoardInstance, ShutdownKind } from "./board";
import { bootArgsAddress, encodeBootArgs } from "./boot-args";
import { parseMachineOptions, type MachineOptions } from "./options";

/**
 * Guest-physical base of RAM on the `virt` board (`@ferry/riscv`'s `virtBoard.ramBase`), kept
 * here as the address guests link at and tools load to.
 */
export const RAM_BASE = 0x8000_0000;

/** Machine lifecycle state. */
export type MachineRunState = "created" | "running" | "paused" | "stopped";

/** A guest-requested end of run (or reset) from the test finisher. */
export interface ShutdownEvent {
  readonly kind: ShutdownKind;
  /** Exit status (0 for pass and reset). */
  readonly code: number;
  /** Virtual time of the request (ns). */
  readonly atNs: number;
}

/** A vCPU stopped on an internal error. */
export interface VcpuErrorEvent {
  readonly vcpu: number;
  readonly message: string;
  readonly atNs: number;
  /**
   * True when the guest caused it (an access to unmapped or read-only memory): a failed guest.
   * False: the backend or ferry failed (a bug).
   */
  readonly guestFault: boolean;
}

/** Events a machine emits. */
export interface MachineEvents {
  /** A byte the guest transmitted on the UART. */
  uart: (byte: number) => void;
  shutdown: (event: ShutdownEvent) => void;
  "vcpu-error": (event: VcpuErrorEvent) => void;
  state: (state: MachineRunState) => void;
}

/**
 * Handles a `DirtyRingFull` exit of vCPU `vcpu` at virtual time `atNs` (dirty-ring tracking). The
 * default reaps every ring at once, as QEMU's vCPU thread does (`kvm_dirty_ring_reap`); a
 * handler that leaves the ring full makes the vCPU wait until someone resets it.
 */
export type DirtyRingFullHandler = (vcpu: number, rings: DirtyRings, atNs: number) => void;

/** Answers a guest hypercall (return value goes to the guest). */
export type HypercallHandler = (vcpu: number, nr: number, args: Int32Array) => number;

/** Plain-data machine state: every vCPU's CpuState and every device's DeviceState. */
export interface MachineState {
  readonly version: 1;
  readonly vcpus: CpuState[];
  readonly devices: Record<string, DeviceState>;
}

/** Result of {@link Machine.runUntilShutdown}. */
export interface RunResult {
  readonly reason: "shutdown" | "time-limit" | "error";
  /** Guest exit status for `shutdown` (pass → 0), else null. */
  readonly code: number | null;
  /** Virtual time when the run ended (ns). */
  readonly atNs: number;
  /** `pass` or `fail` for a shutdown. */
  readonly kind?: ShutdownKind;
  /** The vCPU error message for `error`. */
  readonly message?: string;
  /** For `error`: the guest caused it (see `VcpuErrorEvent.guestFault`). */
  readonly guestFault?: boolean;
}

const machineStateSchema = z
  .object({
    version: z.literal(1),
    vcpus: z.array(z.looseObject({ arch: z.string() })),
    devices: z.record(z.string(), z.record(z.string(), z.unknown())),
  })
  .strict();

/** The machine's devices: the console UART and the board's devices (`D`). */
export type MachineDevices<D extends object = object> = { readonly uart: Ns16550a } & D;

/**
 * A machine composed from a {@link Board} (`D`: the board's devices). Build with
 * {@link composeMachine}, or `@ferry/riscv`'s `createMachine` for the `virt` board.
 */
export class Machine<D extends object = object> {
  readonly scheduler: Scheduler;
  readonly cpu: CpuBackend;
  /** Guest-physical address space. */
  readonly memory: MutableAddressSpace;
  /** The main RAM region (`ram` at 0x8000_0000). */
  readonly ram: RamRegion;
  readonly vcpus: readonly Vcpu[];
  readonly devices: MachineDevices<D>;
  /** The board it was composed with. */
  readonly board: Board<D>;
  private readonly boardDevices: BoardInstance<D>;
  /** Devices added with the `devices` option, in order. */
  readonly extraDevices: readonly MmioDevice[];
  readonly events = new EventEmitter<MachineEvents>();
  /** Address of the boot-argument block, or 0 when no `bootArgs` were given. */
  readonly bootArgsAddr: number;
  /** The per-vCPU dirty rings when `dirtyTracking.kind` is `ring`, else null. */
  readonly dirtyRings: DirtyRings | null;
  private readonly bootBlock: Uint8Array | null;
  private stateValue: MachineRunState = "created";
  private hypercallHandler: HypercallHandler = () => ENOSYS_RESULT;
  private ringFullHandler: DirtyRingFullHandler = (_vcpu, rings) => {
    rings.reap();
  };
  private pendingKind: ShutdownKind = "pass";
  private entry: number;
  private out = new Uint8Array(256);
  private outLen = 0;

  constructor(options: MachineOptions) {
    const o = parseMachineOptions(options);
    const board = o.board as Board<D>;
    this.board = board;
    const ramBase = board.ramBase;
    this.entry = ramBase;
    this.scheduler = o.scheduler;
    this.cpu = o.cpu;
    const memory = createAddressSpace();
    this.memory = memory;
    const rings =
      o.dirtyTracking.kind === "ring"
        ? createDirtyRings({ vcpuCount: o.vcpus, size: o.dirtyTracking.ringSize })
        : null;
    this.dirtyRings = rings;
    this.ram = memory.addRam({
      dirty: rings === null ? undefined : rings.createTracker(o.memory.size / PAGE_SIZE),
      name: "ram",
      base: ramBase,
      size: o.memory.size,
      backend:
        typeof o.memory.backend === "string"
          ? createRamBackend(o.memory.backend, o.memory.size, { prealloc: o.memory.prealloc })
          : o.memory.backend,
    });
    const uart = new Ns16550a((b) => this.transmit(b));
    const bd = board.create({
      scheduler: this.scheduler,
      hartCount: o.vcpus,
      setInterrupt: (hart, line, level) =>
        this.vcpus[hart].setInterrupt(line as Parameters<Vcpu["setInterrupt"]>[0], level),
      shutdown: (kind, code, access) => this.shutdownRequest(kind, code, access),
    });
    this.boardDevices = bd;
    this.devices = { ...bd.devices, uart };
    for (const d of bd.mmio) memory.addMmio(d);
    memory.addMmio({ name: "uart", base: board.uartBase, size: UART_SIZE, device: uart });
    const builtIn = [uart.id, ...bd.mmio.map((d) => d.device.id)];
    const extra: MmioDevice[] = [];
    for (const d of o.devices) {
      if ([...builtIn, ...extra.map((e) => e.id)].includes(d.device.id)) {
        throw new InvalidArgumentError(`device id "${d.device.id}" is used twice`);
      }
      memory.addMmio({ name: d.name, base: d.base, size: d.size, device: d.device });
      extra.push(d.device);
    }
    this.extraDevices = extra;
    this.bootBlock = o.bootArgs === undefined ? null : encodeBootArgs(o.bootArgs);
    this.bootArgsAddr = this.bootBlock === null ? 0 : bootArgsAddress(ramBase, o.memory.size);
    this.writeBootBlock();
    const host: VcpuHost = {
      hypercall: (vcpu, nr, args) => this.hypercallHandler(vcpu.index, nr, args),
      systemEvent: (_vcpu, kind, code, atNs) => this.systemEvent(kind, code, atNs),
      error: (vcpu, message, atNs, guestFault = false) =>
        this.events.emit("vcpu-error", { vcpu: vcpu.index, message, atNs, guestFault }),
      dirtyRingFull: (vcpu, atNs) => {
        if (rings !== null) this.ringFullHandler(vcpu.index, rings, atNs);
      },
    };
    const vcpus: Vcpu[] = [];
    for (let i = 0; i < o.vcpus; i++) {
      const core = this.cpu.createVcpu({
        hartId: i,
        memory,
        timebaseHz: board.timebaseHz,
        vcpuCount: o.vcpus,
        timebaseAt: (ns) => bd.timebaseAt(ns),
      });
      vcpus.push(
        new Vcpu({
          index: i,
          core,
          scheduler: this.scheduler,
          memory,
          sliceNs: o.sliceNs,
          host,
          dirtyRings: rings,
        }),
      );
    }
    this.vcpus = vcpus;
    this.reset(ramBase);
  }

  /** Lifecycle state. */
  get state(): MachineRunState {
    return this.stateValue;
  }

  private setState(s: MachineRunState): void {
    if (this.stateValue === s) return;
    this.stateValue = s;
    this.events.emit("state", s);
  }

  private writeBootBlock(): void {
    if (this.bootBlock !== null) this.memory.writeBytes(this.bootArgsAddr, this.bootBlock);
  }

  private transmit(byte: number): void {
    if (this.outLen === this.out.length) {
      const bigger = new Uint8Array(this.out.length * 2);
      bigger.set(this.out);
      this.out = bigger;
    }
    this.out[this.outLen++] = byte;
    this.events.emit("uart", byte);
  }

  private shutdownRequest(kind: ShutdownKind, code: number, access: MmioAccess): void {
    const vcpu = this.vcpus[access.hartId];
    if (vcpu === undefined) {
      this.systemEvent(kind === "reset" ? "reset" : "shutdown", code, access.nowNs, kind);
      return;
    }
    this.pendingKind = kind;
    vcpu.requestSystemEvent(kind === "reset" ? "reset" : "shutdown", code);
  }

  private systemEvent(
    kind: "shutdown" | "reset",
    code: number,
    atNs: number,
    request: ShutdownKind = this.pendingKind,
  ): void {
    if (kind === "reset") {
      this.events.emit("shutdown", { kind: "reset", code: 0, atNs });
      this.devices.uart.reset();
      this.boardDevices.reset();
      this.reset(this.entry);
      for (const v of this.vcpus) v.kick();
      return;
    }
    for (const v of this.vcpus) v.stop();
    this.boardDevices.freeze(atNs);
    this.setState("stopped");
    this.events.emit("shutdown", { kind: request, code, atNs });
  }

  /**
   * Set what a `DirtyRingFull` exit does (dirty-ring tracking; default: reap every ring, QEMU's
   * behaviour). Dirty-limit installs its own (reap one vCPU's ring, then throttle it).
   */
  setDirtyRingFullHandler(handler: DirtyRingFullHandler): void {
    if (typeof handler !== "function") {
      throw new InvalidArgumentError(
        `dirty-ring-full handler must be a function, got ${typeof handler}`,
      );
    }
    this.ringFullHandler = handler;
  }

  /** Set the hypercall handler (default: every call returns -38, ENOSYS). */
  setHypercallHandler(handler: HypercallHandler): void {
    this.hypercallHandler = handler;
  }

  /**
   * Reset every hart to `entry` with a0 = hart id, a1 = boot-argument block address (0 when
   * none) and (re)write the block. Devices keep their state.
   */
  reset(entry: number = this.board.ramBase): void {
    if (!Number.isInteger(entry) || entry < 0 || entry > 0xffff_ffff) {
      throw new InvalidArgumentError(`reset entry must be a u32 address, got ${entry}`);
    }
    this.entry = entry;
    this.writeBootBlock();
    for (const v of this.vcpus) v.core.reset(entry, this.bootArgsAddr);
  }

  /** Start every vCPU and the clock (created → running). */
  start(): void {
    if (this.stateValue !== "created") {
      throw new InvalidStateError(`start() needs a created machine, but it is ${this.stateValue}`);
    }
    this.boardDevices.thaw(this.scheduler.now());
    for (const v of this.vcpus) v.start();
    this.setState("running");
  }

  /** Pause every vCPU (resolves when all are out of the guest); mtime stops. */
  async pause(): Promise<void> {
    if (this.stateValue !== "running") return;
    await Promise.all(this.vcpus.map((v) => v.pause()));
    if (this.stateValue !== "running") return;
    this.boardDevices.freeze(this.scheduler.now());
    this.setState("paused");
  }

  /** Resume a paused machine. */
  resume(): void {
    if (this.stateValue !== "paused") {
      throw new InvalidStateError(`resume() needs a paused machine, but it is ${this.stateValue}`);
    }
    this.boardDevices.thaw(this.scheduler.now());
    for (const v of this.vcpus) v.resume();
    this.setState("running");
  }

  /** Stop for good. */
  stop(): void {
    if (this.stateValue === "stopped") return;
    for (const v of this.vcpus) v.stop();
    this.boardDevices.freeze(this.scheduler.now());
    this.setState("stopped");
  }

  /** Everything the guest wrote to the UART so far (UTF-8 decoded). */
  uartOutput(): string {
    return new TextDecoder().decode(this.out.subarray(0, this.outLen));
  }

  /** Total guest work of all vCPUs. */
  workDone(): number {
    let sum = 0;
    for (const v of this.vcpus) sum += v.core.workDone;
    return sum;
  }

  /** Per-vCPU statistics. */
  vcpuStats(): VcpuStats[] {
    return this.vcpus.map((v) => v.stats());
  }

  private allDevices(): MmioDevice[] {
    return [
      this.devices.uart,
      ...this.boardDevices.mmio.map((d) => d.device),
      ...this.extraDevices,
    ];
  }

  /** Save every vCPU's and device's state (plain data). Pause the machine first for a consistent image. */
  saveState(): MachineState {
    const devices: Record<string, DeviceState> = {};
    for (const d of this.allDevices()) devices[d.id] = d.saveState();
    return { version: 1, vcpus: this.vcpus.map((v) => v.core.saveState()), devices };
  }

  /** Restore {@link saveState} output (validated). The machine must not be running. */
  loadState(state: MachineState): void {
    if (this.stateValue === "running") {
      throw new InvalidStateError(
        "loadState() needs a machine that is not running; pause it first",
      );
    }
    const s = parseState("machine", machineStateSchema, state);
    if (s.vcpus.length !== this.vcpus.length) {
      throw new StateValidationError(
        `invalid machine state: expected ${this.vcpus.length} vCPU states, found ${s.vcpus.length}`,
      );
    }
    const all = this.allDevices();
    const ids = all.map((d) => d.id);
    const got = Object.keys(s.devices).sort();
    if (got.join(",") !== [...ids].sort().join(",")) {
      throw new StateValidationError(
        `invalid machine state: expected devices ${ids.join(", ")}, found ${got.join(", ") || "none"}`,
      );
    }
    s.vcpus.forEach((c, i) => {
      this.vcpus[i].core.loadState(c as CpuState);
    });
    for (const d of all) d.loadState(s.devices[d.id]);
  }

  /**
   * Run (starting or resuming the machine) until the guest shuts down, a vCPU fails, or
   * `timeLimitNs` of scheduler time passes. Drives a {@link VirtualScheduler} itself; with a
   * realtime scheduler it waits on the event loop. The machine is left as it is (running on a
   * time limit).
   */
  async runUntilShutdown(opts: { timeLimitNs: number }): Promise<RunResult> {
    const limit = opts?.timeLimitNs;
    if (typeof limit !== "number" || !(limit > 0)) {
      throw new InvalidArgumentError(`timeLimitNs must be a positive number of ns, got ${limit}`);
    }
    if (this.stateValue === "stopped") {
      throw new InvalidStateError("runUntilShutdown() on a stopped machine");
    }
    let result: RunResult | null = null;
    let wake: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const finish = (r: RunResult): void => {
      if (result !== null) return;
      result = r;
      wake();
      notifyAsyncWake(this.scheduler);
    };
    const onShutdown = (e: ShutdownEvent): void => {
      if (e.kind !== "reset")
        finish({ reason: "shutdown", code: e.code, atNs: e.atNs, kind: e.kind });
    };
    const onError = (e: VcpuErrorEvent): void =>
      finish({
        reason: "error",
        code: null,
        atNs: e.atNs,
        message: `vCPU ${e.vcpu}: ${e.message}`,
        guestFault: e.guestFault,
      });
    this.events.on("shutdown", onShutdown);
    this.events.on("vcpu-error", onError);
    const deadline = this.scheduler.now() + limit;
    const timer: Timer = this.scheduler.at(deadline, () =>
      finish({ reason: "time-limit", code: null, atNs: deadline }),
    );
    try {
      if (this.stateValue === "created") this.start();
      else if (this.stateValue === "paused") this.resume();
      const s = this.scheduler;
      if (s instanceof VirtualScheduler) {
        await s.run({ stopWhen: () => result !== null });
        if (result === null) finish({ reason: "time-limit", code: null, atNs: s.now() });
      } else {
        await finished;
      }
    } finally {
      timer.cancel();
      this.events.off("shutdown", onShutdown);
      this.events.off("vcpu-error", onError);
    }
    return result!;
  }
}

/**
 * Compose a machine from `options.board` (validated options; state `created`; call
 * `reset(entry)` then `start()`). `@ferry/riscv`'s `createMachine` passes the `virt` board.
 */
export function composeMachine<D extends object = object>(
  options: MachineOptions & { readonly board: Board<D> },
): Machine<D> {
  return new Machine<D>(options);
}
