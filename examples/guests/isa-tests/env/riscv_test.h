/*
 * ferry's minimal riscv-tests style environment ("p": physical memory, machine mode, one hart).
 * The result is reported through the `tohost` word: 1 = pass, (n << 1) | 1 = test n failed.
 * TESTNUM (gp) holds the number of the current test case.
 */
#ifndef FERRY_RISCV_TEST_H
#define FERRY_RISCV_TEST_H

#define TESTNUM gp

/* Start of the code: install the default trap vector, clear the registers, run the test. */
#define RVTEST_CODE_BEGIN                                               \
        .section .text.init, "ax";                                      \
        .globl _start;                                                  \
_start:                                                                 \
        j reset_vector;                                                 \
        .align 2;                                                       \
trap_vector:                                                            \
        csrr t5, mcause;                                                \
        li t6, 8;                                                       \
        beq t5, t6, write_tohost;                                       \
        li t6, 11;                                                      \
        beq t5, t6, write_tohost;                                       \
        /* any other trap is unexpected: fail with test number 1337 */  \
        li TESTNUM, (1337 << 1) | 1;                                    \
write_tohost:                                                           \
        sw TESTNUM, tohost, t5;                                         \
        sw zero, tohost + 4, t5;                                        \
        j write_tohost;                                                 \
reset_vector:                                                           \
        la t0, trap_vector;                                             \
        csrw mtvec, t0;                                                 \
        csrwi mstatus, 0;                                               \
        csrwi mie, 0;                                                   \
        li TESTNUM, 0;                                                  \
        j test_start;                                                   \
        .text;                                                          \
        .globl test_start;                                              \
test_start:

#define RVTEST_CODE_END                                                 \
        unimp

#define RVTEST_PASS                                                     \
        fence;                                                          \
        li TESTNUM, 1;                                                  \
        li a7, 93;                                                      \
        li a0, 0;                                                       \
        ecall

#define RVTEST_FAIL                                                     \
        fence;                                                          \
1:      beqz TESTNUM, 1b;                                               \
        sll TESTNUM, TESTNUM, 1;                                        \
        or TESTNUM, TESTNUM, 1;                                         \
        li a7, 93;                                                      \
        addi a0, TESTNUM, 0;                                            \
        ecall

#define RVTEST_DATA_BEGIN                                               \
        .pushsection .tohost, "aw", @progbits;                          \
        .align 6; .globl tohost; tohost: .dword 0; .size tohost, 8;     \
        .align 6; .globl fromhost; fromhost: .dword 0; .size fromhost, 8; \
        .popsection;                                                    \
        .data;                                                          \
        .align 4

#define RVTEST_DATA_END

#endif
