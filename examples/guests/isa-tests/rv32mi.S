/*
 * rv32mi: machine-mode traps and CSRs. A test trap handler records mcause/mepc/mtval in
 * s0/s1/s2, skips the trapping instruction and returns in M-mode.
 */
#include "env/riscv_test.h"
#include "env/test_macros.h"

/* Expect the last trap to have had cause `c` at address of label `at`. */
#define EXPECT_TRAP(testnum, c, at)                                     \
        TEST_CASE(testnum, s0, c, nop)                                  \
        TEST_CASE(testnum ## 0, s1, 0, la x7, at; sub s1, s1, x7)

RVTEST_CODE_BEGIN

  la t0, mtrap
  csrw mtvec, t0

  /* identification CSRs */
  TEST_CASE(2, x14, 0x40101101, csrr x14, misa; li x7, 0x40101101; and x14, x14, x7)
  TEST_CASE(3, x14, 0, csrr x14, mhartid)
  TEST_CASE(4, x14, 0, li s0, 0; csrr x15, mvendorid; csrr x15, marchid; csrr x15, mimpid; mv x14, s0)

  /* csrrw / csrrs / csrrc / immediate forms on mscratch */
  TEST_CASE(5, x14, 0x12345678, li x1, 0x12345678; csrw mscratch, x1; csrr x14, mscratch)
  TEST_CASE(6, x14, 0x12345678, li x1, 0xf; csrrs x14, mscratch, x1)
  TEST_CASE(7, x14, 0x1234567f, csrr x14, mscratch)
  TEST_CASE(8, x14, 0x1234567f, li x1, 0xff; csrrc x14, mscratch, x1)
  TEST_CASE(9, x14, 0x12345600, csrr x14, mscratch)
  TEST_CASE(10, x14, 0x12345600, csrrwi x14, mscratch, 21)
  TEST_CASE(11, x14, 28, csrrsi x14, mscratch, 8; csrrci x14, mscratch, 1; csrr x14, mscratch)
  TEST_CASE(12, x14, 28, csrr x14, mscratch)

  /* mstatus keeps MIE/MPIE/MPP only; MPP is WARL (M or U) */
  TEST_CASE(13, x14, 0x1880, li x1, 0x1888; csrw mstatus, x1; csrci mstatus, 8; csrr x14, mstatus)
  /* mie keeps MSIE/MTIE/MEIE only */
  TEST_CASE(14, x14, 0x888, li x1, -1; csrw mie, x1; csrr x14, mie; csrw mie, zero; li x7, 0x888; and x14, x14, x7)
  /* mepc read/write (its WARL low bits are checked by the unit tests: QEMU masks them late) */
  TEST_CASE(15, x14, 0x80000008, li x1, 0x80000008; csrw mepc, x1; csrr x14, mepc)

  /* counters do not go backwards (exact counts are checked by the unit tests) */
  TEST_CASE(16, x14, 0, csrr x1, instret; csrr x2, instret; sltu x14, x2, x1)
  TEST_CASE(17, x14, 0, rdcycle x1; rdcycle x2; sltu x14, x2, x1)
  TEST_CASE(18, x14, 0, li s0, 0; li x1, 1000; csrw minstret, x1; csrw mcycle, x1; mv x14, s0)
  TEST_CASE(19, x14, 0, csrw minstreth, zero; csrr x14, minstreth)

  /* ecall from M-mode */
1: ecall
  EXPECT_TRAP(20, 11, 1b)

  /* ebreak: mtval = pc (ferry) or 0 (both are allowed) */
2: ebreak
  EXPECT_TRAP(21, 3, 2b)
  TEST_CASE(22, x14, 0, la x7, 2b; sub x14, s2, x7; snez x15, s2; and x14, x14, x15)

  /* illegal instruction: mtval = the instruction bits */
3: .word 0x00000000
  EXPECT_TRAP(23, 2, 3b)
  TEST_CASE(24, x14, 0, mv x14, s2)
#ifndef QEMU_XCHECK /* QEMU 7.2 with c=false loops on this encoding */
4: .word 0x8000300b /* custom-0 opcode: not implemented */
  EXPECT_TRAP(25, 2, 4b)
  TEST_CASE(26, x14, 0x8000300b, mv x14, s2)
#endif

  /* unimplemented CSR */
5: csrr x14, 0x7c0
  EXPECT_TRAP(27, 2, 5b)
  /* write to a read-only CSR */
6: csrw mhartid, x1
  EXPECT_TRAP(28, 2, 6b)
  /* reading a read-only CSR with csrrs x0 is fine */
  TEST_CASE(29, x14, 0, li s0, 0; csrrs x14, mhartid, x0; or x14, x14, s0)

#ifndef QEMU_XCHECK
  /* misaligned load and store: mtval = address (QEMU performs misaligned RAM accesses instead) */
  la x1, tdat
7: lw x14, 1(x1)
  EXPECT_TRAP(30, 4, 7b)
  TEST_CASE(31, x14, 1, sub x14, s2, x1)
8: sh x14, 3(x1)
  EXPECT_TRAP(32, 6, 8b)
  addi x13, x1, 2
9: amoadd.w x14, x14, (x13)
  EXPECT_TRAP(33, 6, 9b)
#endif

  /* jump to a misaligned target: cause 0, mtval = target, rd unchanged */
  li x20, 55
  la x6, tgt + 2
10: jalr x20, 0(x6)
  EXPECT_TRAP(34, 0, 10b)
  TEST_CASE(35, x14, 55, mv x14, x20)
  TEST_CASE(36, x14, 2, la x7, tgt; sub x14, s2, x7)

  /* access fault outside any region */
  li x1, 0x70000000
11: lw x14, 0(x1)
  EXPECT_TRAP(37, 5, 11b)
12: sw x14, 0(x1)
  EXPECT_TRAP(38, 7, 12b)

#ifndef QEMU_XCHECK /* QEMU spike without PMP setup cannot run U-mode code */
  /* drop to U-mode: mret goes to mepc with the privilege in MPP */
  li x1, 0x1800
  csrc mstatus, x1
  la x1, 13f
  csrw mepc, x1
  mret
13: csrr x14, mstatus   /* U-mode: machine CSRs are illegal */
  EXPECT_TRAP(39, 2, 13b)
  /* the handler returned in M-mode; mret leaves MPP = U */
  TEST_CASE(40, x14, 0, csrr x14, mstatus; srli x14, x14, 11; andi x14, x14, 3)
  li x1, 0x1800
  csrc mstatus, x1
  la x1, 14f
  csrw mepc, x1
  mret
14: ecall
  EXPECT_TRAP(41, 8, 14b)
  /* mret itself is illegal in U-mode */
  li x1, 0x1800
  csrc mstatus, x1
  la x1, 15f
  csrw mepc, x1
  mret
15: mret
  EXPECT_TRAP(42, 2, 15b)
#endif

  /* mret restores MIE from MPIE and sets MPIE */
  TEST_CASE(43, x14, 0x88, li x1, 0x1888; csrc mstatus, x1; li x1, 0x1880; csrs mstatus, x1; la x1, 16f; csrw mepc, x1; mret; 16: csrr x14, mstatus; li x7, 0x88; and x14, x14, x7; csrci mstatus, 8)

#ifndef QEMU_XCHECK /* exact counter rules (QEMU's TCG counts differently without icount) */
  /* Zicsr: a write to minstret/minstreth replaces the increment of the writing instruction */
  TEST_CASE(44, x14, 0, csrw minstret, zero; csrr x14, minstret)
  TEST_CASE(45, x14, 0, csrw minstret, zero; csrw minstreth, zero; csrr x14, minstret)
  TEST_CASE(46, x14, 0, csrw mcycle, zero; csrw mcycleh, zero; csrr x14, mcycle)
  /* the 64-bit counters are exact and wrap at 2^64 */
  TEST_CASE(47, x14, 0, li x1, -1; csrw minstreth, x1; csrw minstret, x1; csrr x15, minstret; csrr x14, minstreth)
  TEST_CASE(48, x15, -1, nop)
  TEST_CASE(49, x14, 0, li x1, -1; csrw mcycleh, x1; csrw mcycle, x1; nop; csrr x14, mcycleh)
  TEST_CASE(50, x14, 0x12345678, li x1, 0x12345678; csrw minstreth, x1; csrr x14, minstreth; csrw minstreth, zero)
  /* a trapping instruction (ecall, ebreak, illegal) is not retired: minstret skips it, mcycle does not */
  TEST_CASE(51, x14, 1, csrw minstret, zero; csrw mcycle, zero; ecall; csrr x1, minstret; csrr x2, mcycle; sub x14, x2, x1)
  TEST_CASE(52, x14, 1, csrw minstret, zero; csrw mcycle, zero; ebreak; csrr x1, minstret; csrr x2, mcycle; sub x14, x2, x1)
  TEST_CASE(53, x14, 1, csrw minstret, zero; csrw mcycle, zero; .word 0; csrr x1, minstret; csrr x2, mcycle; sub x14, x2, x1)
#endif

  /* restore the environment's trap vector so the final ecall reports */
  la t0, trap_vector
  csrw mtvec, t0
  TEST_PASSFAIL

  .align 2
mtrap:
  /* the pass/fail report (ecall with a7 = 93) goes to the environment's handler */
  li t0, 93
  bne a7, t0, 1f
  j trap_vector
1:
  csrr s0, mcause
  csrr s1, mepc
  csrr s2, mtval
  addi t0, s1, 4
  csrw mepc, t0
  li t0, 0x1800
  csrs mstatus, t0
  mret

  .align 2
tgt:
  j fail
  j fail

RVTEST_CODE_END

RVTEST_DATA_BEGIN
tdat: .word 0, 0
RVTEST_DATA_END
