/**
 * A RISC-V SBI (Supervisor Binary Interface, v1.0) implemented by ferry itself: the M-mode
 * firmware of the `virt` machine when it boots a kernel directly in S-mode. ECALLs from S-mode
 * land here instead of in guest M-mode code. Implemented extensions: Base, legacy console
 * putchar/getchar, legacy set_timer/clear_ipi/shutdown, TIME, IPI, RFENCE (fence.i and
 * sfence.vma), HSM (start, stop, status) and SRST (system reset).
 *
 * Everything else is answered `SBI_ERR_NOT_SUPPORTED`. The firmware also sets up each hart at
 * reset the way OpenSBI's `fw_jump` leaves it: S-mode, `a0` = hart id, `a1` = the device tree,
 * exceptions and S-level interrupts delegated to S-mode, counters readable from S/U-mode.
 */
import { Csr, MEDELEG_MASK, Priv, S_INTERRUPTS } from "./csr";
import type { Firmware } from "./firmware";
import type { RiscvHart } from "./hart";

/** SBI error codes. */
export const SbiError = {
  Success: 0,
  Failed: -1,
  NotSupported: -2,
  InvalidParam: -3,
  Denied: -4,
  InvalidAddress: -5,
  AlreadyAvailable: -6,
} as const;

/** Extension ids. */
export const SbiExt = {
  LegacySetTimer: 0x00,
  LegacyPutchar: 0x01,
  LegacyGetchar: 0x02,
  LegacyClearIpi: 0x03,
  LegacyShutdown: 0x08,
  Base: 0x10,
  Time: 0x54494d45,
  Ipi: 0x735049,
  Rfence: 0x52464e43,
  Hsm: 0x48534d,
  Srst: 0x53525354,
} as const;

/** SBI specification version reported: 1.0. */
export const SBI_SPEC_VERSION = 0x0100_0000;
/** Implementation id reported by sbi_get_impl_id (not in the SBI registry: "fe" for ferry). */
export const SBI_IMPL_ID = 0xfe;
/** Implementation version. */
export const SBI_IMPL_VERSION = 1;

const SUPPORTED = new Set<number>([
  SbiExt.LegacySetTimer,
  SbiExt.LegacyPutchar,
  SbiExt.LegacyGetchar,
  SbiExt.LegacyClearIpi,
  SbiExt.LegacyShutdown,
  SbiExt.Base,
  SbiExt.Time,
  SbiExt.Ipi,
  SbiExt.Rfence,
  SbiExt.Hsm,
  SbiExt.Srst,
]);

/** Exceptions the firmware leaves to M-mode: ECALL from S (SBI) and misaligned loads/stores (emulated). */
const KEPT_IN_M = (1 << 9) | (1 << 4) | (1 << 6);
/** medeleg value set at reset. */
export const SBI_MEDELEG = MEDELEG_MASK & ~KEPT_IN_M;

/** What the firmware needs from the machine it runs on. */
export interface SbiPlatform {
  /** Number of harts (ids 0..n-1). */
  readonly hartCount: number;
  /** The hart with id `id`. */
  hart(id: number): RiscvHart;
  /** Program hart `id`'s timer compare (CLINT `mtimecmp`) to `ticks` of the timebase. */
  setTimer(id: number, ticks: number, nowNs: number): void;
  /** Raise the supervisor software interrupt (an IPI) on hart `id`, waking it. */
  sendIpi(id: number): void;
  /** Wake hart `id` after an HSM start. */
  wake(id: number): void;
  /** Write one byte to the console. */
  putchar(byte: number, nowNs: number): void;
  /** Read one byte from the console, or -1 when none is waiting. */
  getchar(nowNs: number): number;
}

/** Options of {@link createSbi}. */
export interface SbiOptions {
  /** Guest-physical address of the device tree passed in `a1`. */
  readonly dtbAddress: number;
  /** Id of the hart that boots (the others start stopped, for HSM hart_start). Default 0. */
  readonly bootHart?: number;
}

const TWO32 = 4294967296;

/** The SBI firmware of one machine (shared by its harts). */
export class SbiFirmware implements Firmware {
  /** Calls handled, by extension id (for statistics). */
  readonly calls = new Map<number, number>();
  private readonly platform: SbiPlatform;
  private readonly dtb: number;
  private readonly bootHart: number;

  constructor(platform: SbiPlatform, options: SbiOptions) {
    this.platform = platform;
    this.dtb = options.dtbAddress;
    this.bootHart = options.bootHart ?? 0;
  }

  resetHart(hart: RiscvHart, entry: number): void {
    const c = hart.csr;
    c.medeleg = SBI_MEDELEG;
    c.mideleg = S_INTERRUPTS;
    c.mcounteren = 7;
    c.write(Csr.mie, 0);
    hart.x[10] = hart.id;
    hart.x[11] = this.dtb | 0;
    hart.pc = entry | 0;
    c.priv = Priv.Supervisor;
    c.updateVm();
    hart.hartStopped = hart.id !== this.bootHart;
  }

  ecall(hart: RiscvHart, nowNs: number): void {
    const x = hart.x;
    const ext = x[17] >>> 0;
    const fid = x[16];
    this.calls.set(ext, (this.calls.get(ext) ?? 0) + 1);
    let err: number = SbiError.Success;
    let value = 0;
    const p = this.platform;
    switch (ext) {
      case SbiExt.LegacySetTimer:
        p.setTimer(hart.id, (x[10] >>> 0) + (x[11] >>> 0) * TWO32, nowNs);
        x[10] = 0;
        return;
      case SbiExt.LegacyPutchar:
        p.putchar(x[10] & 0xff, nowNs);
        x[10] = 0;
        return;
      case SbiExt.LegacyGetchar:
        x[10] = p.getchar(nowNs);
        return;
      case SbiExt.LegacyClearIpi:
        hart.csr.mip &= ~2;
        x[10] = 0;
        return;
      case SbiExt.LegacyShutdown:
        hart.requestSystemEvent("shutdown", 0);
        return;
      case SbiExt.Base:
        switch (fid) {
          case 0:
            value = SBI_SPEC_VERSION;
            break;
          case 1:
            value = SBI_IMPL_ID;
            break;
          case 2:
            value = SBI_IMPL_VERSION;
            break;
          case 3:
            value = SUPPORTED.has(x[10] >>> 0) ? 1 : 0;
            break;
          case 4: // mvendorid
          case 5: // marchid
          case 6: // mimpid
            value = 0;
            break;
          default:
            err = SbiError.NotSupported;
        }
        break;
      case SbiExt.Time:
        if (fid === 0) p.setTimer(hart.id, (x[10] >>> 0) + (x[11] >>> 0) * TWO32, nowNs);
        else err = SbiError.NotSupported;
        break;
      case SbiExt.Ipi:
        if (fid === 0) err = this.forHarts(x[10], x[11], (id) => p.sendIpi(id));
        else err = SbiError.NotSupported;
        break;
      case SbiExt.Rfence:
        if (fid === 0) err = this.forHarts(x[10], x[11], () => {});
        else if (fid === 1 || fid === 2) {
          err = this.forHarts(x[10], x[11], (id) => p.hart(id).csr.invalidateVm());
        } else err = SbiError.NotSupported;
        break;
      case SbiExt.Hsm:
        [err, value] = this.hsm(hart, fid, x);
        break;
      case SbiExt.Srst:
        if (fid !== 0) err = SbiError.NotSupported;
        else {
          const type = x[10] >>> 0;
          const reason = x[11] >>> 0;
          if (type === 0) {
            hart.requestSystemEvent("shutdown", reason === 1 ? 1 : 0);
            return;
          }
          if (type === 1 || type === 2) {
            hart.requestSystemEvent("reset", 0);
            return;
          }
          err = SbiError.InvalidParam;
        }
        break;
      default:
        err = SbiError.NotSupported;
    }
    x[10] = err;
    x[11] = value | 0;
  }

  /** Apply `fn` to every hart in (mask, base); base -1 means all harts. */
  private forHarts(mask: number, base: number, fn: (id: number) => void): number {
    const n = this.platform.hartCount;
    if (base === -1) {
      for (let id = 0; id < n; id++) fn(id);
      return SbiError.Success;
    }
    const b = base >>> 0;
    for (let i = 0; i < 32; i++) {
      if (((mask >>> i) & 1) === 0) continue;
      if (b + i >= n) return SbiError.InvalidParam;
    }
    for (let i = 0; i < 32; i++) if (((mask >>> i) & 1) !== 0) fn(b + i);
    return SbiError.Success;
  }

  /** HSM: hart_start, hart_stop, hart_get_status. Returns [error, value]. */
  private hsm(hart: RiscvHart, fid: number, x: Int32Array): [number, number] {
    const p = this.platform;
    switch (fid) {
      case 0: {
        const id = x[10] >>> 0;
        if (id >= p.hartCount) return [SbiError.InvalidParam, 0];
        const t = p.hart(id);
        if (!t.hartStopped) return [SbiError.AlreadyAvailable, 0];
        const c = t.csr;
        c.satp = 0;
        c.mstatusSie = 0;
        c.priv = Priv.Supervisor;
        c.invalidateVm();
        t.pc = x[11];
        t.x[10] = id;
        t.x[11] = x[12];
        t.hartStopped = false;
        p.wake(id);
        return [SbiError.Success, 0];
      }
      case 1:
        hart.stopHart();
        return [SbiError.Success, 0];
      case 2: {
        const id = x[10] >>> 0;
        if (id >= p.hartCount) return [SbiError.InvalidParam, 0];
        return [SbiError.Success, p.hart(id).hartStopped ? 1 : 0];
      }
      default:
        return [SbiError.NotSupported, 0];
    }
  }
}

/** Make the SBI firmware for a machine. */
export function createSbi(platform: SbiPlatform, options: SbiOptions): SbiFirmware {
  return new SbiFirmware(platform, options);
}
