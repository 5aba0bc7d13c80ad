/*
 * rv32si: supervisor mode. The test enters S-mode with mret and checks the supervisor CSRs,
 * delegated and undelegated traps, Sv32 translation with hardware A/D updates, page faults with
 * stval, U-mode fetches of non-U pages, and WFI/delegated software interrupts.
 *
 * The S-mode handler records scause/sepc/stval in s0/s1/s2 and skips the trapping instruction
 * (an instruction page fault resumes at s3 in S-mode instead; an interrupt clears SSIP and
 * returns). The M-mode handler does the same with mcause/mepc/mtval and returns to S-mode; an
 * ECALL from S with a7 = 93 ends the test (RVTEST_PASS/RVTEST_FAIL) through tohost.
 */
#include "env/riscv_test.h"
#include "env/test_macros.h"

#define EXPECT_TRAP(testnum, c, at)                                     \
        TEST_CASE(testnum, s0, c, nop)                                  \
        TEST_CASE(testnum ## 0, s1, 0, la x7, at; sub s1, s1, x7)

#define VA_DATA 0x00400000
#define PTE_VRWXAD 0xcf
#define PTE_VRW 0x7
#define PTE_A 0x40
#define PTE_D 0x80

RVTEST_CODE_BEGIN

  la t0, mtrap
  csrw mtvec, t0
  la t0, strap
  csrw stvec, t0
  /* delegate breakpoints, ECALL from U, page faults; the supervisor software interrupt */
  li t0, (1 << 3) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15)
  csrw medeleg, t0
  li t0, 2
  csrw mideleg, t0
  TEST_CASE(2, x14, 0x40141101, csrr x14, misa; li x7, 0x40141101; and x14, x14, x7)
  TEST_CASE(3, x14, 0xb108, csrr x14, medeleg)
  TEST_CASE(4, x14, 0x222, li x1, -1; csrw mideleg, x1; csrr x14, mideleg; li x1, 2; csrw mideleg, x1)

  /* enter S-mode */
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  la t0, 1f
  csrw mepc, t0
  mret
1:
  /* supervisor CSRs */
  TEST_CASE(5, x14, 0x1234, li x1, 0x1234; csrw sscratch, x1; csrr x14, sscratch)
  TEST_CASE(6, x14, 0xc0000, li x1, 0xc0000; csrw sstatus, x1; csrr x14, sstatus; li x7, 0xc0000; and x14, x14, x7; csrw sstatus, zero)
  TEST_CASE(7, x14, 2, li x1, -1; csrw sie, x1; csrr x14, sie; csrw sie, zero)
  /* a machine CSR is illegal in S-mode: the trap goes to M (not delegated) */
2: csrr x14, mstatus
  EXPECT_TRAP(8, 2, 2b)
  /* ebreak is delegated */
3: ebreak
  EXPECT_TRAP(9, 3, 3b)
  /* ecall from S-mode goes to M with cause 9 */
  li a7, 0
4: ecall
  EXPECT_TRAP(10, 9, 4b)
  /* mret is illegal in S-mode */
5: mret
  EXPECT_TRAP(11, 2, 5b)

  /* Sv32: identity megapage for RAM, VA_DATA -> tpage (A and D clear) */
  la t0, pt_root
  li t1, 0x200000cf            /* PPN 0x80000, V R W X A D */
  li t2, 2048
  add t2, t2, t0
  sw t1, 0(t2)
  la t1, pt_l2
  srli t1, t1, 12
  slli t1, t1, 10
  ori t1, t1, 1
  sw t1, 4(t0)                 /* VA 0x0040_0000 -> level-2 table */
  la t1, tpage
  srli t1, t1, 12
  slli t1, t1, 10
  ori t1, t1, PTE_VRW
  la t2, pt_l2
  sw t1, 0(t2)
  la t1, tpage
  li t2, 0x5a5a
  sw t2, 8(t1)
  srli t0, t0, 12
  li t1, 0x80000000
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  /* a load sets A, a store sets D */
  TEST_CASE(12, x14, 0x5a5a, li x1, VA_DATA; lw x14, 8(x1))
  TEST_CASE(13, x14, PTE_A, la x1, pt_l2; lw x14, 0(x1); andi x14, x14, PTE_A | PTE_D)
  TEST_CASE(14, x14, PTE_A | PTE_D, li x1, VA_DATA; sw x1, 12(x1); la x1, pt_l2; lw x14, 0(x1); andi x14, x14, PTE_A | PTE_D)
  TEST_CASE(15, x14, VA_DATA, la x1, tpage; lw x14, 12(x1))
  /* an unmapped address: load page fault with stval = the address */
  li x1, VA_DATA + 0x1000
6: lw x14, 4(x1)
  EXPECT_TRAP(16, 13, 6b)
  TEST_CASE(17, s2, VA_DATA + 0x1004, nop)
7: sw x14, 0(x1)
  EXPECT_TRAP(18, 15, 7b)
  /* U-mode may not fetch from the (non-U) code page: instruction page fault, stval = pc */
  la s3, 9f
  li t0, 0x100
  csrc sstatus, t0             /* SPP = U */
  la t0, 8f
  csrw sepc, t0
  sret
8: nop
9:
  EXPECT_TRAP(19, 12, 8b)
  TEST_CASE(20, s2, 0, la x7, 8b; sub s2, s2, x7)
  csrw satp, zero
  sfence.vma

  /* WFI returns at once with an enabled pending interrupt; the interrupt is then delegated.
     (SIE is 1 here: the srets above restored SPIE, which the first sret had set.) */
  csrci sstatus, 2
  csrsi sie, 2
  csrsi sip, 2
  li s0, 0
  wfi
  TEST_CASE(21, s0, 0, nop)
  csrsi sstatus, 2
  nop
  TEST_CASE(22, s0, 0x80000001, nop)
  TEST_CASE(23, x14, 0, csrr x14, sip; andi x14, x14, 2)
  csrci sstatus, 2

  TEST_PASSFAIL

  .align 2
strap:
  csrr s0, scause
  csrr s1, sepc
  csrr s2, stval
  bltz s0, 2f
  li t0, 12
  beq s0, t0, 1f
  addi t0, s1, 4
  csrw sepc, t0
  sret
1:
  csrw sepc, s3
  li t0, 0x100
  csrs sstatus, t0             /* back to S-mode */
  sret
2:
  csrci sip, 2
  sret

  .align 2
mtrap:
  csrr t5, mcause
  li t6, 9
  bne t5, t6, 1f
  li t6, 93
  beq a7, t6, write_tohost
1:
  csrr s0, mcause
  csrr s1, mepc
  csrr s2, mtval
  addi t0, s1, 4
  csrw mepc, t0
  mret

RVTEST_CODE_END

RVTEST_DATA_BEGIN
  .align 12
pt_root: .skip 4096
pt_l2: .skip 4096
tpage: .skip 4096
RVTEST_DATA_END
