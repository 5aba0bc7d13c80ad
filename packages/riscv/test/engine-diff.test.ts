/**
 * Differential tests of the block compiler (`engine: "jit"`) against the interpreter: the same
 * guest on both engines must give the same state at every vCPU exit (registers, pc, CSRs,
 * 64-bit counters, exit reason, instructions retired, virtual time), the same RAM and the same
 * dirty pages. Covers every guest in examples/guests, every ISA test, random instruction streams
 * (fast-check) and self-modifying code.
 */
import { readFileSync } from "node:fs";
import {
  ExitReason,
  type MmioDevice,
  type RamRegion,
  type VcpuContext,
  VirtualScheduler,
} from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CpuEngine,
  createLinuxMachine,
  loadElf,
  parseElf,
  type RiscvBackend,
  type RiscvHart,
  riscvBackend,
  runTohostElf,
  tohostAddress,
} from "../src/index";
import { A, AMO } from "./asm";
import { makeMachine, RAM_BASE, type TestMachine } from "./harness";

const guestsDir = new URL("../../../examples/guests/", import.meta.url);

/** A backend whose harts append their full state to `trace` after every run. */
function recording(
  engine: CpuEngine,
  trace: string[],
  extra: { tohost?: number } = {},
): RiscvBackend {
  const inner = riscvBackend({ mips: 100, engine, ...extra });
  return {
    name: inner.name,
    workUnit: inner.workUnit,
    createVcpu(ctx: VcpuContext): RiscvHart {
      const hart = inner.createVcpu(ctx);
      const run = hart.run.bind(hart);
      hart.run = (r, budgetNs) => {
        run(r, budgetNs);
        trace.push(
          `${ctx.hartId} ${r.startNs} ${budgetNs} exit=${r.exitReason} n=${r.retired} ns=${r.consumedNs} ` +
            `mmio=${r.mmioAddr}/${r.mmioSize}/${r.mmioIsWrite}/${r.mmioData} ${JSON.stringify(hart.saveState())}`,
        );
      };
      return hart;
    },
  };
}

function ramOf(regions: readonly RamRegion[]): RamRegion {
  const r = regions.find((x) => x.name === "ram");
  if (r === undefined) throw new Error("no ram region");
  return r;
}

async function runGuest(
  engine: CpuEngine,
  name: string,
  args: number[],
  vcpus: number,
  limitNs: number,
) {
  const trace: string[] = [];
  const elf = new Uint8Array(readFileSync(new URL(`${name}.elf`, guestsDir)));
  const machine = createMachine({
    scheduler: new VirtualScheduler(),
    cpu: recording(engine, trace),
    vcpus,
    memory: { size: 4 << 20 },
    bootArgs: args,
  });
  const ram = ramOf(machine.memory.ramRegions);
  ram.dirty.start();
  const image = loadElf(machine.memory, elf);
  machine.reset(image.entry);
  machine.start();
  const result = await machine.runUntilShutdown({ timeLimitNs: limitNs });
  const bytes = new Uint8Array(ram.size);
  machine.memory.readBytes(ram.base, bytes);
  return {
    trace,
    result,
    output: machine.uartOutput(),
    bytes,
    dirty: Array.from(ram.dirty.words),
  };
}

describe("block compiler = interpreter on every guest (state at every exit)", () => {
  const guests: [string, number[], number][] = [
    ["hello", [], 1],
    ["idle", [5, 1000], 1],
    ["memtouch", [256 * 1024, 4096, 3, 1024, 0, 1], 1],
    ["multihart", [2, 16 * 1024, 4, 100], 2],
  ];
  for (const [name, args, vcpus] of guests) {
    it(name, async () => {
      const a = await runGuest("interpreter", name, args, vcpus, 2e9);
      const b = await runGuest("jit", name, args, vcpus, 2e9);
      expect(a.result.reason).toBe("shutdown");
      expect(b.result).toEqual(a.result);
      expect(b.output).toBe(a.output);
      expect(b.trace.length).toBe(a.trace.length);
      for (let i = 0; i < a.trace.length; i++) {
        if (b.trace[i] !== a.trace[i])
          expect(`exit ${i}: ${b.trace[i]}`).toBe(`exit ${i}: ${a.trace[i]}`);
      }
      expect(Buffer.compare(b.bytes, a.bytes)).toBe(0);
      expect(b.dirty).toEqual(a.dirty);
    }, 120_000);
  }
});

describe("block compiler = interpreter on every ISA test", () => {
  for (const name of ["rv32ui", "rv32um", "rv32ua", "rv32mi", "rv32si"]) {
    it(`${name}: same result and instruction count, exit by exit on the virt machine`, async () => {
      const elf = new Uint8Array(readFileSync(new URL(`isa-tests/${name}.elf`, guestsDir)));
      expect(runTohostElf(elf, { engine: "jit" })).toEqual(
        runTohostElf(elf, { engine: "interpreter" }),
      );
      const traces: string[][] = [];
      for (const engine of ["interpreter", "jit"] as const) {
        const trace: string[] = [];
        const image = parseElf(elf);
        const machine = createMachine({
          scheduler: new VirtualScheduler(),
          cpu: recording(engine, trace, { tohost: tohostAddress(image) }),
          vcpus: 1,
          memory: { size: 1 << 20 },
        });
        loadElf(machine.memory, elf);
        machine.reset(image.entry);
        const r = await machine.runUntilShutdown({ timeLimitNs: 1e9 });
        expect(r.code).toBe(0);
        traces.push(trace);
      }
      expect(traces[1]).toEqual(traces[0]);
    });
  }
});

describe("block compiler = interpreter on a Linux boot prefix", () => {
  // The committed kernel and initramfs, booted on the SBI firmware for 40 ms of virtual time
  // (4 M instructions at 100 MIPS: firmware hand-off, the physical-mode start, the switch to
  // Sv32, early memory and console set-up), compared at every vCPU exit.
  it("same state at every exit, same console output and RAM", async () => {
    const linuxDir = new URL("linux/", guestsDir);
    const kernel = new Uint8Array(readFileSync(new URL("Image", linuxDir)));
    const initrd = new Uint8Array(readFileSync(new URL("initramfs.cpio", linuxDir)));
    const runs = [];
    for (const engine of ["interpreter", "jit"] as const) {
      const trace: string[] = [];
      const lm = createLinuxMachine({
        scheduler: new VirtualScheduler(),
        mips: 100,
        vcpus: 1,
        memoryBytes: 32 << 20,
        kernel,
        initrd,
        bootargs: "console=ttyS0 earlycon=sbi",
        cpu: recording(engine, trace),
      });
      const ram = ramOf(lm.machine.memory.ramRegions);
      ram.dirty.start();
      const result = await lm.machine.runUntilShutdown({ timeLimitNs: 40e6 });
      const bytes = new Uint8Array(ram.size);
      lm.machine.memory.readBytes(ram.base, bytes);
      runs.push({
        trace,
        result,
        output: lm.machine.uartOutput(),
        bytes,
        dirty: Array.from(ram.dirty.words),
        work: lm.machine.workDone(),
      });
    }
    const [a, b] = runs;
    expect(a.work).toBeGreaterThan(3_000_000);
    expect(a.output).toContain("Linux version");
    expect(b.result).toEqual(a.result);
    expect(b.work).toBe(a.work);
    expect(b.output).toBe(a.output);
    expect(b.trace.length).toBe(a.trace.length);
    for (let i = 0; i < a.trace.length; i++) {
      if (b.trace[i] !== a.trace[i])
        expect(`exit ${i}: ${b.trace[i]}`).toBe(`exit ${i}: ${a.trace[i]}`);
    }
    expect(Buffer.compare(b.bytes, a.bytes)).toBe(0);
    expect(b.dirty).toEqual(a.dirty);
  }, 300_000);
});

// ------------------------------------------------------------------ random instruction streams

const MMIO_BASE = 0x10000000;
const DATA = RAM_BASE + 0x4000;
const HANDLER = RAM_BASE + 0x3000;
const REGS = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** A device that answers reads with a function of the address and remembers writes. */
function probe(log: string[]): MmioDevice {
  return {
    id: "probe",
    read: (offset, size) => {
      log.push(`r ${offset} ${size}`);
      return (offset * 0x9e3779b1) | 0;
    },
    write: (offset, size, value) => {
      log.push(`w ${offset} ${size} ${value}`);
    },
    saveState: () => ({}),
    loadState: () => {},
  };
}

const reg = fc.constantFrom(...REGS);
const imm12 = fc.integer({ min: -2048, max: 2047 });
/** Branch/jump offsets in instructions (mostly small), occasionally half-word misaligned. */
const jump = fc.oneof(
  fc.integer({ min: -12, max: 12 }).map((k) => k * 4),
  fc.constant(2),
  fc.integer({ min: -40, max: 40 }).map((k) => k * 4),
);
const CSRS = [0xb00, 0xb02, 0xb80, 0xb82, 0xc00, 0xc01, 0xc02, 0xc82, 0x340, 0x300, 0x7c0];

const instr: fc.Arbitrary<number> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          A.add,
          A.sub,
          A.sll,
          A.slt,
          A.sltu,
          A.xor,
          A.srl,
          A.sra,
          A.or,
          A.and,
          A.mul,
          A.mulh,
          A.mulhsu,
          A.mulhu,
          A.div,
          A.divu,
          A.rem,
          A.remu,
        ),
        reg,
        reg,
        reg,
      )
      .map(([f, d, s1, s2]) => f(d, s1, s2)),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(A.addi, A.slti, A.sltiu, A.xori, A.ori, A.andi), reg, reg, imm12)
      .map(([f, d, s1, k]) => f(d, s1, k)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(A.slli, A.srli, A.srai), reg, reg, fc.nat(31))
      .map(([f, d, s1, k]) => f(d, s1, k)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(A.lui, A.auipc), reg, fc.nat(0xfffff))
      .map(([f, d, k]) => f(d, k)),
  },
  // loads: data area (x9), code area (x11), MMIO (x10), random registers
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        fc.constantFrom(A.lb, A.lh, A.lw, A.lbu, A.lhu),
        reg,
        fc.constantFrom(9, 9, 10, 11, 1),
        fc.integer({ min: -8, max: 300 }),
      )
      .map(([f, d, s1, k]) => f(d, s1, k)),
  },
  // stores, including into the program itself (self-modifying code)
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        fc.constantFrom(A.sb, A.sh, A.sw),
        reg,
        fc.constantFrom(9, 9, 10, 11, 2),
        fc.integer({ min: -8, max: 300 }),
      )
      .map(([f, s2, s1, k]) => f(s2, s1, k)),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(A.beq, A.bne, A.blt, A.bge, A.bltu, A.bgeu), reg, reg, jump)
      .map(([f, s1, s2, k]) => f(s1, s2, k)),
  },
  { weight: 1, arbitrary: fc.tuple(reg, jump).map(([d, k]) => A.jal(d, k)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(reg, fc.constantFrom(11, 11, 1), fc.integer({ min: -4, max: 200 }))
      .map(([d, s1, k]) => A.jalr(d, s1, k)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(A.csrrs, A.csrrw, A.csrrc), reg, fc.constantFrom(...CSRS), reg)
      .map(([f, d, c, s1]) => f(d, c, s1)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(A.ecall(), A.ebreak(), 0, A.wfi(), A.fence(), A.mret(), 0xffffffff),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...Object.values(AMO)), reg, reg)
      .map(([f5, d, s2]) => A.amo(f5, d, 9, s2)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(reg, reg, fc.boolean())
      .map(([d, s2, lr]) => (lr ? A.lr(d, 9) : A.sc(d, 9, s2))),
  },
);

/** A test machine on `engine` with an MMIO probe, the program and a trap handler that skips the faulting instruction. */
function randomMachine(
  engine: CpuEngine,
  program: number[],
  seedRegs: number[],
  log: string[],
): TestMachine {
  const m = makeMachine({ engine, ramSize: 64 * 1024 });
  m.memory.addMmio({ name: "probe", base: MMIO_BASE, size: 0x1000, device: probe(log) });
  const ram = ramOf(m.memory.ramRegions);
  ram.dirty.start();
  m.load(program);
  // handler: mepc += 4 (x31 scratch); mret
  m.load([A.csrrs(31, 0x341, 0), A.addi(31, 31, 4), A.csrrw(0, 0x341, 31), A.mret()], HANDLER);
  const h = m.harts[0];
  h.csr.mtvec = HANDLER;
  for (let i = 0; i < 8; i++) h.x[i + 1] = seedRegs[i];
  h.x[9] = DATA;
  h.x[10] = MMIO_BASE;
  h.x[11] = RAM_BASE;
  return m;
}

function snapshot(m: TestMachine): string {
  const ram = ramOf(m.memory.ramRegions);
  const bytes = new Uint8Array(ram.size);
  m.memory.readBytes(ram.base, bytes);
  let hash = 0;
  for (let i = 0; i < bytes.length; i++) hash = (Math.imul(hash, 31) + bytes[i]) | 0;
  const r = m.run;
  return `${r.exitReason} ${r.retired} ${r.consumedNs} ${r.mmioAddr}/${r.mmioSize}/${r.mmioIsWrite}/${r.mmioData} ram=${hash} dirty=${Array.from(ram.dirty.words).join(",")} ${JSON.stringify(m.harts[0].saveState())}`;
}

describe("block compiler = interpreter on random instruction streams", () => {
  it("same state, RAM and dirty pages after every run, for any program and budgets", () => {
    fc.assert(
      fc.property(
        fc.array(instr, { minLength: 4, maxLength: 48 }),
        fc.array(fc.integer(), { minLength: 8, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }),
        (program, seedRegs, budgets) => {
          const logs: string[][] = [[], []];
          const ms = [
            randomMachine("interpreter", program, seedRegs, logs[0]),
            randomMachine("jit", program, seedRegs, logs[1]),
          ];
          for (const budget of budgets) {
            const snaps = ms.map((m) => {
              m.step(budget);
              if (m.run.exitReason === ExitReason.Mmio && !m.run.mmioIsWrite) {
                m.harts[0].completeMmioRead(m.run.mmioAddr ^ 0x5a5a);
              }
              return snapshot(m);
            });
            expect(snaps[1]).toBe(snaps[0]);
          }
          expect(logs[1]).toEqual(logs[0]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------- random streams in S-mode, with Sv32

const SHANDLER = RAM_BASE + 0x3800;
const ROOT = RAM_BASE + 0xc000;
/** S-mode CSRs (and a few M ones, illegal from S) for the S-mode streams. */
const S_CSRS = [0x100, 0x104, 0x105, 0x140, 0x141, 0x142, 0x143, 0x144, 0x180, 0x106, 0xc00, 0x300];

const sInstr: fc.Arbitrary<number> = fc.oneof(
  { weight: 10, arbitrary: instr },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(A.csrrs, A.csrrw, A.csrrc), reg, fc.constantFrom(...S_CSRS), reg)
      .map(([f, d, c, s1]) => f(d, c, s1)),
  },
  { weight: 1, arbitrary: fc.constantFrom(0x10200073, 0x12000073) }, // SRET, SFENCE.VMA
);

/**
 * {@link randomMachine} with the hart in S-mode: `medeleg` sends the chosen exceptions to an
 * S-mode handler (sepc += 4; sret), and with `sv32` an identity map (two 4 MiB superpages: RAM
 * and the probe) is on, so the block engine hands everything to the interpreter until the
 * program turns translation off (a satp write, a trap into M-mode).
 */
function sModeMachine(
  engine: CpuEngine,
  program: number[],
  seedRegs: number[],
  log: string[],
  sv32: boolean,
  medeleg: number,
): TestMachine {
  const m = randomMachine(engine, program, seedRegs, log);
  m.load([A.csrrs(31, 0x141, 0), A.addi(31, 31, 4), A.csrrw(0, 0x141, 31), 0x10200073], SHANDLER);
  const pte = (pa: number) => (((pa >>> 12) << 10) | 0xcf) >>> 0; // V R W X A D
  const root = new Uint8Array(4096);
  const v = new DataView(root.buffer);
  v.setUint32(4 * (RAM_BASE >>> 22), pte(RAM_BASE), true);
  v.setUint32(4 * (MMIO_BASE >>> 22), pte(MMIO_BASE), true);
  m.memory.writeBytes(ROOT, root);
  const c = m.harts[0].csr;
  c.stvec = SHANDLER;
  c.medeleg = medeleg;
  c.priv = 1;
  c.satp = sv32 ? 0x80000000 | (ROOT >>> 12) | 0 : 0;
  c.invalidateVm();
  c.updateVm();
  return m;
}

describe("block compiler = interpreter on random S-mode streams (bare and Sv32)", () => {
  it("same state, RAM and dirty pages after every run", () => {
    fc.assert(
      fc.property(
        fc.array(sInstr, { minLength: 4, maxLength: 48 }),
        fc.array(fc.integer(), { minLength: 8, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.constantFrom(0, 0xb3ff, 0xb1ff, 0x0008),
        (program, seedRegs, budgets, sv32, medeleg) => {
          const logs: string[][] = [[], []];
          const ms = [
            sModeMachine("interpreter", program, seedRegs, logs[0], sv32, medeleg),
            sModeMachine("jit", program, seedRegs, logs[1], sv32, medeleg),
          ];
          for (const budget of budgets) {
            const snaps = ms.map((m) => {
              m.step(budget);
              if (m.run.exitReason === ExitReason.Mmio && !m.run.mmioIsWrite) {
                m.harts[0].completeMmioRead(m.run.mmioAddr ^ 0x5a5a);
              }
              return snapshot(m);
            });
            expect(snaps[1]).toBe(snaps[0]);
          }
          expect(logs[1]).toEqual(logs[0]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("self-modifying code on the block compiler", () => {
  function smc(engine: CpuEngine) {
    const m = makeMachine({ engine });
    // loop: x1 += 1 (the word at +4 is rewritten below); x2 -= 1; bne x2, 0, loop; ebreak-free end: jal 0
    m.load([A.addi(2, 0, 50), A.addi(1, 1, 1), A.addi(2, 2, -1), A.bne(2, 0, -8), A.jal(0, 0)]);
    m.step(40); // the loop is compiled and hot
    m.load([A.addi(1, 1, 100)], RAM_BASE + 4); // VMM write (loader, migration page load)
    m.step(40);
    // the guest rewrites its own loop body from inside the running loop (entered at its head,
    // so the compiled loop holds the old body): x3 = encoding of addi x1, x1, 7
    m.load(
      [
        A.addi(1, 1, 1), // loop: (overwritten by the store below during the first pass)
        A.sw(3, 4, 0x110),
        A.addi(5, 5, -1),
        A.bne(5, 0, -12),
        A.jal(0, 0),
      ],
      RAM_BASE + 0x110,
    );
    const h = m.harts[0];
    h.x[3] = A.addi(1, 1, 7) | 0;
    h.x[4] = RAM_BASE | 0;
    h.x[5] = 20;
    h.pc = RAM_BASE + 0x110;
    m.step(200);
    return { x1: h.x[1], state: h.saveState() };
  }

  it("sees VMM writes and the guest's own stores into a compiled loop, like the interpreter", () => {
    const a = smc("interpreter");
    const b = smc("jit");
    expect(b).toEqual(a);
    // 14 passes of +1, 14 of +100 after the VMM write, then +1 once and +7 nineteen times
    expect(a.x1).toBe(13 + 14 * 100 + 1 + 19 * 7);
  });

  it("a full block cache starts over without losing self-modification", () => {
    const run = (engine: CpuEngine) => {
      const m = makeMachine({ engine, maxDecodedPages: 1 }); // 64 blocks
      // 100 one-instruction blocks (jal +4), then the self-rewriting loop of the test above
      const chain = Array.from({ length: 100 }, () => A.jal(0, 4));
      m.load([...chain, A.addi(1, 1, 1), A.sw(3, 4, 400), A.addi(5, 5, -1), A.bne(5, 0, -12)]);
      m.load([A.jal(0, 0)], RAM_BASE + 416);
      const h = m.harts[0];
      h.x[3] = A.addi(1, 1, 7) | 0;
      h.x[4] = RAM_BASE | 0;
      h.x[5] = 20;
      for (let i = 0; i < 3; i++) {
        h.pc = RAM_BASE;
        h.x[5] = 20;
        m.load([A.addi(1, 1, 1)], RAM_BASE + 400);
        m.step(250);
      }
      return h.saveState();
    };
    const a = run("interpreter");
    expect(run("jit")).toEqual(a);
    expect(a.x[0]).toBe(3 * (1 + 19 * 7));
  });

  it("another hart's store into compiled code is seen at the next run", () => {
    for (const engine of ["interpreter", "jit"] as const) {
      const m = makeMachine({ engine, harts: 2 });
      m.load([A.addi(1, 1, 1), A.jal(0, -4)]);
      m.step(100, 0);
      expect(m.harts[0].x[1]).toBe(50);
      // hart 1 stores `addi x1, x1, 3` over hart 0's loop body
      const word = A.addi(1, 1, 3);
      m.load(
        [
          A.lui(3, (word + 0x800) >>> 12),
          A.addi(3, 3, (word << 20) >> 20),
          A.lui(4, RAM_BASE >>> 12),
          A.sw(3, 4, 0),
          A.jal(0, 0),
        ],
        RAM_BASE + 0x200,
      );
      m.harts[1].pc = RAM_BASE + 0x200;
      m.step(4, 1);
      m.step(100, 0);
      expect(m.harts[0].x[1]).toBe(50 + 3 * 50);
    }
  });
});
