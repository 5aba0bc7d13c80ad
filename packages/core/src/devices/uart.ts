/**
 * NS16550A UART (QEMU `virt`: 0x1000_0000, 1-byte registers). Its interrupt output goes to
 * whatever a board wires with `setInterruptHandler` (the PLIC on the Linux `virt` board).
 */
import { z } from "zod";
import type { DeviceState, MmioAccess, MmioDevice } from "../memory/types";
import { parseState } from "./validate";

/** Guest-physical base of the UART on `virt`. */
export const UART_BASE = 0x1000_0000;
/** Size of the UART's MMIO region. */
export const UART_SIZE = 0x100;

const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const IER_RDI = 0x01;
const IER_THRI = 0x02;
const FCR_ENABLE = 0x01;
/** Receive queue capacity (bytes beyond it are dropped, like an overrun). */
const RX_CAPACITY = 4096;

const u8 = z.number().int().min(0).max(255);
const uartStateSchema = z
  .object({
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    fcr: u8,
    rx: z.array(u8).max(RX_CAPACITY),
    /** A transmitter-empty interrupt is pending (absent: false). */
    thri: z.boolean().optional(),
  })
  .strict();

/** The UART's saved state. */
export type UartState = z.infer<typeof uartStateSchema>;

/**
 * NS16550A: THR/RBR, IER, IIR/FCR, LCR (DLAB → DLL/DLM), MCR (loopback), LSR (THRE|TEMT
 * always set: transmission is instant; DR while input is queued), MSR, SCR. Any access size
 * uses the low byte.
 */
export class Ns16550a implements MmioDevice {
  readonly id = "uart0";
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  private rx: number[] = [];
  private thrPending = false;
  private irqLevel = false;
  private irq: (level: boolean) => void = () => {};

  /** `transmit` receives every byte the guest writes to THR. */
  constructor(private readonly transmit: (byte: number) => void) {}

  /** Wire the interrupt output (called with the new level whenever it changes). */
  setInterruptHandler(handler: (level: boolean) => void): void {
    this.irq = handler;
    this.irqLevel = false;
    this.updateIrq();
  }

  /** The interrupt output: received data with RDI enabled, or THR empty with THRI enabled. */
  private updateIrq(): void {
    const level =
      ((this.ier & IER_RDI) !== 0 && this.rx.length > 0) ||
      ((this.ier & IER_THRI) !== 0 && this.thrPending);
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq(level);
  }

  /** Queue bytes for the guest to read from RBR. Returns how many were accepted. */
  pushInput(bytes: Uint8Array | string): number {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    let n = 0;
    for (const b of data) {
      if (this.rx.length >= RX_CAPACITY) break;
      this.rx.push(b);
      n++;
    }
    this.updateIrq();
    return n;
  }

  read(offset: number, _size: 1 | 2 | 4, _access: MmioAccess): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case 0:
        if (dlab) return this.dll;
        if (this.rx.length === 0) return 0;
        {
          const b = this.rx.shift()!;
          this.updateIrq();
          return b;
        }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        const fifo = (this.fcr & FCR_ENABLE) !== 0 ? 0xc0 : 0;
        if ((this.ier & IER_RDI) !== 0 && this.rx.length > 0) return fifo | 0x04;
        if ((this.ier & IER_THRI) !== 0 && this.thrPending) {
          // Reading IIR while it reports THR empty clears that interrupt (16550 behaviour).
          this.thrPending = false;
          this.updateIrq();
          return fifo | 0x02;
        }
        return fifo | 0x01;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return LSR_THRE | LSR_TEMT | (this.rx.length > 0 ? LSR_DR : 0);
      case 6:
        // Loopback wires MCR outputs to the modem inputs; otherwise CTS, DSR and DCD are up.
        if ((this.mcr & MCR_LOOP) !== 0) {
          const m = this.mcr;
          return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
        }
        return 0xb0;
      case 7:
        return this.scr;
      default:
        return 0;
    }
  }

  write(offset: number, _size: 1 | 2 | 4, value: number, _access: MmioAccess): void {
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case 0:
        if (dlab) this.dll = v;
        else {
          if ((this.mcr & MCR_LOOP) !== 0) {
            if (this.rx.length < RX_CAPACITY) this.rx.push(v);
          } else this.transmit(v);
          // Transmission is instant: THR is empty again at once.
          this.thrPending = true;
          this.updateIrq();
        }
        return;
      case 1:
        if (dlab) this.dlm = v;
        else {
          const was = this.ier;
          this.ier = v & 0x0f;
          if ((was & IER_THRI) === 0 && (v & IER_THRI) !== 0) this.thrPending = true;
          this.updateIrq();
        }
        return;
      case 2:
        this.fcr = v & 0xc9;
        if ((v & 0x02) !== 0) this.rx = [];
        this.updateIrq();
        return;
      case 3:
        this.lcr = v;
        return;
      case 4:
        this.mcr = v & 0x1f;
        return;
      case 7:
        this.scr = v;
        return;
      default:
        return;
    }
  }

  /** Power-on register values; the receive queue is emptied. */
  reset(): void {
    this.ier = this.lcr = this.mcr = this.scr = this.dll = this.dlm = this.fcr = 0;
    this.rx = [];
    this.thrPending = false;
    this.updateIrq();
  }

  saveState(): DeviceState {
    const s: UartState = {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fcr: this.fcr,
      rx: [...this.rx],
      thri: this.thrPending,
    };
    return s;
  }

  loadState(state: DeviceState): void {
    const s = parseState("uart0", uartStateSchema, state);
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.scr = s.scr;
    this.dll = s.dll;
    this.dlm = s.dlm;
    this.fcr = s.fcr;
    this.rx = [...s.rx];
    this.thrPending = s.thri ?? false;
    this.updateIrq();
  }
}
