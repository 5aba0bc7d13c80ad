/**
 * The KVM-style vCPU run loop, driven by a Scheduler: one scheduler event runs one slice.
 */
import { InvalidArgumentError, MemoryAccessError, hex } from "../errors";
import type { DirtyRings } from "../memory/dirty-ring";
import { PAGE_SIZE, type AddressSpace, type MmioAccess } from "../memory/types";
import type { Scheduler, Timer } from "../time/types";
import { notifyAsyncWake } from "../time/virtual";
import {
  ExitReason,
  createVcpuRun,
  type ExitReasonCode,
  type InterruptLineCode,
  type PreRunHook,
  type PreRunInfo,
  type VcpuCore,
  type VcpuRun,
} from "./types";

/** Lifecycle state of a vCPU: created → running ↔ paused → stopped. */
export type VcpuState = "created" | "running" | "paused" | "stopped";

/** What a running vCPU is doing between scheduler events. */
export type VcpuActivity =
  | "idle"
  | "scheduled"
  | "in-slice"
  | "throttled"
  | "halted"
  /** Out of the guest after a `DirtyRingFull` exit, until its dirty ring is reset. */
  | "ring-full";

/** What the vCPU asks of its machine. */
export interface VcpuHost {
  /** Answer a hypercall; the result goes to the guest's return register. */
  hypercall(vcpu: Vcpu, nr: number, args: Int32Array): number;
  /** A device requested shutdown/reset during this vCPU's MMIO access. */
  systemEvent(vcpu: Vcpu, kind: "shutdown" | "reset", code: number, atNs: number): void;
  /** The vCPU stopped on an internal error. */
  error(vcpu: Vcpu, message: string, atNs: number, guestFault?: boolean): void;
  /**
   * The vCPU left the guest because its dirty ring is full (`KVM_EXIT_DIRTY_RING_FULL`). The
   * host may harvest and reset the rings at once (QEMU reaps them in the vCPU thread); if the ring
   * is still full afterwards, the vCPU waits (activity `ring-full`) until a reset frees it.
   */
  dirtyRingFull?(vcpu: Vcpu, atNs: number): void;
}

/** Options of {@link createVcpu}. */
export interface VcpuOptions {
  /** vCPU (hart) index. */
  readonly index: number;
  /** The backend engine for this vCPU. */
  readonly core: VcpuCore;
  readonly scheduler: Scheduler;
  /** Address space used to route MMIO exits. */
  readonly memory: AddressSpace;
  /** Virtual ns of guest time per scheduler event (default 100_000). */
  readonly sliceNs?: number;
  readonly host: VcpuHost;
  /** The machine's dirty rings, when RAM uses the `ring` dirty tracker. */
  readonly dirtyRings?: DirtyRings | null;
}

/** Per-vCPU statistics (virtual ns). */
export interface VcpuStats {
  /** Guest work retired (`core.workDone`). */
  readonly workDone: number;
  /** Time spent executing guest code. */
  readonly runningNs: number;
  /** Time spent sleeping because pre-run hooks asked to (throttling). */
  readonly throttledNs: number;
  /** Time spent halted (WFI) waiting for an interrupt. */
  readonly haltedNs: number;
  /** Slices run. */
  readonly slices: number;
  /** Exits from `core.run`. */
  readonly exits: number;
  /** `DirtyRingFull` exits (dirty-ring tracking only). */
  readonly dirtyRingFullExits: number;
  /** Time spent out of the guest waiting for a full dirty ring to be reset. */
  readonly dirtyRingWaitNs: number;
}

/** Default slice length (ns). */
export const DEFAULT_SLICE_NS = 100_000;
/** Exits in a row without consumed time after which the vCPU is declared stuck. */
const MAX_ZERO_PROGRESS_EXITS = 1_000_000;
/** Linux's ENOSYS, returned for unhandled hypercalls. */
export const ENOSYS_RESULT = -38;

/**
 * One vCPU: runs its {@link VcpuCore} in slices, handles exits, hooks, kicks, halts and pauses.
 * See docs/core.md for the loop.
 */
export class Vcpu {
  /** vCPU index (hart id). */
  readonly index: number;
  /** The backend engine. */
  readonly core: VcpuCore;
  /** The shared run structure (KVM's `kvm_run`). */
  readonly run: VcpuRun = createVcpuRun();
  /** Slice length (virtual ns). */
  readonly sliceNs: number;
  private readonly scheduler: Scheduler;
  private readonly memory: AddressSpace;
  private readonly host: VcpuHost;
  private stateValue: VcpuState = "created";
  private activityValue: VcpuActivity = "idle";
  private timer: Timer | null = null;
  private timerAt = 0;
  private throttleEnd = 0;
  private haltStart = 0;
  private resumeDelay = 0;
  private pauseRequested = false;
  private pauseWaiters: Array<() => void> = [];
  private hooks: readonly PreRunHook[] = [];
  private readonly info: { vcpuIndex: number; nowNs: number; preemptAtNs: number };
  /** The hooks' preemption timer: leave the guest and run them again at this virtual time. */
  private preemptAt = Number.POSITIVE_INFINITY;
  private readonly access: { hartId: number; nowNs: number };
  private pendingEvent: "shutdown" | "reset" | null = null;
  private pendingCode = 0;
  private readonly sliceFn = (): void => this.slice(false);
  /** After a completed hook sleep the guest is entered without asking the hooks again. */
  private readonly afterSleepFn = (): void => this.slice(true);
  private runningNs = 0;
  private throttledNs = 0;
  private haltedNs = 0;
  private slices = 0;
  private exits = 0;
  private readonly rings: DirtyRings | null;
  private ringWaitStart = 0;
  private ringWaitNs = 0;
  private ringFullExits = 0;
  /** Largest budget left unused by a deadline-clipped `BudgetExhausted` (see backendFits). */
  private fitsBelow = 0;

  constructor(opts: VcpuOptions) {
    const sliceNs = opts.sliceNs ?? DEFAULT_SLICE_NS;
    if (!(sliceNs > 0) || !Number.isFinite(sliceNs)) {
      throw new InvalidArgumentError(`sliceNs must be a positive number of ns, got ${sliceNs}`);
    }
    this.index = opts.index;
    this.core = opts.core;
    this.scheduler = opts.scheduler;
    this.memory = opts.memory;
    this.host = opts.host;
    this.sliceNs = sliceNs;
    this.info = { vcpuIndex: opts.index, nowNs: 0, preemptAtNs: Number.POSITIVE_INFINITY };
    this.access = { hartId: opts.index, nowNs: 0 };
    this.rings = opts.dirtyRings ?? null;
    if (this.rings !== null) this.rings.setSpaceListener(opts.index, () => this.ringSpace());
  }

  /** Lifecycle state. */
  get state(): VcpuState {
    return this.stateValue;
  }

  /** What the vCPU is doing right now. */
  get activity(): VcpuActivity {
    return this.activityValue;
  }

  /** Statistics so far (a fresh object). */
  stats(): VcpuStats {
    let halted = this.haltedNs;
    if (this.activityValue === "halted" && this.stateValue === "running") {
      halted += Math.max(0, this.scheduler.now() - this.haltStart);
    }
    let ringWait = this.ringWaitNs;
    if (this.activityValue === "ring-full" && this.stateValue === "running") {
      ringWait += Math.max(0, this.scheduler.now() - this.ringWaitStart);
    }
    let throttled = this.throttledNs;
    if (this.activityValue === "throttled") {
      throttled -= Math.max(0, this.throttleEnd - this.scheduler.now());
    }
    return {
      workDone: this.core.workDone,
      runningNs: this.runningNs,
      throttledNs: throttled,
      haltedNs: halted,
      slices: this.slices,
      exits: this.exits,
      dirtyRingFullExits: this.ringFullExits,
      dirtyRingWaitNs: ringWait,
    };
  }

  /**
   * Register a pre-run hook (called before every guest entry; returns ns to sleep first).
   * Returns a function that removes it.
   */
  addPreRunHook(hook: PreRunHook): () => void {
    if (typeof hook !== "function") {
      throw new InvalidArgumentError(`pre-run hook must be a function, got ${typeof hook}`);
    }
    this.hooks = [...this.hooks, hook];
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks = [...this.hooks.slice(0, i), ...this.hooks.slice(i + 1)];
    };
  }

  /** Start running (created → running): the first slice runs now. */
  start(): void {
    if (this.stateValue !== "created") return;
    this.stateValue = "running";
    this.schedule(this.scheduler.now());
  }

  /**
   * Make the vCPU leave the guest and re-run its hooks now (QEMU's `qemu_cpu_kick`): sets
   * `run.immediateExit`, wakes a halted vCPU, and ends a hook sleep early.
   */
  kick(): void {
    this.run.immediateExit = true;
    if (this.stateValue !== "running") return;
    if (this.activityValue === "halted") this.wake();
    else if (this.activityValue === "throttled") {
      const now = this.scheduler.now();
      this.throttledNs -= Math.max(0, this.throttleEnd - now);
      this.cancelTimer();
      this.schedule(now);
    }
  }

  /** Raise or lower an interrupt line; a halted vCPU wakes when the core wants to. */
  setInterrupt(line: InterruptLineCode, level: boolean): void {
    this.core.setInterrupt(line, level);
    if (
      level &&
      this.activityValue === "halted" &&
      this.stateValue === "running" &&
      this.core.wantsWake()
    ) {
      this.wake();
    }
  }

  /** Ask the loop to end the current slice with a system event (called by devices). */
  requestSystemEvent(kind: "shutdown" | "reset", code: number): void {
    this.pendingEvent = kind;
    this.pendingCode = code;
  }

  /** Pause: resolves once the vCPU is out of the guest. */
  pause(): Promise<void> {
    if (this.stateValue !== "running") return Promise.resolve();
    if (this.activityValue === "in-slice") {
      this.pauseRequested = true;
      return new Promise((resolve) => this.pauseWaiters.push(resolve));
    }
    this.suspend(this.scheduler.now());
    return Promise.resolve();
  }

  /** Resume a paused vCPU (or start a created one). */
  resume(): void {
    if (this.stateValue === "created") {
      this.start();
      return;
    }
    if (this.stateValue !== "paused") return;
    this.stateValue = "running";
    const now = this.scheduler.now();
    if (this.activityValue === "halted") {
      this.haltStart = now;
      if (this.core.wantsWake()) this.wake();
    } else if (this.activityValue === "ring-full") {
      this.ringWaitStart = now;
      if (this.rings === null || !this.rings.isFull(this.index)) this.ringSpace();
    } else {
      this.schedule(now + this.resumeDelay);
    }
  }

  /** Stop for good. */
  stop(): void {
    if (this.stateValue === "stopped") return;
    if (this.activityValue === "halted" && this.stateValue === "running") {
      this.haltedNs += Math.max(0, this.scheduler.now() - this.haltStart);
    }
    if (this.activityValue === "ring-full" && this.stateValue === "running") {
      this.ringWaitNs += Math.max(0, this.scheduler.now() - this.ringWaitStart);
    }
    this.stateValue = "stopped";
    this.cancelTimer();
    if (this.activityValue !== "in-slice") this.activityValue = "idle";
    this.flushPauseWaiters();
  }

  private flushPauseWaiters(): void {
    this.pauseRequested = false;
    const waiters = this.pauseWaiters;
    if (waiters.length === 0) return;
    this.pauseWaiters = [];
    for (const w of waiters) w();
    notifyAsyncWake(this.scheduler);
  }

  private suspend(now: number): void {
    if (this.activityValue === "scheduled") {
      this.resumeDelay = Math.max(0, this.timerAt - now);
      this.activityValue = "idle";
    } else if (this.activityValue === "throttled") {
      this.throttledNs -= Math.max(0, this.throttleEnd - now);
      this.resumeDelay = 0;
      this.activityValue = "idle";
    } else if (this.activityValue === "halted") {
      this.haltedNs += Math.max(0, now - this.haltStart);
    } else if (this.activityValue === "ring-full") {
      this.ringWaitNs += Math.max(0, now - this.ringWaitStart);
    } else {
      this.resumeDelay = Math.max(0, this.timerAt - now);
      this.activityValue = "idle";
    }
    this.cancelTimer();
    this.stateValue = "paused";
    this.flushPauseWaiters();
  }

  private cancelTimer(): void {
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
  }

  private schedule(atNs: number): void {
    this.cancelTimer();
    this.timerAt = atNs;
    this.activityValue = "scheduled";
    this.timer = this.scheduler.at(atNs, this.sliceFn);
  }

  private wake(): void {
    const wakeAt = Math.max(this.scheduler.now(), this.haltStart);
    this.haltedNs += wakeAt - this.haltStart;
    this.schedule(wakeAt);
  }

  /**
   * True when `ns` of budget may let the backend make progress. A backend that returned
   * `BudgetExhausted` with `r` ns of a deadline-clipped budget left cannot fit a step in `r`
   * (RISC-V: one instruction), so any budget up to the largest such `r` fires the timer instead.
   */
  private backendFits(ns: number): boolean {
    return ns > this.fitsBelow;
  }

  /** A reset freed room in this vCPU's full dirty ring: re-enter the guest (not before the exit). */
  private ringSpace(): void {
    if (this.activityValue !== "ring-full" || this.stateValue !== "running") return;
    const at = Math.max(this.scheduler.now(), this.ringWaitStart);
    this.ringWaitNs += at - this.ringWaitStart;
    this.schedule(at);
  }

  /**
   * After a `DirtyRingFull` exit at `atNs`: let the host reap, then wait if the ring is still
   * full. Returns true when the vCPU now waits (the slice must end).
   */
  private dirtyRingFull(atNs: number): boolean {
    this.ringFullExits++;
    if (this.host.dirtyRingFull !== undefined) this.host.dirtyRingFull(this, atNs);
    if (this.rings === null || !this.rings.isFull(this.index)) return false;
    if (this.stateValue !== "running") return false;
    this.ringWaitStart = atNs;
    this.activityValue = "ring-full";
    if (this.pauseRequested) this.suspend(this.scheduler.now());
    return true;
  }

  private throttle(atNs: number, sleepNs: number): void {
    this.throttledNs += sleepNs;
    this.throttleEnd = atNs + sleepNs;
    this.cancelTimer();
    this.timerAt = this.throttleEnd;
    this.activityValue = "throttled";
    this.timer = this.scheduler.at(this.throttleEnd, this.afterSleepFn);
    if (this.pauseRequested) this.suspend(this.scheduler.now());
  }

  private runHooks(atNs: number): number {
    const hooks = this.hooks;
    this.preemptAt = Number.POSITIVE_INFINITY;
    if (hooks.length === 0) return 0;
    this.info.nowNs = atNs;
    this.info.preemptAtNs = Number.POSITIVE_INFINITY;
    const info: PreRunInfo = this.info;
    let total = 0;
    for (let i = 0; i < hooks.length; i++) {
      const ns = hooks[i](info);
      if (!(ns >= 0) || !Number.isFinite(ns)) {
        throw new InvalidArgumentError(
          `pre-run hook #${i} returned ${ns}; expected a finite number of ns >= 0`,
        );
      }
      total += ns;
    }
    const at = this.info.preemptAtNs;
    // A timer at or before now would fire at once forever: only a later one is armed.
    if (at > atNs) this.preemptAt = at;
    return total;
  }

  /**
   * Stop on an error. `guestFault`: the guest caused it (an access to unmapped or read-only
   * memory the backend routed here, a `MemoryAccessError`): a failed guest, not a ferry bug.
   */
  private fail(message: string, atNs: number, guestFault = false): void {
    this.stop();
    this.activityValue = "idle";
    this.run.exitReason = ExitReason.InternalError;
    this.run.internalError = message;
    this.host.error(this, message, atNs, guestFault);
  }

  /**
   * One slice: hooks (unless this event ends a hook sleep), then `core.run` until the budget is
   * used, handling exits.
   */
  private slice(hooksDone: boolean): void {
    this.timer = null;
    if (this.stateValue !== "running") return;
    const start = this.scheduler.now();
    const run = this.run;
    const core = this.core;
    const budget = this.sliceNs;
    let consumed = 0;
    this.activityValue = "in-slice";
    this.slices++;
    try {
      const sleep = hooksDone ? 0 : this.runHooks(start);
      if (sleep > 0) {
        this.throttle(start, sleep);
        return;
      }
      run.immediateExit = false;
      if (this.rings?.isFull(this.index) === true && this.dirtyRingFull(start)) {
        return;
      }
      let stuck = 0;
      while (consumed < budget) {
        const deadline = this.preemptAt;
        let allowed = budget - consumed;
        const clipped = deadline - (start + consumed) < allowed;
        if (clipped) {
          allowed = deadline - (start + consumed);
          if (allowed <= 0 || !this.backendFits(allowed)) {
            // The hooks' timer fires: leave the guest now (QEMU's timer kicks the vCPU).
            const at = Math.max(start + consumed, deadline);
            const s = this.runHooks(at);
            if (s > 0) {
              this.runningNs += consumed;
              this.throttle(at, s);
              return;
            }
            continue;
          }
        }
        run.startNs = start + consumed;
        run.exitReason = ExitReason.None;
        run.consumedNs = 0;
        core.run(run, allowed);
        const c = run.consumedNs;
        if (!(c >= 0) || !Number.isFinite(c)) {
          this.runningNs += consumed;
          this.fail(`backend reported consumedNs = ${c}; expected >= 0`, start + consumed);
          return;
        }
        consumed += c;
        this.exits++;
        const reason = run.exitReason as ExitReasonCode;
        if (reason === ExitReason.Mmio) {
          if (!this.handleMmio(start + consumed)) {
            this.runningNs += consumed;
            return;
          }
          if (this.rings?.isFull(this.index) === true && this.dirtyRingFull(start + consumed)) {
            this.runningNs += consumed;
            return;
          }
        } else if (reason === ExitReason.DirtyRingFull) {
          if (this.dirtyRingFull(start + consumed)) {
            this.runningNs += consumed;
            return;
          }
        } else if (reason === ExitReason.BudgetExhausted) {
          if (!clipped) {
            if (c === 0) stuck++;
            break;
          }
          // Ran as far as it could before the timer: the next step would cross it.
          this.fitsBelow = Math.max(this.fitsBelow, allowed - c);
        } else if (reason === ExitReason.Halt) {
          if (!core.wantsWake()) {
            this.runningNs += consumed;
            this.haltStart = start + consumed;
            this.activityValue = "halted";
            if (this.pauseRequested) this.suspend(this.scheduler.now());
            return;
          }
        } else if (reason === ExitReason.Hypercall) {
          core.completeHypercall(this.host.hypercall(this, run.hypercallNr, run.hypercallArgs));
        } else if (reason === ExitReason.Kicked) {
          run.immediateExit = false;
          const s = this.runHooks(start + consumed);
          if (s > 0) {
            this.runningNs += consumed;
            this.throttle(start + consumed, s);
            return;
          }
        } else if (reason === ExitReason.SystemEvent) {
          // The backend itself asked for shutdown/reset (e.g. the riscv-tests `tohost` protocol).
          this.runningNs += consumed;
          this.host.systemEvent(
            this,
            run.systemEvent === "reset" ? "reset" : "shutdown",
            run.systemEventCode,
            start + consumed,
          );
          if (this.stateValue !== "running" || this.pauseRequested) break;
          this.runningNs -= consumed;
        } else if (reason === ExitReason.InternalError) {
          this.runningNs += consumed;
          this.fail(run.internalError || "backend internal error", start + consumed);
          return;
        } else {
          this.runningNs += consumed;
          this.fail(`backend returned unknown exit reason ${reason}`, start + consumed);
          return;
        }
        if (this.pendingEvent !== null) {
          const kind = this.pendingEvent;
          this.pendingEvent = null;
          run.exitReason = ExitReason.SystemEvent;
          run.systemEvent = kind;
          run.systemEventCode = this.pendingCode;
          this.host.systemEvent(this, kind, this.pendingCode, start + consumed);
          break;
        }
        if (this.stateValue !== "running" || this.pauseRequested) break;
        if (c === 0) {
          if (++stuck > MAX_ZERO_PROGRESS_EXITS) {
            this.runningNs += consumed;
            this.fail(
              `backend made no progress in ${MAX_ZERO_PROGRESS_EXITS} exits in a row`,
              start + consumed,
            );
            return;
          }
        } else stuck = 0;
      }
      if (consumed === 0 && stuck > 0 && this.stateValue === "running") {
        this.fail("backend exited with BudgetExhausted without consuming any time", start);
        return;
      }
    } catch (e) {
      this.runningNs += consumed;
      this.fail(
        e instanceof Error ? e.message : String(e),
        start + consumed,
        e instanceof MemoryAccessError,
      );
      return;
    }
    this.runningNs += consumed;
    const next = start + consumed;
    if (this.stateValue !== "running") {
      this.activityValue = "idle";
      this.flushPauseWaiters();
      return;
    }
    this.timerAt = next;
    if (this.pauseRequested) {
      this.suspend(this.scheduler.now());
      return;
    }
    this.schedule(next);
  }

  private handleMmio(atNs: number): boolean {
    const run = this.run;
    const addr = run.mmioAddr;
    const size = run.mmioSize;
    const r = this.memory.find(addr);
    const what = `MMIO ${run.mmioIsWrite ? "store" : "load"} of ${size} byte(s) at ${hex(addr)}`;
    if (r === undefined || addr + size > r.base + r.size) {
      this.fail(`${what}: no device or memory is mapped there`, atNs, true);
      return false;
    }
    const offset = addr - r.base;
    if (r.kind === "mmio") {
      this.access.nowNs = atNs;
      const access: MmioAccess = this.access;
      if (run.mmioIsWrite) r.device.write(offset, size, run.mmioData, access);
      else this.core.completeMmioRead(r.device.read(offset, size, access));
      return true;
    }
    // A backend without a RAM fast path may route RAM through the loop.
    if (run.mmioIsWrite) {
      if (r.readonly) {
        this.fail(`${what}: region "${r.name}" is read-only`, atNs, true);
        return false;
      }
      r.backend.store(offset, size, run.mmioData);
      const log = r.dirty;
      if (log.logging) {
        const page = Math.floor(offset / PAGE_SIZE);
        if ((log.words[page >>> 5] & (1 << (page & 31))) === 0) log.markVcpu(this.index, page);
      }
    } else {
      this.core.completeMmioRead(r.backend.load(offset, size));
    }
    return true;
  }
}

/** Build a vCPU (state `created`). */
export function createVcpu(opts: VcpuOptions): Vcpu {
  return new Vcpu(opts);
}
