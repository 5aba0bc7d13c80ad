/**
 * S-mode and Sv32: translation with A/D updates, page faults with stval, permission checks
 * (U, SUM, MXR), TLB and SFENCE.VMA, MPRV, delegation of exceptions and interrupts, SRET.
 */
import { describe, expect, it } from "vitest";
import { Cause, Csr, Priv } from "../src/index";
import { A } from "./asm";
import { makeMachine, RAM_BASE, type TestMachine } from "./harness";

const SRET = 0x10200073;
const SFENCE_VMA = 0x12000073;
const V = 1;
const R = 2;
const W = 4;
const X = 8;
const U = 16;
const ACC = 64;
const DIRTY = 128;

/** Page-table root at RAM+0x4000 (1024 entries), a second-level table at RAM+0x5000. */
const ROOT = RAM_BASE + 0x4000;
const L2 = RAM_BASE + 0x5000;
/** The virtual page the tests map at 0x0040_0000 (its data lives at RAM+0x8000). */
const VA = 0x0040_0000;
const DATA = RAM_BASE + 0x8000;
const STVEC = RAM_BASE + 0x2000;
const MTVEC = RAM_BASE + 0x3000;

function writeWord(m: TestMachine, addr: number, v: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v | 0, true);
  m.memory.writeBytes(addr, b);
}

/**
 * Map the RAM megapage (VA 0x8000_0000) identity as a 4 MiB superpage with `codeFlags`, and VA
 * 0x0040_0000 → DATA as a 4 KiB page with `dataFlags`; turn Sv32 on; enter privilege `priv`.
 */
function setup(m: TestMachine, codeFlags: number, dataFlags: number, priv: 0 | 1 | 3): void {
  const c = m.harts[0].csr;
  writeWord(m, ROOT + (RAM_BASE >>> 22) * 4, ((RAM_BASE >>> 12) << 10) | codeFlags);
  writeWord(m, ROOT + (VA >>> 22) * 4, ((L2 >>> 12) << 10) | V);
  writeWord(m, L2 + ((VA >>> 12) & 0x3ff) * 4, ((DATA >>> 12) << 10) | dataFlags);
  c.write(Csr.satp, 0x80000000 | (ROOT >>> 12) | 0);
  c.write(Csr.stvec, STVEC);
  c.write(Csr.mtvec, MTVEC);
  c.priv = priv;
  c.updateVm();
}

const pte = (m: TestMachine): number => m.word(L2 + ((VA >>> 12) & 0x3ff) * 4);

describe("Sv32 translation", () => {
  it("translates loads and stores through a 4 KiB page and sets A, then D", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC | DIRTY, V | R | W, Priv.Supervisor);
    writeWord(m, DATA + 8, 0x1234_5678);
    m.load([A.lui(6, VA >>> 12), A.lw(5, 6, 8), A.addi(7, 5, 1), A.sw(7, 6, 12)]);
    m.step(2);
    expect(m.harts[0].x[5]).toBe(0x1234_5678);
    expect(pte(m) & (ACC | DIRTY)).toBe(ACC);
    m.step(2);
    expect(m.word(DATA + 12)).toBe(0x1234_5679);
    expect(pte(m) & (ACC | DIRTY)).toBe(ACC | DIRTY);
  });

  it("raises a delegated load page fault with stval = the virtual address", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC, 0, Priv.Supervisor);
    const c = m.harts[0].csr;
    c.write(Csr.medeleg, 1 << Cause.LoadPageFault);
    m.load([A.lui(6, VA >>> 12), A.lw(5, 6, 0x10)]);
    m.step(2);
    expect(m.harts[0].pc >>> 0).toBe(STVEC);
    expect(c.scause).toBe(Cause.LoadPageFault);
    expect(c.stval >>> 0).toBe(VA + 0x10);
    expect(c.sepc >>> 0).toBe(RAM_BASE + 4);
    expect(c.priv).toBe(Priv.Supervisor);
  });

  it("takes an undelegated store page fault in M-mode (mtval, MPP = S)", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC, V | R | ACC, Priv.Supervisor);
    const c = m.harts[0].csr;
    m.load([A.lui(6, VA >>> 12), A.sw(0, 6, 4)]);
    m.step(2);
    expect(m.harts[0].pc >>> 0).toBe(MTVEC);
    expect(c.mcause).toBe(Cause.StorePageFault);
    expect(c.mtval >>> 0).toBe(VA + 4);
    expect(c.mstatusMpp).toBe(Priv.Supervisor);
    expect(c.vmData).toBe(0);
  });

  it("checks U pages against SUM from S-mode and U-mode fetches against U", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC, V | R | W | U | ACC | DIRTY, Priv.Supervisor);
    const c = m.harts[0].csr;
    c.write(Csr.medeleg, 1 << Cause.LoadPageFault);
    m.load([A.lui(6, VA >>> 12), A.lw(5, 6, 0)]);
    m.step(2);
    expect(c.scause).toBe(Cause.LoadPageFault);
    // With SUM the same load succeeds.
    m.harts[0].pc = RAM_BASE;
    c.write(Csr.sstatus, 1 << 18);
    writeWord(m, DATA, 77);
    m.step(2);
    expect(m.harts[0].x[5]).toBe(77);
    // U-mode may not execute the (non-U) code page.
    c.write(Csr.medeleg, 1 << Cause.InstructionPageFault);
    c.priv = Priv.User;
    c.updateVm();
    m.harts[0].pc = RAM_BASE;
    m.step(1);
    expect(c.scause).toBe(Cause.InstructionPageFault);
    expect(c.stval >>> 0).toBe(RAM_BASE);
  });

  it("reads execute-only pages only with MXR", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC, V | X | ACC, Priv.Supervisor);
    const c = m.harts[0].csr;
    c.write(Csr.medeleg, 1 << Cause.LoadPageFault);
    writeWord(m, DATA, 5);
    m.load([A.lui(6, VA >>> 12), A.lw(5, 6, 0)]);
    m.step(2);
    expect(c.scause).toBe(Cause.LoadPageFault);
    m.harts[0].pc = RAM_BASE;
    c.write(Csr.sstatus, 1 << 19);
    m.step(2);
    expect(m.harts[0].x[5]).toBe(5);
  });

  it("keeps a cached translation until SFENCE.VMA", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC, V | R | W | ACC | DIRTY, Priv.Supervisor);
    writeWord(m, DATA, 1);
    writeWord(m, DATA + 0x1000, 2);
    m.load([A.lui(6, VA >>> 12), A.lw(5, 6, 0), A.lw(7, 6, 0), SFENCE_VMA, A.lw(8, 6, 0)]);
    m.step(2);
    // Remap the page to DATA + 0x1000 behind the TLB's back.
    writeWord(m, L2 + ((VA >>> 12) & 0x3ff) * 4, (((DATA + 0x1000) >>> 12) << 10) | V | R | ACC);
    m.step(3);
    const x = m.harts[0].x;
    expect([x[5], x[7], x[8]]).toEqual([1, 1, 2]);
  });

  it("translates M-mode loads with MPRV through MPP's privilege", () => {
    const m = makeMachine();
    setup(m, V | R | X | ACC, V | R | ACC, Priv.Machine);
    const c = m.harts[0].csr;
    writeWord(m, DATA, 99);
    c.write(Csr.mstatus, (1 << 17) | (Priv.Supervisor << 11));
    m.load([A.lui(6, VA >>> 12), A.lw(5, 6, 0)]);
    m.step(2);
    expect(m.harts[0].x[5]).toBe(99);
  });
});

describe("delegation and SRET", () => {
  it("delegates ECALL from U-mode and returns with SRET to U", () => {
    const m = makeMachine();
    const c = m.harts[0].csr;
    c.write(Csr.medeleg, 1 << Cause.EcallFromU);
    c.write(Csr.stvec, STVEC);
    c.priv = Priv.User;
    c.updateVm();
    m.load([A.ecall(), A.addi(5, 0, 7)]);
    m.load([A.csrrs(10, Csr.sepc, 0), A.addi(10, 10, 4), A.csrrw(0, Csr.sepc, 10), SRET], STVEC);
    m.step(6);
    expect(c.scause).toBe(Cause.EcallFromU);
    expect(c.priv).toBe(Priv.User);
    expect(m.harts[0].x[5]).toBe(7);
  });

  it("ECALL from S-mode traps to M with cause 9 unless firmware answers it", () => {
    const m = makeMachine();
    const c = m.harts[0].csr;
    c.write(Csr.mtvec, MTVEC);
    c.priv = Priv.Supervisor;
    m.load([A.ecall()]);
    m.step(1);
    expect(c.mcause).toBe(Cause.EcallFromS);
    expect(c.mstatusMpp).toBe(Priv.Supervisor);
  });

  it("takes a delegated supervisor timer interrupt in S-mode when SIE is set, never in M", () => {
    const m = makeMachine();
    const c = m.harts[0].csr;
    c.write(Csr.mideleg, 1 << 5);
    c.write(Csr.mie, 1 << 5);
    c.write(Csr.stvec, STVEC);
    c.write(Csr.mip, 1 << 5);
    m.load([A.addi(0, 0, 0), A.addi(0, 0, 0)]);
    m.step(1);
    expect(m.harts[0].pc >>> 0).toBe(RAM_BASE + 4); // M-mode: not taken
    c.priv = Priv.Supervisor;
    m.harts[0].pc = RAM_BASE;
    m.step(1);
    expect(m.harts[0].pc >>> 0).toBe(RAM_BASE + 4); // S-mode, SIE clear: not taken
    c.write(Csr.sstatus, 2);
    m.harts[0].pc = RAM_BASE;
    m.step(1);
    expect(c.scause >>> 0).toBe(0x80000005);
    expect(c.sepc >>> 0).toBe(RAM_BASE);
    expect(c.mstatusSpp).toBe(1);
  });

  it("makes SRET illegal in U-mode and under TSR, SFENCE.VMA under TVM", () => {
    const m = makeMachine();
    const c = m.harts[0].csr;
    c.write(Csr.mtvec, MTVEC);
    c.write(Csr.mstatus, (1 << 22) | (1 << 20));
    c.priv = Priv.Supervisor;
    m.load([SRET]);
    m.step(1);
    expect(c.mcause).toBe(Cause.IllegalInstruction);
    c.priv = Priv.Supervisor;
    m.load([SFENCE_VMA]);
    m.harts[0].pc = RAM_BASE;
    m.step(1);
    expect(c.mcause).toBe(Cause.IllegalInstruction);
    expect(c.mtval >>> 0).toBe(SFENCE_VMA);
  });

  it("exposes sstatus, sie and sip as views of the machine CSRs", () => {
    const m = makeMachine();
    const c = m.harts[0].csr;
    c.write(Csr.mideleg, 0x222);
    c.write(Csr.mie, 0xaaa);
    expect(c.read(Csr.sie)).toBe(0x222);
    c.write(Csr.sstatus, 0xffffffff | 0);
    expect(c.read(Csr.sstatus) >>> 0).toBe(0x000c0122);
    expect(c.read(Csr.mstatus) & 0x1800).toBe(0); // MPP untouched
    c.write(Csr.sip, 0x222);
    expect(c.read(Csr.mip)).toBe(0x2); // only SSIP is writable through sip
  });
});
