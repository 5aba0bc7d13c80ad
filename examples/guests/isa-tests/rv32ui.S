/* rv32ui: RV32I user-level integer instructions (run in M-mode, riscv-tests "p" style). */
#include "env/riscv_test.h"
#include "env/test_macros.h"

RVTEST_CODE_BEGIN

  /* register-register arithmetic */
  TEST_RR_OP(2, add, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR_OP(3, add, 0x80000000, 0x7fffffff, 0x00000001)
  TEST_RR_OP(4, add, 0xfffffffe, 0xffffffff, 0xffffffff)
  TEST_RR_OP(5, sub, 0xffffffff, 0x00000000, 0x00000001)
  TEST_RR_OP(6, sub, 0x7fffffff, 0x80000000, 0x00000001)
  TEST_RR_OP(7, xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR_OP(8, or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR_OP(9, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR_OP(10, sll, 0x80000000, 0x00000001, 31)
  TEST_RR_OP(11, sll, 0x00000002, 0x00000001, 0xffffffe1)
  TEST_RR_OP(12, srl, 0x00000001, 0x80000000, 31)
  TEST_RR_OP(13, sra, 0xffffffff, 0x80000000, 31)
  TEST_RR_OP(14, sra, 0xc0000000, 0x80000000, 0xffffffe1)
  TEST_RR_OP(15, slt, 1, 0x80000000, 0x7fffffff)
  TEST_RR_OP(16, slt, 0, 0x7fffffff, 0x80000000)
  TEST_RR_OP(17, sltu, 0, 0x80000000, 0x7fffffff)
  TEST_RR_OP(18, sltu, 1, 0x00000000, 0xffffffff)
  TEST_RR_SRC1_EQ_DEST(19, add, 24, 13, 11)
  TEST_RR_ZERODEST(20, add, 11, 13)

  /* register-immediate arithmetic */
  TEST_IMM_OP(21, addi, 0x7ffff800, 0x80000000, -2048)
  TEST_IMM_OP(22, addi, 0x800007fe, 0x7fffffff, 0x7ff)
  TEST_IMM_OP(23, slti, 1, 0xffffffff, 0)
  TEST_IMM_OP(24, sltiu, 1, 0x00000000, -1)
  TEST_IMM_OP(25, sltiu, 0, 0xffffffff, 1)
  TEST_IMM_OP(26, xori, 0xff00f00f, 0x00ff0f00, -241)
  TEST_IMM_OP(27, ori, 0xff00ff0f, 0xff00ff00, 0x70f)
  TEST_IMM_OP(28, andi, 0x00000000, 0xff00ff00, 0x0f0)
  TEST_IMM_OP(29, slli, 0x80000000, 0x00000001, 31)
  TEST_IMM_OP(30, srli, 0x00000001, 0x80000000, 31)
  TEST_IMM_OP(31, srai, 0xffffff00, 0x80000000, 23)

  /* lui / auipc */
  TEST_CASE(32, x14, 0xfffff000, lui x14, 0xfffff)
  TEST_CASE(33, x14, 8, 1: auipc x14, 0; la x15, 1b; sub x14, x14, x15; addi x14, x14, 8)

  /* branches */
  TEST_BR2_OP_TAKEN(34, beq, 5, 5)
  TEST_BR2_OP_NOTTAKEN(35, beq, 5, 6)
  TEST_BR2_OP_TAKEN(36, bne, 5, 6)
  TEST_BR2_OP_NOTTAKEN(37, bne, 5, 5)
  TEST_BR2_OP_TAKEN(38, blt, -1, 1)
  TEST_BR2_OP_NOTTAKEN(39, blt, 1, -1)
  TEST_BR2_OP_TAKEN(40, bge, 1, -1)
  TEST_BR2_OP_NOTTAKEN(41, bge, -1, 1)
  TEST_BR2_OP_TAKEN(42, bltu, 1, -1)
  TEST_BR2_OP_NOTTAKEN(43, bltu, -1, 1)
  TEST_BR2_OP_TAKEN(44, bgeu, -1, 1)
  TEST_BR2_OP_NOTTAKEN(45, bgeu, 1, -1)

  /* jal / jalr link registers */
  TEST_CASE(46, x14, 4, 1: jal x1, 2f; 2: la x15, 1b; sub x14, x1, x15)
  TEST_CASE(47, x14, 4, la x2, 3f; 1: jalr x1, 0(x2); 3: la x15, 1b; sub x14, x1, x15)
  TEST_CASE(48, x14, 6, li x14, 0; la x2, 4f; jalr x0, -4(x2); j fail; li x14, 5; 4: addi x14, x14, 1)

  /* loads */
  TEST_LD_OP(49, lb, 0xffffffff, 0, tdat)
  TEST_LD_OP(50, lb, 0x0000000f, 3, tdat)
  TEST_LD_OP(51, lbu, 0x000000ff, 0, tdat)
  TEST_LD_OP(52, lh, 0x000000ff, 0, tdat2)
  TEST_LD_OP(53, lh, 0xfffff00f, 2, tdat2)
  TEST_LD_OP(54, lhu, 0x0000f00f, 2, tdat2)
  TEST_LD_OP(55, lw, 0x0ff00ff0, 4, tdat)
  TEST_LD_OP(56, lw, 0xf00ff00f, -4, tdat2_end)

  /* stores */
  TEST_ST_OP(57, lb, sb, 0xffffffaa, 1, sdat)
  TEST_ST_OP(58, lbu, sb, 0x000000a0, 2, sdat)
  TEST_ST_OP(59, lh, sh, 0xffffaa00, 4, sdat)
  TEST_ST_OP(60, lhu, sh, 0x0000a00a, 6, sdat)
  TEST_ST_OP(61, lw, sw, 0xaa00aa00, 8, sdat)
  TEST_ST_OP(62, lw, sw, 0x12345678, -4, sdat_end)
  /* a byte store changes only its byte */
  TEST_CASE(63, x14, 0x11aa3344, la x1, sdat; li x8, 0x11223344; sw x8, 0(x1); li x8, 0xaa; sb x8, 2(x1); lw x14, 0(x1))

  /* x0 stays zero */
  TEST_CASE(64, x0, 0, li x1, 5; addi x0, x1, 1; lui x0, 1)

  /* fence / fence.i are accepted */
  TEST_CASE(65, x14, 3, li x14, 3; fence; .word 0x0000100f /* fence.i */)

  TEST_PASSFAIL

RVTEST_CODE_END

RVTEST_DATA_BEGIN
tdat:  .byte 0xff, 0x00, 0xf0, 0x0f
       .word 0x0ff00ff0
tdat2: .half 0x00ff, 0xf00f
       .word 0xf00ff00f
tdat2_end:
sdat:  .word 0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef
sdat_end:
RVTEST_DATA_END
