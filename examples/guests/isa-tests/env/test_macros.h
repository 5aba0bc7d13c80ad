/* Test-case macros in the style of riscv-tests' isa/macros/scalar/test_macros.h (a subset). */
#ifndef FERRY_TEST_MACROS_H
#define FERRY_TEST_MACROS_H

/* Run `code`, then fail unless `testreg` == `correctval`. x7 is the scratch register. */
#define TEST_CASE(testnum, testreg, correctval, code...)                \
test_ ## testnum:                                                       \
        li TESTNUM, testnum;                                            \
        code;                                                           \
        li x7, correctval;                                              \
        bne testreg, x7, fail;

#define TEST_RR_OP(testnum, inst, result, val1, val2)                   \
        TEST_CASE(testnum, x14, result,                                 \
          li x1, val1;                                                  \
          li x2, val2;                                                  \
          inst x14, x1, x2)

#define TEST_IMM_OP(testnum, inst, result, val1, imm)                   \
        TEST_CASE(testnum, x14, result,                                 \
          li x1, val1;                                                  \
          inst x14, x1, imm)

/* rd == rs1 forms. */
#define TEST_RR_SRC1_EQ_DEST(testnum, inst, result, val1, val2)         \
        TEST_CASE(testnum, x1, result,                                  \
          li x1, val1;                                                  \
          li x2, val2;                                                  \
          inst x1, x1, x2)

/* Writes to x0 are discarded. */
#define TEST_RR_ZERODEST(testnum, inst, val1, val2)                     \
        TEST_CASE(testnum, x0, 0,                                       \
          li x1, val1;                                                  \
          li x2, val2;                                                  \
          inst x0, x1, x2)

/* Load `inst` from `base + offset`. */
#define TEST_LD_OP(testnum, inst, result, offset, base)                 \
        TEST_CASE(testnum, x14, result,                                 \
          la x1, base;                                                  \
          inst x14, offset(x1))

/* Store then reload. */
#define TEST_ST_OP(testnum, load_inst, store_inst, result, offset, base) \
        TEST_CASE(testnum, x14, result,                                 \
          la x1, base;                                                  \
          li x2, result;                                                \
          store_inst x2, offset(x1);                                    \
          load_inst x14, offset(x1))

/* Branch taken / not taken. */
#define TEST_BR2_OP_TAKEN(testnum, inst, val1, val2)                    \
test_ ## testnum:                                                       \
        li TESTNUM, testnum;                                            \
        li x1, val1;                                                    \
        li x2, val2;                                                    \
        inst x1, x2, 2f;                                                \
        bne x0, TESTNUM, fail;                                          \
1:      bne x0, TESTNUM, 3f;                                            \
2:      inst x1, x2, 1b;                                                \
        bne x0, TESTNUM, fail;                                          \
3:

#define TEST_BR2_OP_NOTTAKEN(testnum, inst, val1, val2)                 \
test_ ## testnum:                                                       \
        li TESTNUM, testnum;                                            \
        li x1, val1;                                                    \
        li x2, val2;                                                    \
        inst x1, x2, 1f;                                                \
        bne x0, TESTNUM, 2f;                                            \
1:      bne x0, TESTNUM, fail;                                          \
2:      inst x1, x2, 1b;                                                \
3:

#define TEST_PASSFAIL                                                   \
        bne x0, TESTNUM, pass;                                          \
fail:                                                                   \
        RVTEST_FAIL;                                                    \
pass:                                                                   \
        RVTEST_PASS

#endif
