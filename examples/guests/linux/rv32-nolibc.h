/*
 * nolibc of Linux 6.1 predates rv32 (a time64-only ABI): sys.h refers to system calls that rv32
 * does not have. Give them the number -1, which the kernel answers with -ENOSYS, so the header
 * compiles; /init never calls them (it waits for its children with waitid, see init.c).
 */
#ifndef FERRY_RV32_NOLIBC_H
#define FERRY_RV32_NOLIBC_H
#include <asm/unistd.h>
#define __NR_gettimeofday (-1)
#define __NR_lseek (-1)
#define __NR_newfstatat (-1)
#define __NR_ppoll (-1)
#define __NR_pselect6 (-1)
#define __NR_wait4 (-1)
#endif
