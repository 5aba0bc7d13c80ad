import { VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { describe, expect, it } from "vitest";
import { loadElf, parseElf, riscvBackend, tohostAddress } from "../src/index";
import { A, AMO, programBytes } from "./asm";

const RAM_BASE = 0x80000000;

/**
 * Every hart adds 1 to a shared counter 1000 times with amoadd.w; harts other than 0 then park
 * in WFI; hart 0 waits until the counter reaches 1000 * harts and writes 0x5555 (pass) to the
 * SiFive test finisher at 0x10_0000.
 */
function program(harts: number): number[] {
  return [
    A.lui(12, 0x80001), // a2 = counter
    A.addi(13, 0, 1000),
    A.addi(14, 0, 1),
    A.amo(AMO.add, 0, 12, 14), // loop:
    A.addi(13, 13, -1),
    A.bne(13, 0, -8),
    A.bne(10, 0, 36), // hart != 0 -> park
    A.lw(15, 12, 0), // wait:
    A.addi(16, 0, 1000 * harts),
    A.bne(15, 16, -8),
    A.lui(17, 0x100),
    A.lui(18, 5),
    A.addi(18, 18, 0x555),
    A.sw(18, 17, 0),
    A.jal(0, 0),
    A.wfi(), // park:
    A.jal(0, -4),
  ];
}

describe("riscv backend in the core virt machine", () => {
  it("runs two harts to a finisher pass through the vCPU loop (MMIO, WFI halt, AMOs)", async () => {
    const machine = createMachine({
      scheduler: new VirtualScheduler(),
      cpu: riscvBackend({ mips: 100 }),
      vcpus: 2,
      memory: { size: 1 << 20 },
    });
    const words = program(2);
    machine.memory.writeBytes(RAM_BASE, programBytes(words));
    machine.reset(RAM_BASE);
    machine.start();
    const result = await machine.runUntilShutdown({ timeLimitNs: 1e9 });
    expect(result.reason).toBe("shutdown");
    expect(result.code).toBe(0);
    const out = new Uint8Array(4);
    machine.memory.readBytes(RAM_BASE + 0x1000, out);
    expect(new DataView(out.buffer).getUint32(0, true)).toBe(2000);
    expect(machine.workDone()).toBeGreaterThan(6000);
  });
});

describe("riscv-tests ELFs on the virt machine (tohost)", () => {
  for (const name of ["rv32ui", "rv32um", "rv32ua", "rv32mi", "rv32si"]) {
    it(`${name} reports pass through tohost and shuts the machine down`, async () => {
      const { readFileSync } = await import("node:fs");
      const elf = new Uint8Array(
        readFileSync(new URL(`../../../examples/guests/isa-tests/${name}.elf`, import.meta.url)),
      );
      const image = parseElf(elf);
      const machine = createMachine({
        scheduler: new VirtualScheduler(),
        cpu: riscvBackend({ mips: 100, tohost: tohostAddress(image) }),
        vcpus: 1,
        memory: { size: 1 << 20 },
      });
      loadElf(machine.memory, elf);
      machine.reset(image.entry);
      const result = await machine.runUntilShutdown({ timeLimitNs: 1e9 });
      expect(result.reason).toBe("shutdown");
      expect(result.code).toBe(0);
    });
  }

  it("turns a failing tohost value into the machine's failure code", async () => {
    // sw of (3 << 1) | 1 = test 3 failed, to a tohost word at RAM + 0x1000.
    const words = [A.lui(5, 0x80001), A.addi(6, 0, 7), A.sw(6, 5, 0), A.jal(0, 0)];
    const machine = createMachine({
      scheduler: new VirtualScheduler(),
      cpu: riscvBackend({ mips: 100, tohost: RAM_BASE + 0x1000 }),
      vcpus: 1,
      memory: { size: 1 << 20 },
    });
    machine.memory.writeBytes(RAM_BASE, programBytes(words));
    const result = await machine.runUntilShutdown({ timeLimitNs: 1e9 });
    expect(result.reason).toBe("shutdown");
    expect(result.code).toBe(3);
  });
});

describe("time CSR on the virt machine", () => {
  it("reads the CLINT's mtime, which stops while the machine is paused", async () => {
    const scheduler = new VirtualScheduler();
    // Loop: a0 = rdtime (csrrs a0, time, x0); store it at RAM + 0x1000; repeat.
    const words = [A.lui(5, 0x80001), A.csrrs(10, 0xc01, 0), A.sw(10, 5, 0), A.jal(0, -8)];
    const machine = createMachine({
      scheduler,
      cpu: riscvBackend({ mips: 100 }),
      vcpus: 1,
      memory: { size: 1 << 20 },
    });
    machine.memory.writeBytes(RAM_BASE, programBytes(words));
    machine.start();
    await scheduler.run({ untilNs: 1_000_000 });
    await machine.pause();
    const out = new Uint8Array(4);
    machine.memory.readBytes(RAM_BASE + 0x1000, out);
    const before = new DataView(out.buffer).getUint32(0, true);
    expect(before).toBeGreaterThan(9_000); // ~1 ms at 10 MHz
    expect(before).toBeLessThanOrEqual(machine.devices.clint.mtimeNow());
    await scheduler.run({ untilNs: 51_000_000 }); // 50 ms paused: mtime frozen
    machine.resume();
    await scheduler.run({ untilNs: 51_100_000 });
    await machine.pause();
    machine.memory.readBytes(RAM_BASE + 0x1000, out);
    const after = new DataView(out.buffer).getUint32(0, true);
    // 0.1 ms more of running time, not the 50 ms of pause.
    expect(after - before).toBeGreaterThan(500);
    expect(after - before).toBeLessThan(2_000);
  });
});
