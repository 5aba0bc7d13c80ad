/* rv32ua: atomic memory operations and LR/SC (A extension), single hart. */
#include "env/riscv_test.h"
#include "env/test_macros.h"

#define TEST_AMO(testnum, inst, init, operand, old, new)                \
        TEST_CASE(testnum, x14, old,                                    \
          la x13, amo_word; li x1, init; sw x1, 0(x13);                   \
          li x2, operand; inst x14, x2, (x13))                           \
        TEST_CASE(testnum ## 0, x15, new, lw x15, 0(x13))

RVTEST_CODE_BEGIN

  TEST_AMO(2, amoswap.w, 0x80000000, 0xfffff800, 0x80000000, 0xfffff800)
  TEST_AMO(3, amoadd.w, 0x80000000, 0xfffff800, 0x80000000, 0x7ffff800)
  TEST_AMO(4, amoxor.w, 0x80000000, 0xfffff800, 0x80000000, 0x7ffff800)
  TEST_AMO(5, amoand.w, 0x80000000, 0xfffff800, 0x80000000, 0x80000000)
  TEST_AMO(6, amoor.w, 0x80000000, 0xfffff800, 0x80000000, 0xfffff800)
  TEST_AMO(7, amomin.w, 0x80000000, 0xfffff800, 0x80000000, 0x80000000)
  TEST_AMO(8, amomax.w, 0x80000000, 0xfffff800, 0x80000000, 0xfffff800)
  TEST_AMO(9, amominu.w, 0x80000000, 0xfffff800, 0x80000000, 0x80000000)
  TEST_AMO(11, amomaxu.w, 0x80000000, 0xfffff800, 0x80000000, 0xfffff800)
  TEST_AMO(12, amoadd.w.aqrl, 1, 2, 1, 3)

  /* LR/SC: a successful pair writes 0 to rd and stores */
  TEST_CASE(13, x14, 0, la x13, amo_word; li x1, 77; lr.w x5, (x13); sc.w x14, x1, (x13))
  TEST_CASE(14, x15, 77, lw x15, 0(x13))
  /* SC without a reservation fails (rd = 1) and does not store */
  TEST_CASE(15, x14, 1, la x13, amo_word; li x1, 99; sc.w x14, x1, (x13))
  TEST_CASE(16, x15, 77, lw x15, 0(x13))
  /* SC to an address other than the reserved one fails */
  TEST_CASE(17, x14, 1, la x13, amo_word; la x12, amo_word2; lr.w x5, (x13); sc.w x14, x1, (x12))
  /* an increment loop with lr/sc */
  TEST_CASE(18, x15, 100, \
    la x13, amo_word; sw x0, 0(x13); li x6, 100; \
    1: lr.w x5, (x13); addi x5, x5, 1; sc.w x7, x5, (x13); bnez x7, 1b; addi x6, x6, -1; bnez x6, 1b; \
    lw x15, 0(x13))

  TEST_PASSFAIL

RVTEST_CODE_END

RVTEST_DATA_BEGIN
amo_word:  .word 0
amo_word2: .word 0
RVTEST_DATA_END
