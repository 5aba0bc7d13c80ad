import { ExitReason } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { A, AMO } from "./asm";
import { RAM_BASE, makeMachine } from "./harness";

/** Run `prog` with registers preset, return the hart. */
function exec(prog: number[], regs: Record<number, number> = {}) {
  const m = makeMachine();
  m.load(prog);
  for (const [r, v] of Object.entries(regs)) m.harts[0].x[Number(r)] = v;
  m.step(prog.length);
  return m;
}

describe("RV32I ALU", () => {
  it("computes register-register and immediate results", () => {
    const m = exec(
      [
        A.add(3, 1, 2),
        A.sub(4, 1, 2),
        A.xor(5, 1, 2),
        A.or(6, 1, 2),
        A.and(7, 1, 2),
        A.slt(8, 2, 1),
        A.sltu(9, 2, 1),
        A.sll(10, 1, 2),
        A.srl(11, 2, 1),
        A.sra(12, 2, 1),
        A.addi(13, 1, -2048),
        A.slti(14, 2, 0),
        A.sltiu(15, 1, -1),
        A.xori(16, 1, -1),
        A.ori(17, 1, 0x700),
        A.andi(18, 2, 0xff),
        A.slli(19, 1, 31),
        A.srli(20, 2, 28),
        A.srai(21, 2, 28),
      ],
      { 1: 5, 2: -16 },
    );
    const x = m.harts[0].x;
    expect(Array.from(x.subarray(3, 22))).toEqual([
      -11,
      21,
      5 ^ -16,
      5 | -16,
      5 & -16,
      1,
      0,
      5 << 16,
      -16 >>> 5,
      -16 >> 5,
      5 - 2048,
      1,
      1,
      ~5,
      0x705,
      0xf0,
      -2147483648,
      0xf,
      -1,
    ]);
  });

  it("keeps x0 zero and handles LUI/AUIPC", () => {
    const m = exec([A.addi(0, 0, 5), A.lui(1, 0xfffff), A.auipc(2, 1), A.add(3, 0, 0)]);
    const x = m.harts[0].x;
    expect(x[0]).toBe(0);
    expect(x[1]).toBe(0xfffff000 | 0);
    expect(x[2] >>> 0).toBe(RAM_BASE + 8 + 0x1000);
    expect(x[3]).toBe(0);
  });
});

describe("RV32M", () => {
  const cases: [string, (rd: number, a: number, b: number) => number, number, number, number][] = [
    ["mul", A.mul, 7, -3, -21],
    ["mulh", A.mulh, -2, 3, -1],
    ["mulh big", A.mulh, 0x7fffffff, 0x7fffffff, 0x3fffffff],
    ["mulhu", A.mulhu, -1, -1, -2],
    ["mulhsu", A.mulhsu, -1, -1, -1],
    ["mulhsu pos", A.mulhsu, 2, -1, 1],
    ["div", A.div, -7, 2, -3],
    ["div by zero", A.div, 9, 0, -1],
    ["div overflow", A.div, -2147483648, -1, -2147483648],
    ["divu", A.divu, -1, 2, 0x7fffffff],
    ["divu by zero", A.divu, 9, 0, -1],
    ["rem", A.rem, -7, 2, -1],
    ["rem by zero", A.rem, -7, 0, -7],
    ["rem overflow", A.rem, -2147483648, -1, 0],
    ["remu", A.remu, -1, 10, 5],
    ["remu by zero", A.remu, 13, 0, 13],
  ];
  for (const [name, enc, a, b, want] of cases) {
    it(name, () => {
      const m = exec([enc(3, 1, 2)], { 1: a, 2: b });
      expect(m.harts[0].x[3]).toBe(want);
    });
  }
});

describe("branches and jumps", () => {
  it("takes and skips branches", () => {
    // each taken branch skips an `addi x9, x9, 1`
    const prog = [
      A.beq(1, 1, 8),
      A.addi(9, 9, 1),
      A.bne(1, 2, 8),
      A.addi(9, 9, 1),
      A.blt(2, 1, 8),
      A.addi(9, 9, 1),
      A.bge(1, 2, 8),
      A.addi(9, 9, 1),
      A.bltu(1, 2, 8),
      A.addi(9, 9, 1),
      A.bgeu(2, 1, 8),
      A.addi(9, 9, 1),
      A.beq(1, 2, 8), // not taken
      A.addi(10, 10, 1),
    ];
    const m = makeMachine();
    m.load(prog);
    m.harts[0].x[1] = 1;
    m.harts[0].x[2] = -1;
    m.step(8);
    expect(m.harts[0].x[9]).toBe(0);
    expect(m.harts[0].x[10]).toBe(1);
    expect(m.harts[0].pc >>> 0).toBe(RAM_BASE + prog.length * 4);
  });

  it("links with JAL and JALR", () => {
    const m = makeMachine();
    m.load([A.jal(1, 12), A.nop(), A.nop(), A.jalr(5, 1, 4)]);
    m.step(2);
    expect(m.harts[0].x[1] >>> 0).toBe(RAM_BASE + 4);
    expect(m.harts[0].x[5] >>> 0).toBe(RAM_BASE + 16);
    expect(m.harts[0].pc >>> 0).toBe(RAM_BASE + 8);
  });

  it("raises instruction-address-misaligned on a jump to a non-4-byte-aligned target", () => {
    const m = makeMachine();
    m.load([A.jal(1, 6)]);
    m.harts[0].csr.mtvec = RAM_BASE + 0x100;
    m.step(1);
    const h = m.harts[0];
    expect(h.csr.mcause).toBe(0);
    expect(h.csr.mtval >>> 0).toBe(RAM_BASE + 6);
    expect(h.csr.mepc >>> 0).toBe(RAM_BASE);
    expect(h.x[1]).toBe(0);
    expect(h.pc >>> 0).toBe(RAM_BASE + 0x100);
  });
});

describe("loads and stores", () => {
  it("stores and loads every width with sign and zero extension", () => {
    const m = exec(
      [
        A.sw(2, 1, 0),
        A.sh(3, 1, 4),
        A.sb(3, 1, 6),
        A.lw(10, 1, 0),
        A.lh(11, 1, 4),
        A.lhu(12, 1, 4),
        A.lb(13, 1, 6),
        A.lbu(14, 1, 6),
        A.lb(15, 1, 3),
      ],
      { 1: RAM_BASE + 0x1000, 2: 0x8badf00d | 0, 3: 0xfedcba98 | 0 },
    );
    const x = m.harts[0].x;
    expect(x[10]).toBe(0x8badf00d | 0);
    expect(x[11]).toBe(0xffffba98 | 0);
    expect(x[12]).toBe(0xba98);
    expect(x[13]).toBe(-104);
    expect(x[14]).toBe(0x98);
    expect(x[15]).toBe(0xffffff8b | 0);
    expect(m.word(RAM_BASE + 0x1004)).toBe(0x0098ba98);
  });

  it("marks the dirty log on stores only while logging", () => {
    const m = makeMachine();
    const ram = m.memory.ramRegions[0];
    m.load([A.sw(2, 1, 0), A.sb(2, 3, 0), A.sh(2, 4, 2)]);
    m.harts[0].x[1] = RAM_BASE + 0x3000;
    m.harts[0].x[3] = RAM_BASE + 0x4000;
    m.harts[0].x[4] = RAM_BASE + 0x5000;
    m.step(1);
    expect(Array.from(ram.dirty.words).some((w) => w !== 0)).toBe(false);
    ram.dirty.start();
    m.step(2);
    expect(ram.dirty.words[0]).toBe((1 << 4) | (1 << 5));
  });

  it("raises misaligned and access-fault exceptions with mtval", () => {
    const causes: number[] = [];
    const tvals: number[] = [];
    for (const [insn, addr] of [
      [A.lw(2, 1, 0), RAM_BASE + 2],
      [A.lh(2, 1, 0), RAM_BASE + 1],
      [A.sw(2, 1, 0), RAM_BASE + 1],
      [A.sh(2, 1, 0), RAM_BASE + 3],
      [A.lw(2, 1, 0), 0x1000],
      [A.sb(2, 1, 0), 0x1000],
    ] as const) {
      const m = makeMachine();
      m.load([insn]);
      m.harts[0].x[1] = addr;
      m.step(1);
      causes.push(m.harts[0].csr.mcause);
      tvals.push(m.harts[0].csr.mtval >>> 0);
    }
    expect(causes).toEqual([4, 4, 6, 6, 5, 7]);
    expect(tvals).toEqual([RAM_BASE + 2, RAM_BASE + 1, RAM_BASE + 1, RAM_BASE + 3, 0x1000, 0x1000]);
  });

  it("faults on a fetch from unmapped memory", () => {
    const m = makeMachine();
    m.load([A.jalr(0, 1, 0)]);
    m.harts[0].x[1] = 0x4000;
    m.harts[0].csr.mtvec = RAM_BASE + 0x40;
    m.step(2);
    expect(m.harts[0].csr.mcause).toBe(1);
    expect(m.harts[0].csr.mtval).toBe(0x4000);
    expect(m.harts[0].csr.mepc).toBe(0x4000);
  });

  it("sees code rewritten by the guest and by the VMM (decode cache revalidation)", () => {
    const m = makeMachine();
    // x1 = address of instruction 3; store the word in x2 over it, then execute it.
    m.load([A.sw(2, 1, 0), A.nop(), A.nop(), A.addi(5, 0, 1), A.jal(0, -16)]);
    m.harts[0].x[1] = RAM_BASE + 12;
    m.harts[0].x[2] = A.addi(5, 0, 2) | 0;
    m.step(4);
    expect(m.harts[0].x[5]).toBe(2);
    // The VMM rewrites the instruction while the hart is paused.
    m.load([A.addi(5, 0, 3)], RAM_BASE + 12);
    m.harts[0].x[2] = A.addi(5, 0, 3) | 0;
    m.step(5);
    expect(m.harts[0].x[5]).toBe(3);
  });
});

describe("atomics", () => {
  const ops: [string, number, number, number, number][] = [
    ["swap", AMO.swap, 5, 9, 9],
    ["add", AMO.add, 5, 9, 14],
    ["xor", AMO.xor, 5, 9, 12],
    ["and", AMO.and, 5, 9, 1],
    ["or", AMO.or, 5, 9, 13],
    ["min", AMO.min, -5, 9, -5],
    ["max", AMO.max, -5, 9, 9],
    ["minu", AMO.minu, -5, 9, 9],
    ["maxu", AMO.maxu, -5, 9, -5],
  ];
  for (const [name, f5, mem, src, want] of ops) {
    it(`amo${name}.w returns the old value and stores the result`, () => {
      const m = makeMachine();
      m.load([A.amo(f5, 3, 1, 2)]);
      m.load([mem >>> 0], RAM_BASE + 0x800);
      m.harts[0].x[1] = RAM_BASE + 0x800;
      m.harts[0].x[2] = src;
      m.step(1);
      expect(m.harts[0].x[3]).toBe(mem);
      expect(m.word(RAM_BASE + 0x800)).toBe(want);
    });
  }

  it("LR/SC succeeds within a run and fails after the reservation is lost", () => {
    const m = makeMachine();
    m.load([A.lr(3, 1), A.sc(4, 1, 2), A.sc(5, 1, 2), A.lr(6, 1), A.sc(7, 1, 2)]);
    m.harts[0].x[1] = RAM_BASE + 0x800;
    m.harts[0].x[2] = 42;
    m.step(3);
    expect(m.harts[0].x[4]).toBe(0);
    expect(m.harts[0].x[5]).toBe(1); // reservation consumed by the first SC
    m.step(1); // LR, then the run ends: reservation dropped
    m.step(1);
    expect(m.harts[0].x[7]).toBe(1);
    expect(m.word(RAM_BASE + 0x800)).toBe(42);
  });

  it("another hart's store between LR and SC makes the SC fail", () => {
    const m = makeMachine({ harts: 2 });
    m.load([A.lr(3, 1), A.sc(4, 1, 2)]);
    m.load([A.sw(2, 1, 0)], RAM_BASE + 0x100);
    m.harts[1].pc = RAM_BASE + 0x100;
    for (const h of m.harts) {
      h.x[1] = RAM_BASE + 0x800;
      h.x[2] = 7 + h.workDone;
    }
    m.step(1, 0);
    m.step(1, 1);
    m.step(1, 0);
    expect(m.harts[0].x[4]).toBe(1);
    expect(m.word(RAM_BASE + 0x800)).toBe(7);
  });

  it("misaligned AMO raises store/AMO-address-misaligned", () => {
    const m = makeMachine();
    m.load([A.amo(AMO.add, 3, 1, 2)]);
    m.harts[0].x[1] = RAM_BASE + 0x802;
    m.step(1);
    expect(m.harts[0].csr.mcause).toBe(6);
  });
});

describe("run budget and exits", () => {
  it("executes floor(budget / nsPerInstr) instructions and reports consumed time", () => {
    const m = makeMachine({ mips: 100 }); // 10 ns per instruction
    m.load([A.addi(1, 1, 1), A.jal(0, -4)]);
    const run = m.step(55);
    expect(run.retired).toBe(5);
    expect(run.consumedNs).toBe(50);
    expect(run.exitReason).toBe(ExitReason.BudgetExhausted);
    expect(m.harts[0].workDone).toBe(5);
  });

  it("returns Kicked without running when immediateExit is set", () => {
    const m = makeMachine();
    m.load([A.addi(1, 1, 1)]);
    m.run.immediateExit = true;
    const run = m.step(10);
    expect(run.exitReason).toBe(ExitReason.Kicked);
    expect(run.retired).toBe(0);
    expect(m.harts[0].x[1]).toBe(0);
  });

  it("exits Hypercall for ECALL in M-mode with mtvec == 0 and returns the result in a0", () => {
    const m = makeMachine();
    m.load([A.addi(17, 0, 93), A.addi(10, 0, 4), A.addi(11, 0, 5), A.ecall(), A.addi(12, 10, 1)]);
    const run = m.step(100);
    expect(run.exitReason).toBe(ExitReason.Hypercall);
    expect(run.hypercallNr).toBe(93);
    expect(Array.from(run.hypercallArgs.subarray(0, 2))).toEqual([4, 5]);
    expect(run.retired).toBe(4);
    m.harts[0].completeHypercall(77);
    m.step(1);
    expect(m.harts[0].x[12]).toBe(78);
  });
});
