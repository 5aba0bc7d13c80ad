/*
 * ferry guest runtime: UART output, test-finisher exit, boot arguments, CLINT access and a few
 * helpers. Targets QEMU's riscv `virt` machine (and ferry's, which has the same memory map).
 */
#ifndef FERRY_RUNTIME_H
#define FERRY_RUNTIME_H

typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef unsigned char u8;

#define RT_RAM_BASE 0x80000000u
/* RAM size assumed when no boot-argument block is present (QEMU's default for `virt`). */
#define RT_DEFAULT_RAM_SIZE (128u * 1024u * 1024u)
#define RT_MAX_HARTS 16u
#define RT_PAGE_SIZE 4096u

#define RT_BOOTARGS_MAGIC 0x59524546u /* "FERY" in little-endian bytes */
#define RT_BOOTARGS_VERSION 1u

#define RT_CLINT_BASE 0x02000000u
#define RT_MTIME_HZ 10000000u

/* The guest's main, called on every started hart below RT_MAX_HARTS. Returning parks the hart. */
void guest_main(u32 hartid);

/* UART output (NS16550A at 0x1000_0000). */
void rt_putc(char c);
void rt_puts(const char *s);
void rt_put_hex(u32 v);   /* 0x%08x */
void rt_put_dec(u32 v);   /* unsigned decimal */

/* Test finisher (SiFive test device at 0x10_0000). */
void rt_exit_pass(void) __attribute__((noreturn));
void rt_exit_fail(u32 code) __attribute__((noreturn));

/* Boot arguments: value `index` of the block, or `fallback` when the block or the value is absent. */
u32 rt_arg(u32 index, u32 fallback);
/* 1 when a valid boot-argument block was found. */
int rt_have_bootargs(void);
/* The value of a1 at reset (the block address on ferry, the device-tree address on QEMU). */
extern u32 rt_boot_a1;
/* First byte guests must not use: the block address when present, else RAM base + 128 MiB. */
u32 rt_mem_limit(void);
/* First free page-aligned byte after the image (working sets start here). */
u32 rt_free_base(void);

/* CLINT. */
u64 rt_mtime(void);
void rt_set_mtimecmp(u32 hartid, u64 value);

/* Park the calling hart forever (interrupts off, WFI loop). */
void rt_park(void) __attribute__((noreturn));

/* CSR helpers. */
#define rt_csr_read(csr)                                                                          \
  ({                                                                                              \
    u32 __v;                                                                                      \
    __asm__ volatile("csrr %0, " #csr : "=r"(__v));                                               \
    __v;                                                                                          \
  })
#define rt_csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" ::"r"((u32)(val)))
#define rt_csr_set(csr, val) __asm__ volatile("csrs " #csr ", %0" ::"r"((u32)(val)))
#define rt_csr_clear(csr, val) __asm__ volatile("csrc " #csr ", %0" ::"r"((u32)(val)))

/* A cheap, well-mixing 32-bit hash (lowbias32). */
static inline u32 rt_mix(u32 x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/* Busy loop of `n` iterations the compiler cannot remove (deterministic pace). */
static inline void rt_spin(u32 n) {
  for (u32 i = 0; i < n; i++) __asm__ volatile("nop");
}

#endif
