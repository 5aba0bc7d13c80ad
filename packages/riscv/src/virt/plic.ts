/**
 * The platform-level interrupt controller (SiFive PLIC, QEMU `virt`: 0x0C00_0000) with 31
 * level-triggered sources and two contexts per hart (0 = M-mode external interrupt, 1 = S-mode).
 */
import {
  type DeviceState,
  InterruptLine,
  type InterruptLineCode,
  type MmioAccess,
  type MmioDevice,
  parseState,
  StateValidationError,
} from "@ferry/core";
import { z } from "zod";

/** Guest-physical base of the PLIC on `virt`. */
export const PLIC_BASE = 0x0c00_0000;
/** Size of the PLIC's MMIO region (QEMU's for up to 8 harts). */
export const PLIC_SIZE = 0x60_0000;
/** Number of interrupt sources (ids 1..PLIC_SOURCES; id 0 means "none"). */
export const PLIC_SOURCES = 31;

const PENDING = 0x1000;
const ENABLE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT = 0x20_0000;
const CONTEXT_STRIDE = 0x1000;
const PRIORITY_MASK = 7;

/** Options of {@link Plic}. */
export interface PlicOptions {
  /** Number of harts (each has an M and an S context). */
  readonly hartCount: number;
  /** Raise or lower a hart's external interrupt line (MachineExternal or SupervisorExternal). */
  readonly setInterrupt: (hart: number, line: InterruptLineCode, level: boolean) => void;
}

const u32 = z.number().int().min(0).max(0xffff_ffff);
const plicStateSchema = z
  .object({
    priority: z.array(z.number().int().min(0).max(PRIORITY_MASK)).length(PLIC_SOURCES + 1),
    pending: u32,
    claimed: u32,
    level: u32,
    enable: z.array(u32),
    threshold: z.array(z.number().int().min(0).max(PRIORITY_MASK)),
  })
  .strict();

/** The PLIC's saved state (bit i of the words = source i). */
export type PlicState = z.infer<typeof plicStateSchema>;

/**
 * PLIC: priorities at `+4·id`, the pending word at `+0x1000`, per-context enables at
 * `+0x2000 + 0x80·ctx`, threshold and claim/complete at `+0x20_0000 + 0x1000·ctx` (+0, +4).
 * Each source's gateway is level-triggered: a high line makes the source pending unless it is
 * claimed and not yet completed; completing a still-high source makes it pending again.
 */
export class Plic implements MmioDevice {
  readonly id = "plic";
  private readonly hartCount: number;
  private readonly raise: PlicOptions["setInterrupt"];
  private readonly priority = new Uint8Array(PLIC_SOURCES + 1);
  private pending = 0;
  private claimed = 0;
  private level = 0;
  private readonly enable: Uint32Array;
  private readonly threshold: Uint8Array;
  private readonly output: Uint8Array;

  constructor(opts: PlicOptions) {
    this.hartCount = opts.hartCount;
    this.raise = opts.setInterrupt;
    this.enable = new Uint32Array(2 * opts.hartCount);
    this.threshold = new Uint8Array(2 * opts.hartCount);
    this.output = new Uint8Array(2 * opts.hartCount);
  }

  /** Drive source `id`'s interrupt line (a device's output). */
  setLevel(id: number, high: boolean): void {
    if (id < 1 || id > PLIC_SOURCES) return;
    const bit = 1 << id;
    this.level = high ? this.level | bit : this.level & ~bit;
    // Like QEMU's: a pending source whose line drops is no longer pending.
    if (!high) this.pending &= ~bit;
    else if ((this.claimed & bit) === 0) this.pending |= bit;
    this.update();
  }

  /** The best source for context `ctx` (pending, enabled, priority above threshold), or 0. */
  private best(ctx: number): number {
    const cand = this.pending & this.enable[ctx] & ~1;
    if (cand === 0) return 0;
    let best = 0;
    let bestPrio = this.threshold[ctx];
    for (let id = 1; id <= PLIC_SOURCES; id++) {
      if (((cand >>> id) & 1) !== 0 && this.priority[id] > bestPrio) {
        best = id;
        bestPrio = this.priority[id];
      }
    }
    return best;
  }

  /** Recompute every context's output line. */
  private update(): void {
    for (let ctx = 0; ctx < this.output.length; ctx++) {
      const on = this.best(ctx) !== 0 ? 1 : 0;
      if (on === this.output[ctx]) continue;
      this.output[ctx] = on;
      const line =
        (ctx & 1) === 0 ? InterruptLine.MachineExternal : InterruptLine.SupervisorExternal;
      this.raise(ctx >>> 1, line, on === 1);
    }
  }

  read(offset: number, size: 1 | 2 | 4, _access: MmioAccess): number {
    if (size !== 4 || (offset & 3) !== 0) return 0;
    if (offset < PENDING) {
      const id = offset >>> 2;
      return id <= PLIC_SOURCES ? this.priority[id] : 0;
    }
    if (offset === PENDING) return this.pending >>> 0;
    if (offset >= ENABLE && offset < CONTEXT) {
      const ctx = (offset - ENABLE) / ENABLE_STRIDE;
      if ((offset & (ENABLE_STRIDE - 1)) !== 0 || ctx >= this.enable.length) return 0;
      return this.enable[ctx];
    }
    if (offset >= CONTEXT) {
      const ctx = Math.floor((offset - CONTEXT) / CONTEXT_STRIDE);
      if (ctx >= this.threshold.length) return 0;
      const reg = (offset - CONTEXT) % CONTEXT_STRIDE;
      if (reg === 0) return this.threshold[ctx];
      if (reg === 4) return this.claim(ctx);
    }
    return 0;
  }

  /** Claim the best interrupt of context `ctx`: it stops being pending until completed. */
  private claim(ctx: number): number {
    const id = this.best(ctx);
    if (id !== 0) {
      this.pending &= ~(1 << id);
      this.claimed |= 1 << id;
      this.update();
    }
    return id;
  }

  write(offset: number, size: 1 | 2 | 4, value: number, _access: MmioAccess): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    if (offset < PENDING) {
      const id = offset >>> 2;
      if (id >= 1 && id <= PLIC_SOURCES) this.priority[id] = value & PRIORITY_MASK;
    } else if (offset >= ENABLE && offset < CONTEXT) {
      const ctx = (offset - ENABLE) / ENABLE_STRIDE;
      if ((offset & (ENABLE_STRIDE - 1)) !== 0 || ctx >= this.enable.length) return;
      this.enable[ctx] = value & ~1;
    } else if (offset >= CONTEXT) {
      const ctx = Math.floor((offset - CONTEXT) / CONTEXT_STRIDE);
      if (ctx >= this.threshold.length) return;
      const reg = (offset - CONTEXT) % CONTEXT_STRIDE;
      if (reg === 0) this.threshold[ctx] = value & PRIORITY_MASK;
      else if (reg === 4) {
        const id = value >>> 0;
        if (id < 1 || id > PLIC_SOURCES || ((this.enable[ctx] >>> id) & 1) === 0) return;
        const bit = 1 << id;
        this.claimed &= ~bit;
        if ((this.level & bit) !== 0) this.pending |= bit;
      } else return;
    } else return;
    this.update();
  }

  saveState(): DeviceState {
    const s: PlicState = {
      priority: Array.from(this.priority),
      pending: this.pending >>> 0,
      claimed: this.claimed >>> 0,
      level: this.level >>> 0,
      enable: Array.from(this.enable),
      threshold: Array.from(this.threshold),
    };
    return s;
  }

  loadState(state: DeviceState): void {
    const s = parseState("plic", plicStateSchema, state);
    const contexts = 2 * this.hartCount;
    if (s.enable.length !== contexts || s.threshold.length !== contexts) {
      throw new StateValidationError(
        `invalid plic state: expected ${contexts} contexts, found enable ${s.enable.length} and threshold ${s.threshold.length}`,
      );
    }
    this.priority.set(s.priority);
    this.pending = s.pending | 0;
    this.claimed = s.claimed | 0;
    this.level = s.level | 0;
    this.enable.set(s.enable);
    this.threshold.set(s.threshold);
    this.output.fill(0);
    for (let h = 0; h < this.hartCount; h++) {
      this.raise(h, InterruptLine.MachineExternal, false);
      this.raise(h, InterruptLine.SupervisorExternal, false);
    }
    this.update();
  }
}
