/**
 * The `virt` board set up to boot a Linux kernel `Image` directly in S-mode: core's machine
 * (RAM, UART, finisher, CLINT) plus a PLIC with the UART on source 10, ferry's SBI firmware on
 * every hart, and a generated device tree; kernel, initramfs and DTB are placed in RAM and the
 * boot hart starts at the kernel with a0 = hart id and a1 = the DTB.
 */
import {
  type CpuBackend,
  InterruptLine,
  InvalidArgumentError,
  type Machine,
  RAM_BASE,
  type Scheduler,
} from "@ferry/core";
import { createMachine } from "./board";
import { riscvBackend } from "../backend";
import type { RiscvHart } from "../hart";
import { createSbi, type SbiFirmware } from "../sbi";
import { Plic, PLIC_BASE, PLIC_SIZE } from "./plic";
import { UART_IRQ, virtDtb } from "./virt-dtb";

/** "RISCV\0\0\0" at offset 48 of an Image header. */
const IMAGE_MAGIC = 0x56435349_52n;
/** "RSC\x05" at offset 56. */
const IMAGE_MAGIC2 = 0x05435352;

/** A kernel Image's header fields ferry uses. */
export interface KernelImageInfo {
  /** Offset from the start of RAM where the image wants to be loaded. */
  readonly textOffset: number;
  /** Bytes of memory the image occupies once running (0 when the header does not say). */
  readonly imageSize: number;
}

/** Thrown for a file that is not a RISC-V Linux Image or that does not fit. */
export class KernelImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KernelImageError";
  }
}

/** Read the RISC-V Image header (Documentation/riscv/boot-image-header.rst). */
export function parseKernelImage(image: Uint8Array): KernelImageInfo {
  if (image.length < 64) {
    throw new KernelImageError(
      `kernel Image: ${image.length} bytes is too short for the 64-byte header`,
    );
  }
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const magic = v.getBigUint64(48, true) & 0xff_ffff_ffffn;
  if (magic !== IMAGE_MAGIC || v.getUint32(56, true) !== IMAGE_MAGIC2) {
    throw new KernelImageError(
      'kernel Image: no RISC-V Image magic ("RISCV" at offset 48, "RSC\\x05" at 56)',
    );
  }
  return {
    textOffset: Number(v.getBigUint64(8, true)),
    imageSize: Number(v.getBigUint64(16, true)),
  };
}

/** Options of {@link createLinuxMachine}. */
export interface LinuxMachineOptions {
  readonly scheduler: Scheduler;
  /** Guest instructions per virtual microsecond. */
  readonly mips: number;
  /** Number of harts (hart 0 boots; the others wait for SBI HSM hart_start). */
  readonly vcpus: number;
  /** RAM bytes (at 0x8000_0000). */
  readonly memoryBytes: number;
  /** RAM backend (default `array`). */
  readonly ramBackend?: "array" | "shared";
  /** Virtual ns a vCPU runs per scheduler event. */
  readonly sliceNs?: number;
  /** The kernel `Image`. */
  readonly kernel: Uint8Array;
  /** The initramfs (a cpio archive), or null. */
  readonly initrd?: Uint8Array | null;
  /** Kernel command line. */
  readonly bootargs: string;
  /** CPU backend (default: the `riscv` interpreter at `mips`). */
  readonly cpu?: CpuBackend;
}

/** Where things were put in guest RAM. */
export interface LinuxLayout {
  readonly kernel: number;
  readonly dtb: number;
  readonly initrd: { readonly start: number; readonly end: number } | null;
}

/** A `virt` machine ready to boot Linux. */
export interface LinuxMachine {
  readonly machine: Machine;
  readonly plic: Plic;
  readonly firmware: SbiFirmware;
  readonly layout: LinuxLayout;
  readonly dtb: Uint8Array;
}

const INITRD_ALIGN = 0x1000;

/**
 * Build the board, load kernel, initramfs and DTB, and reset every hart (hart 0 at the kernel
 * in S-mode). The machine is `created`: call `runUntilShutdown()` or `start()`.
 * @throws KernelImageError for a bad Image or one that does not fit in RAM.
 */
export function createLinuxMachine(o: LinuxMachineOptions): LinuxMachine {
  const info = parseKernelImage(o.kernel);
  const kernelAddr = RAM_BASE + info.textOffset;
  const kernelEnd = kernelAddr + Math.max(info.imageSize, o.kernel.length);
  const ramEnd = RAM_BASE + o.memoryBytes;
  const initrd = o.initrd ?? null;
  // DTB in the last 64 KiB, the initramfs page-aligned below it.
  const dtbAddr = ramEnd - 0x10000;
  const initrdStart =
    initrd === null ? dtbAddr : Math.floor((dtbAddr - initrd.length) / INITRD_ALIGN) * INITRD_ALIGN;
  if (initrdStart < kernelEnd + 0x100000) {
    throw new InvalidArgumentError(
      `machine.memory: ${o.memoryBytes} bytes of RAM cannot hold the kernel (${o.kernel.length} bytes at +0x${info.textOffset.toString(16)}) and the initramfs (${initrd?.length ?? 0} bytes)`,
    );
  }
  const layout: LinuxLayout = {
    kernel: kernelAddr,
    dtb: dtbAddr,
    initrd: initrd === null ? null : { start: initrdStart, end: initrdStart + initrd.length },
  };
  let machineRef: Machine | null = null;
  const plic = new Plic({
    hartCount: o.vcpus,
    setInterrupt: (hart, line, level) => machineRef?.vcpus[hart].setInterrupt(line, level),
  });
  const machine = createMachine({
    scheduler: o.scheduler,
    cpu: o.cpu ?? riscvBackend({ mips: o.mips }),
    vcpus: o.vcpus,
    memory: { size: o.memoryBytes, backend: o.ramBackend ?? "array" },
    ...(o.sliceNs !== undefined ? { sliceNs: o.sliceNs } : {}),
    devices: [{ name: "plic", base: PLIC_BASE, size: PLIC_SIZE, device: plic }],
  });
  machineRef = machine;
  const { uart, clint } = machine.devices;
  uart.setInterruptHandler((level) => plic.setLevel(UART_IRQ, level));
  const harts = machine.vcpus.map((v) => v.core as RiscvHart);
  const firmware = createSbi(
    {
      hartCount: o.vcpus,
      hart: (id) => harts[id],
      setTimer: (id, ticks, nowNs) => {
        const lo = ticks % 4294967296;
        const hi = Math.floor(ticks / 4294967296);
        const access = { hartId: id, nowNs };
        const off = 0x4000 + 8 * id;
        // High word first at all-ones so no spurious interrupt fires in between.
        clint.write(off + 4, 4, 0xffffffff, access);
        clint.write(off, 4, lo, access);
        clint.write(off + 4, 4, hi, access);
      },
      sendIpi: (id) => machine.vcpus[id].setInterrupt(InterruptLine.SupervisorSoftware, true),
      wake: (id) => machine.vcpus[id].kick(),
      putchar: (byte, nowNs) => uart.write(0, 1, byte, { hartId: 0, nowNs }),
      getchar: (nowNs) => {
        const access = { hartId: 0, nowNs };
        if ((uart.read(5, 1, access) & 1) === 0) return -1;
        return uart.read(0, 1, access);
      },
    },
    { dtbAddress: dtbAddr },
  );
  for (const h of harts) h.firmware = firmware;
  const dtb = virtDtb({
    hartCount: o.vcpus,
    ramBase: RAM_BASE,
    ramSize: o.memoryBytes,
    bootargs: o.bootargs,
    initrd: layout.initrd,
  });
  if (dtb.length > 0x10000) {
    throw new InvalidArgumentError(`device tree of ${dtb.length} bytes exceeds 64 KiB`);
  }
  machine.memory.writeBytes(kernelAddr, o.kernel);
  if (initrd !== null) machine.memory.writeBytes(initrdStart, initrd);
  machine.memory.writeBytes(dtbAddr, dtb);
  machine.reset(kernelAddr);
  return { machine, plic, firmware, layout, dtb };
}
