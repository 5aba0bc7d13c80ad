import { createAddressSpace, createRamBackend, createVcpuRun, ExitReason } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { riscvBackend } from "../src/index";
import { A, programBytes } from "./asm";

const RAM_BASE = 0x80000000;

describe.each(["jit", "interpreter"] as const)(
  "riscv %s: accesses to missing pages (post-copy destination)",
  (engine) => {
    it("a load, a store and a fetch of a missing page exit PageMissing without retiring; the access runs once the page lands", () => {
      const memory = createAddressSpace();
      const size = 1 << 20;
      const ram = memory.addRam({
        name: "ram",
        base: RAM_BASE,
        size,
        backend: createRamBackend("array", size),
      });
      const prog = [
        A.lw(3, 1, 0), // page 3: load
        A.sw(3, 2, 0), // page 4: store
        A.jal(0, 0x5000 - 8), // jump to page 5: fetch
      ];
      memory.writeBytes(RAM_BASE, programBytes(prog));
      memory.writeBytes(RAM_BASE + 0x5000, programBytes([A.addi(5, 0, 7), A.jal(0, 0)]));
      memory.writeBytes(RAM_BASE + 0x3000, Uint8Array.of(0x44, 0x33, 0x22, 0x11));
      const hart = riscvBackend({ mips: 1000, engine }).createVcpu({
        hartId: 0,
        memory,
        timebaseHz: 10_000_000,
        vcpuCount: 1,
      });
      hart.reset(RAM_BASE, 0);
      const x = (hart as unknown as { x: Int32Array }).x;
      x[1] = RAM_BASE + 0x3000;
      x[2] = RAM_BASE + 0x4000;
      const missing = ram.missing!;
      const faults: number[] = [];
      missing.arm((page) => faults.push(page));
      for (const p of [3, 4, 5]) missing.markMissing(p);
      const run = createVcpuRun();
      const step = (): void => {
        run.startNs = 0;
        hart.run(run, 1000);
      };
      step();
      expect(run.exitReason).toBe(ExitReason.PageMissing);
      expect(run.faultAddr).toBe(RAM_BASE + 0x3000);
      expect(run.retired).toBe(0);
      expect(x[3]).toBe(0);
      missing.arrived(3);
      step();
      expect(x[3]).toBe(0x11223344);
      expect(run.exitReason).toBe(ExitReason.PageMissing);
      expect(run.faultAddr).toBe(RAM_BASE + 0x4000);
      expect(run.retired).toBe(1);
      const before = new Uint8Array(4);
      memory.readBytes(RAM_BASE + 0x4000, before);
      expect([...before]).toEqual([0, 0, 0, 0]);
      missing.arrived(4);
      step();
      expect(run.exitReason).toBe(ExitReason.PageMissing);
      expect(run.faultAddr).toBe(RAM_BASE + 0x5000);
      memory.readBytes(RAM_BASE + 0x4000, before);
      expect([...before]).toEqual([0x44, 0x33, 0x22, 0x11]);
      missing.arrived(5);
      expect(missing.count).toBe(0);
      step();
      expect(x[5]).toBe(7);
      expect(run.exitReason).toBe(ExitReason.BudgetExhausted);
    });
  },
);
