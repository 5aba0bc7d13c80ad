/**
 * The device tree of ferry's `virt` machine as Linux expects it: memory, harts (`riscv,isa`,
 * Sv32) with their interrupt controllers, CLINT, PLIC, the NS16550A with its interrupt, the
 * SiFive test finisher as `syscon` with `syscon-poweroff`/`syscon-reboot`, and `chosen`
 * (bootargs, console, initrd).
 */
import { UART_BASE, UART_SIZE } from "@ferry/core";
import { CLINT_BASE, CLINT_SIZE, TIMEBASE_HZ } from "./clint";
import { FINISHER_BASE, FINISHER_SIZE } from "./finisher";
import { empty, encodeFdt, type FdtNode, node, str, strs, u32 } from "./fdt";
import { PLIC_BASE, PLIC_SIZE, PLIC_SOURCES } from "./plic";

/** PLIC source of the UART (as on QEMU `virt`). */
export const UART_IRQ = 10;
/** Input clock of the UART reported to the guest (QEMU's value). */
export const UART_CLOCK_HZ = 3_686_400;
/** The ISA string of ferry's harts. */
export const RISCV_ISA = "rv32ima_zicsr_zifencei";

/** What the device tree describes. */
export interface VirtDtbOptions {
  readonly hartCount: number;
  readonly ramBase: number;
  readonly ramSize: number;
  /** Kernel command line. */
  readonly bootargs: string;
  /** Guest-physical [start, end) of the initramfs, or null. */
  readonly initrd: { readonly start: number; readonly end: number } | null;
}

const PH_PLIC = 1;
const PH_TEST = 2;
const phCpuIntc = (h: number): number => 16 + h;

/** Build the machine's device tree. */
export function virtDeviceTree(o: VirtDtbOptions): FdtNode {
  const harts: FdtNode[] = [];
  for (let h = 0; h < o.hartCount; h++) {
    harts.push(
      node(
        `cpu@${h}`,
        [
          ["device_type", str("cpu")],
          ["reg", u32(h)],
          ["status", str("okay")],
          ["compatible", str("riscv")],
          ["riscv,isa", str(RISCV_ISA)],
          ["mmu-type", str("riscv,sv32")],
        ],
        [
          node("interrupt-controller", [
            ["#interrupt-cells", u32(1)],
            ["interrupt-controller", empty()],
            ["compatible", str("riscv,cpu-intc")],
            ["phandle", u32(phCpuIntc(h))],
          ]),
        ],
      ),
    );
  }
  const clintIrqs: number[] = [];
  const plicIrqs: number[] = [];
  for (let h = 0; h < o.hartCount; h++) {
    clintIrqs.push(phCpuIntc(h), 3, phCpuIntc(h), 7);
    plicIrqs.push(phCpuIntc(h), 11, phCpuIntc(h), 9);
  }
  const chosen: Array<readonly [string, Uint8Array]> = [
    ["bootargs", str(o.bootargs)],
    ["stdout-path", str(`/soc/serial@${UART_BASE.toString(16)}`)],
  ];
  if (o.initrd !== null) {
    chosen.push(["linux,initrd-start", u32(o.initrd.start)]);
    chosen.push(["linux,initrd-end", u32(o.initrd.end)]);
  }
  return node(
    "",
    [
      ["#address-cells", u32(1)],
      ["#size-cells", u32(1)],
      ["compatible", str("riscv-virtio")],
      ["model", str("ferry,virt")],
    ],
    [
      node("chosen", chosen),
      node("poweroff", [
        ["compatible", str("syscon-poweroff")],
        ["regmap", u32(PH_TEST)],
        ["offset", u32(0)],
        ["value", u32(0x5555)],
      ]),
      node("reboot", [
        ["compatible", str("syscon-reboot")],
        ["regmap", u32(PH_TEST)],
        ["offset", u32(0)],
        ["value", u32(0x7777)],
      ]),
      node(`memory@${o.ramBase.toString(16)}`, [
        ["device_type", str("memory")],
        ["reg", u32(o.ramBase, o.ramSize)],
      ]),
      node(
        "cpus",
        [
          ["#address-cells", u32(1)],
          ["#size-cells", u32(0)],
          ["timebase-frequency", u32(TIMEBASE_HZ)],
        ],
        harts,
      ),
      node(
        "soc",
        [
          ["#address-cells", u32(1)],
          ["#size-cells", u32(1)],
          ["compatible", str("simple-bus")],
          ["ranges", empty()],
        ],
        [
          node(`test@${FINISHER_BASE.toString(16)}`, [
            ["compatible", strs("sifive,test1", "sifive,test0", "syscon")],
            ["reg", u32(FINISHER_BASE, FINISHER_SIZE)],
            ["phandle", u32(PH_TEST)],
          ]),
          node(`serial@${UART_BASE.toString(16)}`, [
            ["compatible", str("ns16550a")],
            ["reg", u32(UART_BASE, UART_SIZE)],
            ["clock-frequency", u32(UART_CLOCK_HZ)],
            ["interrupt-parent", u32(PH_PLIC)],
            ["interrupts", u32(UART_IRQ)],
          ]),
          node(`plic@${PLIC_BASE.toString(16)}`, [
            ["compatible", strs("sifive,plic-1.0.0", "riscv,plic0")],
            ["reg", u32(PLIC_BASE, PLIC_SIZE)],
            ["#address-cells", u32(0)],
            ["#interrupt-cells", u32(1)],
            ["interrupt-controller", empty()],
            ["interrupts-extended", u32(...plicIrqs)],
            ["riscv,ndev", u32(PLIC_SOURCES)],
            ["phandle", u32(PH_PLIC)],
          ]),
          node(`clint@${CLINT_BASE.toString(16)}`, [
            ["compatible", strs("sifive,clint0", "riscv,clint0")],
            ["reg", u32(CLINT_BASE, CLINT_SIZE)],
            ["interrupts-extended", u32(...clintIrqs)],
          ]),
        ],
      ),
    ],
  );
}

/** The machine's device tree as a DTB. */
export function virtDtb(o: VirtDtbOptions): Uint8Array {
  return encodeFdt(virtDeviceTree(o));
}
