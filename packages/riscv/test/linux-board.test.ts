/**
 * The Linux `virt` board without Linux: a hand-made `Image` that talks to ferry's SBI firmware
 * (base, legacy console, TIME, HSM, SRST), misaligned-access emulation, the generated DTB, and
 * the PLIC routing the UART's interrupt.
 */
import { InterruptLine, VirtualScheduler } from "@ferry/core";
import { describe, expect, it } from "vitest";
import {
  type CpuEngine,
  createLinuxMachine,
  KernelImageError,
  Plic,
  parseKernelImage,
  type RiscvHart,
  riscvBackend,
  SBI_SPEC_VERSION,
} from "../src/index";
import { A, programBytes } from "./asm";

/** A RISC-V Image: the 64-byte header (text_offset 4 MiB) followed by `code`. */
function image(code: readonly number[]): Uint8Array {
  const body = programBytes([A.jal(0, 64), ...new Array(15).fill(0), ...code]);
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  v.setBigUint64(8, 0x400000n, true);
  v.setBigUint64(16, BigInt(body.length), true);
  body.set(new TextEncoder().encode("RISCV\0\0\0RSC\x05"), 48);
  return body;
}

/** li rd, v (lui + addi). */
function li(rd: number, v: number): number[] {
  const lo = (v << 20) >> 20;
  const hi = ((v - lo) >>> 12) & 0xfffff;
  return hi === 0 ? [A.addi(rd, 0, lo)] : [A.lui(rd, hi), A.addi(rd, rd, lo)];
}

/** ecall with a7 = ext, a6 = fid. */
function sbi(ext: number, fid: number): number[] {
  return [...li(17, ext), ...li(16, fid), A.ecall()];
}

function boot(
  code: readonly number[],
  initrd: Uint8Array | null = null,
  engine: CpuEngine = "interpreter",
) {
  return createLinuxMachine({
    cpu: riscvBackend({ mips: 100, engine }),
    scheduler: new VirtualScheduler(),
    mips: 100,
    vcpus: 2,
    memoryBytes: 16 * 1024 * 1024,
    kernel: image(code),
    initrd,
    bootargs: "console=ttyS0",
  });
}

describe("Linux virt board", () => {
  it("a firmware-emulated misaligned store into compiled code is seen by the block compiler", async () => {
    // a2 += 1 in a subroutine called 3 times; after each call a misaligned SH (emulated by the
    // firmware) rewrites bytes 1..2 of the subroutine's ADDI so it adds 3: a2 = 1 + 3 + 3.
    const patched = (A.addi(12, 12, 3) >>> 8) & 0xffff;
    const shutdown = [...li(10, 0), ...li(11, 0), ...sbi(0x53525354, 0)];
    const head = [A.addi(12, 0, 0), A.auipc(8, 0), 0, A.addi(9, 0, 3)];
    const loop = [0, ...li(5, patched), A.sh(5, 8, 1), A.addi(9, 9, -1)];
    const target = head.length + loop.length + 1 + shutdown.length;
    head[2] = A.addi(8, 8, 4 * (target - 1)); // s0 = &target
    loop[0] = A.jal(1, 4 * (target - head.length)); // call target
    const bne = A.bne(9, 0, -4 * loop.length);
    const code = [...head, ...loop, bne, ...shutdown, A.addi(12, 12, 1), A.jalr(0, 1, 0)];
    const results: number[] = [];
    for (const engine of ["interpreter", "jit"] as const) {
      const lm = boot(code, null, engine);
      const r = await lm.machine.runUntilShutdown({ timeLimitNs: 1e9 });
      expect(r.reason).toBe("shutdown");
      results.push((lm.machine.vcpus[0].core as RiscvHart).x[12]);
    }
    expect(results).toEqual([7, 7]);
  });

  it("boots the Image in S-mode with a0 = hart id, a1 = DTB, and serves SBI calls", async () => {
    const lm = boot([
      A.addi(8, 10, 0), // s0 = a0
      A.addi(9, 11, 0), // s1 = a1
      ...sbi(0x10, 0), // base: spec version
      A.addi(18, 11, 0), // s2 = version
      ...li(10, 0x48534d),
      ...sbi(0x10, 3), // probe HSM
      A.addi(19, 11, 0), // s3 = 1
      A.csrrs(20, 0x100, 0), // s4 = sstatus (readable: we are in S-mode)
      A.lw(21, 9, 1), // s5 = misaligned load from the DTB (emulated)
      ...li(10, 1),
      ...sbi(0x48534d, 2), // HSM status of hart 1
      A.addi(22, 11, 0), // s6 = 1 (stopped)
      ...li(10, 0x6f),
      ...sbi(1, 0), // putchar 'o'
      ...li(10, 0x6b),
      ...sbi(1, 0), // putchar 'k'
      ...li(10, 0),
      ...li(11, 0),
      ...sbi(0x53525354, 0), // system reset: shutdown
    ]);
    const r = await lm.machine.runUntilShutdown({ timeLimitNs: 1e9 });
    expect(r.reason).toBe("shutdown");
    expect(r.code).toBe(0);
    expect(lm.machine.uartOutput()).toBe("ok");
    const x = (lm.machine.vcpus[0].core as RiscvHart).x;
    expect(x[8]).toBe(0);
    expect(x[9] >>> 0).toBe(lm.layout.dtb);
    expect(x[18]).toBe(SBI_SPEC_VERSION);
    expect(x[19]).toBe(1);
    expect(x[22]).toBe(1);
    // DTB magic d00dfeed read big-endian from offset 1: bytes 0d fe ed + next byte.
    expect((x[21] >>> 0) & 0xffffff).toBe(0xedfe0d);
    expect(lm.layout.kernel).toBe(0x80400000);
  });

  it("places the initramfs and names it in the device tree", () => {
    const initrd = new Uint8Array(5000).fill(7);
    const lm = boot([A.wfi()], initrd);
    const { start, end } = lm.layout.initrd!;
    expect(end - start).toBe(5000);
    const back = new Uint8Array(5000);
    lm.machine.memory.readBytes(start, back);
    expect(back).toEqual(initrd);
    const dtb = new DataView(lm.dtb.buffer);
    expect(dtb.getUint32(0, false)).toBe(0xd00dfeed);
    expect(dtb.getUint32(4, false)).toBe(lm.dtb.length);
    const text = new TextDecoder("latin1").decode(lm.dtb);
    for (const s of [
      "linux,initrd-start",
      "rv32ima",
      "riscv,sv32",
      "ns16550a",
      "syscon-poweroff",
      "riscv,plic0",
    ]) {
      expect(text).toContain(s);
    }
  });

  it("arms the S-mode timer through SBI TIME (STIP follows mtimecmp)", async () => {
    const lm = boot([
      A.csrrs(10, 0xc01, 0), // a0 = time
      A.addi(10, 10, 100),
      A.addi(11, 0, 0),
      ...sbi(0x54494d45, 0), // set_timer(time + 100 ticks = 10 µs)
      A.wfi(),
      A.csrrs(23, 0x144, 0), // s7 = sip
      ...li(10, 0),
      ...li(11, 0),
      ...sbi(0x53525354, 0),
    ]);
    const hart = lm.machine.vcpus[0].core as RiscvHart;
    hart.csr.mie = 1 << 5; // STIE, so WFI wakes (interrupts stay globally off: SIE = 0)
    const r = await lm.machine.runUntilShutdown({ timeLimitNs: 1e9 });
    expect(r.reason).toBe("shutdown");
    expect(hart.x[23] & (1 << 5)).toBe(1 << 5);
    expect(r.atNs).toBeGreaterThanOrEqual(10_000);
  });

  it("starts a stopped hart with SBI HSM hart_start (pc, a0 = hart id, a1 = opaque)", async () => {
    // Hart 1's code: putchar('0' + a0), putchar(a1), then shutdown.
    const second = [
      A.addi(10, 10, 0x30),
      ...sbi(1, 0),
      A.addi(10, 11, 0),
      ...sbi(1, 0),
      ...li(10, 0),
      ...li(11, 0),
      ...sbi(0x53525354, 0),
    ];
    const first = [
      ...li(10, 0x41),
      ...sbi(1, 0), // putchar 'A'
      ...li(10, 1), // hart 1
      A.auipc(11, 0), // a1 = here
      A.addi(11, 11, 0), // patched below: + offset of `second`
      ...li(12, 0x42), // opaque = 'B'
      ...sbi(0x48534d, 0), // hart_start
      A.jal(0, 0), // spin
    ];
    const at = first.indexOf(A.auipc(11, 0)) + 1;
    first[at] = A.addi(11, 11, 4 * (first.length - (at - 1)));
    const lm = boot([...first, ...second]);
    const r = await lm.machine.runUntilShutdown({ timeLimitNs: 1e8 });
    expect(r.reason).toBe("shutdown");
    expect(lm.machine.uartOutput()).toBe("A1B");
  });

  it("rejects a file without the Image magic", () => {
    expect(() => parseKernelImage(new Uint8Array(100))).toThrow(KernelImageError);
  });
});

describe("PLIC", () => {
  const access = { hartId: 0, nowNs: 0 };
  it("routes an enabled source above threshold to the S context, claim and complete", () => {
    const lines: string[] = [];
    const plic = new Plic({
      hartCount: 1,
      setInterrupt: (h, line, level) => lines.push(`${h}:${line}:${level}`),
    });
    plic.write(4 * 10, 4, 1, access); // priority of source 10
    plic.write(0x2080, 4, 1 << 10, access); // enable for context 1 (S)
    plic.setLevel(10, true);
    expect(lines).toEqual([`0:${InterruptLine.SupervisorExternal}:true`]);
    expect(plic.read(0x1000, 4, access)).toBe(1 << 10);
    expect(plic.read(0x201004, 4, access)).toBe(10); // claim
    expect(lines.at(-1)).toBe(`0:${InterruptLine.SupervisorExternal}:false`);
    expect(plic.read(0x201004, 4, access)).toBe(0);
    plic.write(0x201004, 4, 10, access); // complete while still high: pending again
    expect(lines.at(-1)).toBe(`0:${InterruptLine.SupervisorExternal}:true`);
    plic.write(0x201000, 4, 1, access); // threshold 1 masks priority 1
    expect(lines.at(-1)).toBe(`0:${InterruptLine.SupervisorExternal}:false`);
    const saved = plic.saveState();
    const other = new Plic({ hartCount: 1, setInterrupt: () => {} });
    other.loadState(saved);
    expect(other.saveState()).toEqual(saved);
    expect(() => other.loadState({ ...saved, enable: [] })).toThrow(/contexts/);
  });
});
