/**
 * CLINT (QEMU `virt`: 0x200_0000): msip, mtimecmp and mtime at a 10 MHz timebase in virtual time.
 */
import { z } from "zod";
import {
  type DeviceState,
  InterruptLine,
  type InterruptLineCode,
  InvalidArgumentError,
  type MmioAccess,
  type MmioDevice,
  parseState,
  type Scheduler,
  StateValidationError,
  type Timer,
} from "@ferry/core";

/** Guest-physical base of the CLINT on `virt`. */
export const CLINT_BASE = 0x200_0000;
/** Size of the CLINT's MMIO region. */
export const CLINT_SIZE = 0x1_0000;
/** mtime frequency on `virt` (Hz). */
export const TIMEBASE_HZ = 10_000_000;
/** Virtual ns per mtime tick. */
export const NS_PER_TICK = 1e9 / TIMEBASE_HZ;

const MTIMECMP_OFFSET = 0x4000;
const MTIME_OFFSET = 0xbff8;
const TWO_POW_32 = 4294967296;
/** mtimecmp values at or above this never fire (beyond float64 exact integers). */
const NEVER = 2 ** 53;

/** Options of {@link Clint}. */
export interface ClintOptions {
  readonly scheduler: Scheduler;
  /** Number of harts (1..4095). */
  readonly hartCount: number;
  /** Raise/lower an interrupt line of a hart. */
  readonly setInterrupt: (hart: number, line: InterruptLineCode, level: boolean) => void;
}

const u32 = z.number().int().min(0).max(0xffff_ffff);
const clintStateSchema = z
  .object({
    mtime: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    msip: z.array(z.number().int().min(0).max(1)),
    mtimecmp: z.array(z.object({ hi: u32, lo: u32 }).strict()),
  })
  .strict();

/** The CLINT's saved state (`mtime` in ticks; `mtimecmp` as 32-bit halves). */
export type ClintState = z.infer<typeof clintStateSchema>;

/**
 * CLINT: `msip[h]` at `+4h`, `mtimecmp[h]` (two 32-bit halves) at `+0x4000 + 8h`, `mtime` at
 * `+0xBFF8`. `mtime` counts virtual time at 10 MHz while the clock runs and stands still while
 * it is frozen (machine not running). Reads never go backwards.
 */
export class Clint implements MmioDevice {
  readonly id = "clint";
  /** Number of harts served. */
  readonly hartCount: number;
  private readonly scheduler: Scheduler;
  private readonly raise: ClintOptions["setInterrupt"];
  private readonly msip: Uint8Array;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;
  private readonly timers: Array<Timer | null>;
  private baseTicks = 0;
  private baseNs = 0;
  private lastTicks = 0;
  private frozen = true;

  constructor(opts: ClintOptions) {
    if (!Number.isInteger(opts.hartCount) || opts.hartCount < 1 || opts.hartCount > 4095) {
      throw new InvalidArgumentError(`CLINT hartCount must be 1..4095, got ${opts.hartCount}`);
    }
    this.hartCount = opts.hartCount;
    this.scheduler = opts.scheduler;
    this.raise = opts.setInterrupt;
    this.msip = new Uint8Array(opts.hartCount);
    this.cmpLo = new Uint32Array(opts.hartCount).fill(0xffff_ffff);
    this.cmpHi = new Uint32Array(opts.hartCount).fill(0xffff_ffff);
    this.timers = new Array(opts.hartCount).fill(null);
  }

  /** True while mtime advances. */
  get running(): boolean {
    return !this.frozen;
  }

  /** mtime (ticks) as seen at virtual time `ns` (never less than a value already returned). */
  mtimeAt(ns: number): number {
    if (this.frozen) return Math.max(this.baseTicks, this.lastTicks);
    const t = this.baseTicks + Math.floor((ns - this.baseNs) / NS_PER_TICK);
    if (t > this.lastTicks) this.lastTicks = t;
    return this.lastTicks;
  }

  /** mtime (ticks) now, for backends' `time` CSR. */
  mtimeNow(): number {
    return this.mtimeAt(this.scheduler.now());
  }

  /** Stop mtime at its value at `ns` (machine paused) and disarm timers. */
  freeze(ns: number = this.scheduler.now()): void {
    if (this.frozen) return;
    this.baseTicks = this.mtimeAt(ns);
    this.frozen = true;
    for (let h = 0; h < this.hartCount; h++) this.cancelTimer(h);
  }

  /** Let mtime run again from its frozen value at `ns`, re-arming the timers. */
  thaw(ns: number = this.scheduler.now()): void {
    if (!this.frozen) return;
    this.baseTicks = this.mtimeAt(ns);
    this.baseNs = ns;
    this.frozen = false;
    for (let h = 0; h < this.hartCount; h++) this.reprogram(h, ns);
  }

  /** Power-on values of msip/mtimecmp (mtime keeps counting), lines lowered. */
  reset(): void {
    for (let h = 0; h < this.hartCount; h++) {
      this.cancelTimer(h);
      this.msip[h] = 0;
      this.cmpLo[h] = 0xffff_ffff;
      this.cmpHi[h] = 0xffff_ffff;
      this.raise(h, InterruptLine.MachineSoftware, false);
      this.raise(h, InterruptLine.MachineTimer, false);
    }
  }

  private readWord(offset: number, ns: number): number {
    if (offset < 4 * this.hartCount) return this.msip[offset >>> 2];
    if (offset >= MTIMECMP_OFFSET && offset < MTIMECMP_OFFSET + 8 * this.hartCount) {
      const h = (offset - MTIMECMP_OFFSET) >>> 3;
      return (offset & 4) === 0 ? this.cmpLo[h] : this.cmpHi[h];
    }
    if (offset === MTIME_OFFSET) return this.mtimeAt(ns) % TWO_POW_32;
    if (offset === MTIME_OFFSET + 4) return Math.floor(this.mtimeAt(ns) / TWO_POW_32);
    return 0;
  }

  read(offset: number, size: 1 | 2 | 4, access: MmioAccess): number {
    const word = this.readWord(offset & ~3, access.nowNs);
    if (size === 4) return word >>> 0;
    const shifted = word >>> ((offset & 3) * 8);
    return size === 1 ? shifted & 0xff : shifted & 0xffff;
  }

  write(offset: number, size: 1 | 2 | 4, value: number, access: MmioAccess): void {
    const aligned = offset & ~3;
    let word = value >>> 0;
    if (size !== 4) {
      const shift = (offset & 3) * 8;
      const mask = (size === 1 ? 0xff : 0xffff) << shift;
      word = ((this.readWord(aligned, access.nowNs) & ~mask) | ((value << shift) & mask)) >>> 0;
    }
    const ns = access.nowNs;
    if (aligned < 4 * this.hartCount) {
      const h = aligned >>> 2;
      this.msip[h] = word & 1;
      this.raise(h, InterruptLine.MachineSoftware, (word & 1) !== 0);
    } else if (aligned >= MTIMECMP_OFFSET && aligned < MTIMECMP_OFFSET + 8 * this.hartCount) {
      const h = (aligned - MTIMECMP_OFFSET) >>> 3;
      if ((aligned & 4) === 0) this.cmpLo[h] = word;
      else this.cmpHi[h] = word;
      this.reprogram(h, ns);
    } else if (aligned === MTIME_OFFSET || aligned === MTIME_OFFSET + 4) {
      const now = this.mtimeAt(ns);
      const lo = aligned === MTIME_OFFSET ? word : now % TWO_POW_32;
      const hi = aligned === MTIME_OFFSET ? Math.floor(now / TWO_POW_32) : word;
      this.setMtime(Math.min(hi * TWO_POW_32 + lo, Number.MAX_SAFE_INTEGER), ns);
    }
  }

  private setMtime(ticks: number, ns: number): void {
    this.baseTicks = ticks;
    this.lastTicks = ticks;
    this.baseNs = ns;
    for (let h = 0; h < this.hartCount; h++) this.reprogram(h, ns);
  }

  private cancelTimer(h: number): void {
    const t = this.timers[h];
    if (t !== null) {
      t.cancel();
      this.timers[h] = null;
    }
  }

  /** Re-evaluate hart `h`'s timer: raise MTIP when due, else lower it and arm a timer. */
  private reprogram(h: number, ns: number): void {
    this.cancelTimer(h);
    const cmp = this.cmpHi[h] * TWO_POW_32 + this.cmpLo[h];
    if (this.mtimeAt(ns) >= cmp) {
      this.raise(h, InterruptLine.MachineTimer, true);
      return;
    }
    this.raise(h, InterruptLine.MachineTimer, false);
    if (this.frozen || cmp >= NEVER) return;
    const deadline = this.baseNs + (cmp - this.baseTicks) * NS_PER_TICK;
    this.timers[h] = this.scheduler.at(deadline, () => {
      this.timers[h] = null;
      this.reprogram(h, Math.max(this.scheduler.now(), deadline));
    });
  }

  saveState(): DeviceState {
    const s: ClintState = {
      mtime: this.mtimeAt(this.scheduler.now()),
      msip: Array.from(this.msip),
      mtimecmp: Array.from(this.cmpLo, (lo, h) => ({ hi: this.cmpHi[h], lo })),
    };
    return s;
  }

  loadState(state: DeviceState): void {
    const s = parseState("clint", clintStateSchema, state);
    if (s.msip.length !== this.hartCount || s.mtimecmp.length !== this.hartCount) {
      throw new StateValidationError(
        `invalid clint state: expected ${this.hartCount} harts, found msip ${s.msip.length} and mtimecmp ${s.mtimecmp.length}`,
      );
    }
    const ns = this.scheduler.now();
    s.mtimecmp.forEach((c, h) => {
      this.cmpHi[h] = c.hi;
      this.cmpLo[h] = c.lo;
    });
    s.msip.forEach((v, h) => {
      this.msip[h] = v;
      this.raise(h, InterruptLine.MachineSoftware, v !== 0);
    });
    this.setMtime(s.mtime, ns);
  }
}
