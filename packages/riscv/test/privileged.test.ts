import { createRamBackend, ExitReason, InterruptLine, type MmioDevice } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { RiscvStateError } from "../src/index";
import { A } from "./asm";
import { RAM_BASE, makeMachine } from "./harness";

const MSTATUS = 0x300;
const MIE = 0x304;
const MTVEC = 0x305;
const MEPC = 0x341;

describe("interrupts", () => {
  it("takes an enabled pending interrupt at run start (vectored mtvec) and mret returns", () => {
    const m = makeMachine();
    m.load([A.addi(1, 1, 1), A.jal(0, -4)]);
    const h = m.harts[0];
    h.csr.mtvec = (RAM_BASE + 0x100) | 1; // vectored
    // handler for cause 7 at base + 28: count, clear MTIE, mret
    m.load([A.addi(2, 2, 1), A.csrrw(0, MIE, 0), A.mret()], RAM_BASE + 0x100 + 4 * 7);
    h.csr.mie = 1 << 7;
    h.csr.mstatusMie = 1;
    h.setInterrupt(InterruptLine.MachineTimer, true);
    expect(h.wantsWake()).toBe(true);
    m.step(1);
    expect(h.csr.mcause).toBe(0x80000007 | 0);
    expect(h.csr.mepc >>> 0).toBe(RAM_BASE);
    expect(h.pc >>> 0).toBe(RAM_BASE + 0x100 + 4 * 7 + 4);
    expect(h.x[2]).toBe(1);
    expect(h.csr.mstatusMie).toBe(0);
    expect(h.csr.mstatusMpie).toBe(1);
    m.step(2); // csrw mie, 0 ; mret
    expect(h.pc >>> 0).toBe(RAM_BASE);
    expect(h.csr.mstatusMie).toBe(1);
    m.step(4);
    expect(h.x[1]).toBe(2);
  });

  it("uses the direct mtvec base for every cause and prioritises MEI over MSI over MTI", () => {
    const m = makeMachine();
    const h = m.harts[0];
    m.load([A.nop(), A.nop()]);
    h.csr.mtvec = RAM_BASE + 0x200;
    m.load([A.nop()], RAM_BASE + 0x200);
    h.csr.mie = 0x888;
    h.csr.mstatusMie = 1;
    h.setInterrupt(InterruptLine.MachineTimer, true);
    h.setInterrupt(InterruptLine.MachineSoftware, true);
    h.setInterrupt(InterruptLine.MachineExternal, true);
    m.step(1);
    expect(h.csr.mcause).toBe(0x8000000b | 0);
    expect(h.pc >>> 0).toBe(RAM_BASE + 0x204);
    h.setInterrupt(InterruptLine.MachineExternal, false);
    expect(h.csr.mip).toBe(0x88);
  });

  it("an interrupt becomes taken right after the CSR write that enables it", () => {
    const m = makeMachine();
    const h = m.harts[0];
    m.load([A.addi(5, 0, 8), A.csrrs(0, MSTATUS, 5), A.addi(6, 0, 1)]);
    h.csr.mtvec = RAM_BASE + 0x300;
    m.load([A.nop()], RAM_BASE + 0x300);
    h.csr.mie = 1 << 3;
    h.setInterrupt(InterruptLine.MachineSoftware, true);
    m.step(2);
    expect(h.csr.mcause).toBe(0x80000003 | 0);
    expect(h.csr.mepc >>> 0).toBe(RAM_BASE + 8);
    expect(h.pc >>> 0).toBe(RAM_BASE + 0x300);
    expect(h.x[6]).toBe(0);
  });

  it("WFI exits Halt past the WFI when nothing is pending-and-enabled, else continues", () => {
    const m = makeMachine();
    const h = m.harts[0];
    m.load([A.wfi(), A.addi(1, 1, 1), A.wfi(), A.addi(1, 1, 1)]);
    let run = m.step(10);
    expect(run.exitReason).toBe(ExitReason.Halt);
    expect(h.pc >>> 0).toBe(RAM_BASE + 4);
    expect(h.wantsWake()).toBe(false);
    // pending and enabled in mie, but mstatus.MIE = 0: WFI does not halt and no trap is taken
    h.csr.mie = 1 << 7;
    h.setInterrupt(InterruptLine.MachineTimer, true);
    expect(h.wantsWake()).toBe(true);
    run = m.step(3);
    expect(run.exitReason).toBe(ExitReason.BudgetExhausted);
    expect(h.x[1]).toBe(2);
  });
});

describe("CSRs", () => {
  it("reads misa, mhartid and the read-only id CSRs", () => {
    const m = makeMachine({ harts: 2 });
    m.load([
      A.csrrs(1, 0x301, 0),
      A.csrrs(2, 0xf14, 0),
      A.csrrs(3, 0xf11, 0),
      A.csrrs(4, 0x302, 0),
    ]);
    m.harts[1].pc = RAM_BASE;
    m.step(4, 1);
    const x = m.harts[1].x;
    expect(x[1]).toBe(0x40141101);
    expect(x[2]).toBe(1);
    expect(x[3]).toBe(0);
    expect(x[4]).toBe(0);
  });

  it("counts instructions exactly in instret/cycle and honours writes", () => {
    const m = makeMachine();
    m.load([
      A.nop(),
      A.csrrs(1, 0xc02, 0), // instret = 1
      A.csrrs(2, 0xb00, 0), // mcycle = 2
      A.addi(5, 0, 100),
      A.csrrw(0, 0xb02, 5), // minstret = 100
      A.csrrs(3, 0xb02, 0), // 100
      A.csrrs(4, 0xc82, 0), // instreth = 0
    ]);
    m.step(7);
    const x = m.harts[0].x;
    expect([x[1], x[2], x[3], x[4]]).toEqual([1, 2, 100, 0]);
  });

  it("reads time from run.startNs plus executed instructions at the 10 MHz timebase", () => {
    const m = makeMachine({ mips: 10 }); // 100 ns per instruction = 1 tick
    m.load([A.nop(), A.nop(), A.csrrs(1, 0xc01, 0), A.csrrs(2, 0xc81, 0)]);
    m.run.startNs = 0;
    const h = m.harts[0];
    m.run.startNs = 1_000_000; // 1 ms = 10000 ticks
    h.run(m.run, 400);
    expect(h.x[1]).toBe(10_002);
    expect(h.x[2]).toBe(0);
  });

  it("WARL fields: mepc low bits, mtvec mode, mstatus.MPP", () => {
    const m = makeMachine();
    m.load([
      A.addi(1, 0, -1),
      A.csrrw(0, MEPC, 1),
      A.csrrs(2, MEPC, 0),
      A.addi(3, 0, 0x103),
      A.csrrw(0, MTVEC, 3),
      A.csrrs(4, MTVEC, 0),
      A.lui(5, 1), // 0x1000: MPP = 2 (reserved) -> keeps the old MPP
      A.csrrw(0, MSTATUS, 5),
      A.csrrs(6, MSTATUS, 0),
    ]);
    m.step(9);
    const x = m.harts[0].x;
    expect(x[2]).toBe(-4);
    expect(x[4]).toBe(0x100);
    expect(x[6]).toBe(0);
  });

  it("rejects unimplemented CSRs, writes to read-only CSRs and M-CSRs from U-mode", () => {
    const cases: [number, number][] = [
      [A.csrrs(1, 0x7c0, 0), 3],
      [A.csrrw(0, 0xf14, 1), 3],
      [A.csrrs(1, 0xc00, 2), 3], // csrrs with rs1 != 0 writes: read-only cycle
      [A.csrrs(1, MSTATUS, 0), 0],
      [A.csrrs(1, 0xc00, 0), 0], // U-mode without mcounteren
    ];
    for (const [insn, priv] of cases) {
      const m = makeMachine();
      m.load([insn]);
      const h = m.harts[0];
      h.csr.priv = priv as 0 | 3;
      h.x[2] = 1;
      h.csr.mtvec = RAM_BASE + 0x40;
      m.step(1);
      expect(h.csr.mcause).toBe(2);
      expect(h.csr.mtval >>> 0).toBe(insn);
      expect(h.csr.priv).toBe(3);
      expect(h.csr.mstatusMpp).toBe(priv);
    }
  });

  it("ecall from U-mode traps with cause 8 even with mtvec == 0", () => {
    const m = makeMachine();
    m.load([A.ecall()]);
    m.harts[0].csr.priv = 0;
    const run = m.step(1);
    expect(run.exitReason).toBe(ExitReason.BudgetExhausted);
    expect(m.harts[0].csr.mcause).toBe(8);
    expect(m.harts[0].pc).toBe(0);
  });
});

describe("MMIO and ROM", () => {
  function device(log: string[]): MmioDevice {
    return {
      id: "dev0",
      read: (off, size) => {
        log.push(`r${size}@${off}`);
        return 0xfffffff0;
      },
      write: (off, size, value) => {
        log.push(`w${size}@${off}=${value}`);
      },
      saveState: () => ({}),
      loadState: () => {},
    };
  }

  it("exits Mmio on loads (completed with sign/zero extension) and stores", () => {
    const m = makeMachine();
    const log: string[] = [];
    m.memory.addMmio({ name: "dev", base: 0x10000000, size: 0x100, device: device(log) });
    m.load([A.lb(2, 1, 4), A.lhu(3, 1, 8), A.sh(4, 1, 6)]);
    const h = m.harts[0];
    h.x[1] = 0x10000000;
    h.x[4] = 0x12345678;
    let run = m.step(10);
    expect(run.exitReason).toBe(ExitReason.Mmio);
    expect([run.mmioAddr, run.mmioSize, run.mmioIsWrite]).toEqual([0x10000004, 1, false]);
    expect(run.retired).toBe(1);
    h.completeMmioRead(0x1ff);
    expect(h.x[2]).toBe(-1);
    run = m.step(10);
    expect([run.mmioAddr, run.mmioSize]).toEqual([0x10000008, 2]);
    h.completeMmioRead(0xfffffff0);
    expect(h.x[3]).toBe(0xfff0);
    run = m.step(10);
    expect(run.exitReason).toBe(ExitReason.Mmio);
    expect([run.mmioAddr, run.mmioSize, run.mmioIsWrite, run.mmioData]).toEqual([
      0x10000006,
      2,
      true,
      0x5678,
    ]);
    expect(h.pc >>> 0).toBe(RAM_BASE + 12);
  });

  it("faults on stores to ROM but executes and loads from it", () => {
    const m = makeMachine();
    const rom = createRamBackend("array", 4096);
    m.memory.addRam({ name: "rom", base: 0x1000, size: 4096, backend: rom, readonly: true });
    m.memory.writeBytes(0x1000, new Uint8Array([0x93, 0x00, 0x50, 0x00])); // addi x1, x0, 5
    m.memory.writeBytes(0x1004, new Uint8Array(Uint32Array.of(A.sw(1, 2, 0)).buffer));
    const h = m.harts[0];
    h.pc = 0x1000;
    h.x[2] = 0x1800;
    h.csr.mtvec = RAM_BASE;
    m.load([A.nop()]);
    m.step(2);
    expect(h.x[1]).toBe(5);
    expect(h.csr.mcause).toBe(7);
    expect(h.csr.mtval).toBe(0x1800);
  });
});

describe("saveState / loadState", () => {
  it("round-trips the architectural state into a fresh hart", () => {
    const a = makeMachine();
    a.load([A.addi(1, 1, 3), A.csrrw(0, 0x340, 1), A.lui(7, 0xabcde), A.jal(0, -12)]);
    a.harts[0].csr.mie = 0x80;
    a.step(1001);
    const state = JSON.parse(JSON.stringify(a.harts[0].saveState()));
    const b = makeMachine();
    b.load([A.addi(1, 1, 3), A.csrrw(0, 0x340, 1), A.lui(7, 0xabcde), A.jal(0, -12)]);
    b.harts[0].loadState(state);
    expect(b.harts[0].saveState()).toEqual(state);
    a.step(77);
    b.step(77);
    expect(b.harts[0].saveState()).toEqual(a.harts[0].saveState());
    expect(b.harts[0].workDone).toBe(1078);
  });

  it("keeps 64-bit counters exact past 2^53 and across save/load (decimal strings)", () => {
    const m = makeMachine();
    m.load([
      A.addi(1, 0, -1),
      A.csrrw(0, 0xb82, 1), // minstreth = 0xffffffff
      A.csrrw(0, 0xb02, 1), // minstret = 0xffffffff: 2^64 - 1 for the next instruction
      A.nop(),
      A.nop(),
    ]);
    m.step(3);
    const h = m.harts[0];
    const s = h.saveState();
    expect(s.instret).toBe("18446744073709551615");
    expect(s.cycle).toBe(3);
    const b = makeMachine();
    b.harts[0].loadState(JSON.parse(JSON.stringify(s)));
    expect(b.harts[0].saveState()).toEqual(s);
    m.step(1); // wraps to 0
    expect(h.saveState().instret).toBe(0);
    h.csr.setCounter(false, h.workDone, 0x200000, 7);
    expect(h.saveState().instret).toBe("9007199254740999");
    expect(() => h.loadState({ ...s, instret: "18446744073709551616" })).toThrow(
      /instret: expected a 64-bit unsigned decimal string/,
    );
    expect(() => h.loadState({ ...s, cycle: 2 ** 53 })).toThrow(/cycle/);
  });

  it("does not retire trapping instructions (minstret), but counts their cycles (mcycle)", () => {
    const m = makeMachine();
    const h = m.harts[0];
    m.load([A.ecall(), A.addi(1, 1, 1), A.addi(1, 1, 1), 0]);
    h.csr.mtvec = RAM_BASE + 8;
    m.step(2); // ecall (traps to +8), addi
    const s = h.saveState();
    expect(h.x[1]).toBe(1);
    expect(s.cycle).toBe(2);
    expect(s.instret).toBe(1);
  });

  it("rejects malformed state with a clear error", () => {
    const m = makeMachine();
    const good = m.harts[0].saveState();
    expect(() => m.harts[0].loadState({ ...good, arch: "x86" })).toThrow(RiscvStateError);
    expect(() => m.harts[0].loadState({ ...good, x: [1, 2] })).toThrow(/31 registers/);
    expect(() => m.harts[0].loadState({ ...good, priv: 2 })).toThrow(/priv/);
    expect(() => m.harts[0].loadState({ ...good, hartId: 3 })).toThrow(/hartId: expected 0/);
    expect(() => m.harts[0].loadState({ ...good, csr: { ...good.csr, mepc: "zero" } })).toThrow(
      /csr.mepc/,
    );
  });
});

describe("multi-hart atomics", () => {
  it("a lock-free counter incremented by two interleaved harts loses no update", () => {
    const m = makeMachine({ harts: 2 });
    // loop: lr.w t1,(a0); addi t1,t1,1; sc.w t2,t1,(a0); bnez t2, loop; amoadd.w x0,a2,(a1);
    //       addi a3,a3,-1; bnez a3, loop; wfi
    m.load([
      A.lr(6, 10),
      A.addi(6, 6, 1),
      A.sc(7, 10, 6),
      A.bne(7, 0, -12),
      A.amo(0, 0, 11, 12),
      A.addi(13, 13, -1),
      A.bne(13, 0, -24),
      A.wfi(),
    ]);
    for (const h of m.harts) {
      h.pc = RAM_BASE;
      h.x[10] = RAM_BASE + 0x1000;
      h.x[11] = RAM_BASE + 0x1004;
      h.x[12] = 2;
      h.x[13] = 1000;
    }
    const halted = [false, false];
    for (let slice = 0; slice < 10_000 && !(halted[0] && halted[1]); slice++) {
      for (let i = 0; i < 2; i++) {
        if (halted[i]) continue;
        m.step(7 + (slice % 5), i);
        if (m.run.exitReason === ExitReason.Halt) halted[i] = true;
      }
    }
    expect(halted).toEqual([true, true]);
    expect(m.word(RAM_BASE + 0x1000)).toBe(2000);
    expect(m.word(RAM_BASE + 0x1004)).toBe(4000);
  });
});
