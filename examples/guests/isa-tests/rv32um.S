/* rv32um: multiply and divide (M extension). */
#include "env/riscv_test.h"
#include "env/test_macros.h"

RVTEST_CODE_BEGIN

  TEST_RR_OP(2, mul, 0xffebe400, 0x00007e00, 0xb6db6d8e)
  TEST_RR_OP(3, mul, 0x00000001, 0xffffffff, 0xffffffff)
  TEST_RR_OP(4, mul, 0x00000000, 0x80000000, 0x00000002)
  TEST_RR_OP(5, mulh, 0x00000000, 0x00000001, 0x00000001)
  TEST_RR_OP(6, mulh, 0xffffffff, 0xffffffff, 0x00000001)
  TEST_RR_OP(7, mulh, 0x40000000, 0x80000000, 0x80000000)
  TEST_RR_OP(8, mulh, 0xffff0081, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR_OP(9, mulhu, 0xfffffffe, 0xffffffff, 0xffffffff)
  TEST_RR_OP(10, mulhu, 0x0001fefe, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR_OP(11, mulhu, 0x7fffc000, 0xffff8000, 0x80000000)
  TEST_RR_OP(12, mulhsu, 0xffffffff, 0xffffffff, 0xffffffff)
  TEST_RR_OP(13, mulhsu, 0xffff0081, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR_OP(14, mulhsu, 0xffff8000, 0xffff0000, 0x80000000)
  TEST_RR_OP(15, div, 3, 20, 6)
  TEST_RR_OP(16, div, -3, -20, 6)
  TEST_RR_OP(17, div, 3, -20, -6)
  TEST_RR_OP(18, div, 0x80000000, 0x80000000, -1)
  TEST_RR_OP(19, div, -1, 20, 0)
  TEST_RR_OP(20, divu, 3, 20, 6)
  TEST_RR_OP(21, divu, 715827879, -20, 6)
  TEST_RR_OP(22, divu, 0xffffffff, 20, 0)
  TEST_RR_OP(23, rem, 2, 20, 6)
  TEST_RR_OP(24, rem, -2, -20, 6)
  TEST_RR_OP(25, rem, 0, 0x80000000, -1)
  TEST_RR_OP(26, rem, -20, -20, 0)
  TEST_RR_OP(27, remu, 2, 20, 6)
  TEST_RR_OP(28, remu, 2, -20, 6)
  TEST_RR_OP(29, remu, 20, 20, 0)
  TEST_RR_ZERODEST(30, mul, 7, 9)

  TEST_PASSFAIL

RVTEST_CODE_END

RVTEST_DATA_BEGIN
RVTEST_DATA_END
