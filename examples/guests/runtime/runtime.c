/* ferry guest runtime (see runtime.h). */
#include "runtime.h"

#define UART_BASE 0x10000000u
#define UART_THR 0u
#define UART_LSR 5u
#define UART_LSR_THRE 0x20u
#define FINISHER_ADDR 0x00100000u

extern char _end[];
extern void rt_park_forever(void) __attribute__((noreturn));

static const volatile u32 *rt_bootargs; /* valid block, or 0 */
u32 rt_boot_a1;                         /* a1 at reset (block address, or DTB on QEMU) */

void rt_putc(char c) {
  volatile u8 *uart = (volatile u8 *)UART_BASE;
  while ((uart[UART_LSR] & UART_LSR_THRE) == 0) {
  }
  uart[UART_THR] = (u8)c;
}

void rt_puts(const char *s) {
  while (*s) rt_putc(*s++);
}

void rt_put_hex(u32 v) {
  rt_puts("0x");
  for (int shift = 28; shift >= 0; shift -= 4) rt_putc("0123456789abcdef"[(v >> shift) & 15u]);
}

void rt_put_dec(u32 v) {
  char buf[12];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0);
  while (n > 0) rt_putc(buf[--n]);
}

void rt_exit_pass(void) {
  *(volatile u32 *)FINISHER_ADDR = 0x5555u;
  rt_park_forever();
}

void rt_exit_fail(u32 code) {
  *(volatile u32 *)FINISHER_ADDR = (code << 16) | 0x3333u;
  rt_park_forever();
}

void rt_park(void) { rt_park_forever(); }

int rt_have_bootargs(void) { return rt_bootargs != 0; }

u32 rt_arg(u32 index, u32 fallback) {
  if (rt_bootargs == 0 || index >= rt_bootargs[2]) return fallback;
  return rt_bootargs[3 + index];
}

u32 rt_mem_limit(void) {
  if (rt_bootargs != 0) return (u32)(unsigned long)rt_bootargs;
  return RT_RAM_BASE + RT_DEFAULT_RAM_SIZE;
}

u32 rt_free_base(void) { return (u32)(unsigned long)_end; }

u64 rt_mtime(void) {
  volatile u32 *mtime = (volatile u32 *)(RT_CLINT_BASE + 0xBFF8u);
  u32 hi, lo;
  do {
    hi = mtime[1];
    lo = mtime[0];
  } while (mtime[1] != hi);
  return ((u64)hi << 32) | lo;
}

void rt_set_mtimecmp(u32 hartid, u64 value) {
  volatile u32 *cmp = (volatile u32 *)(RT_CLINT_BASE + 0x4000u + 8u * hartid);
  cmp[1] = 0xffffffffu; /* no spurious interrupt while the low half changes */
  cmp[0] = (u32)value;
  cmp[1] = (u32)(value >> 32);
}

/*
 * Check the boot-argument block at `addr` (a1 at reset). QEMU passes the device-tree address
 * there, whose magic differs, so the defaults apply. Anything outside RAM is ignored.
 */
static void rt_find_bootargs(u32 addr) {
  if (addr < rt_free_base() || (addr & 3u) != 0 || addr > 0xfffff000u) return;
  const volatile u32 *block = (const volatile u32 *)(unsigned long)addr;
  if (block[0] != RT_BOOTARGS_MAGIC || block[1] != RT_BOOTARGS_VERSION) return;
  if (block[2] > (RT_PAGE_SIZE - 12u) / 4u) return;
  rt_bootargs = block;
}

/* Called from start.S on every hart with a stack. */
void rt_entry(u32 hartid, u32 arg_addr) {
  /* Every hart parses the block itself (same result), so no hart waits for another here. */
  rt_find_bootargs(arg_addr);
  rt_boot_a1 = arg_addr;
  guest_main(hartid);
}

/* Default trap handler (start.S): any trap a guest did not expect ends the run with code 99. */
void rt_unexpected_trap(u32 mcause, u32 mepc, u32 mtval) {
  rt_puts("unexpected trap: mcause=");
  rt_put_hex(mcause);
  rt_puts(" mepc=");
  rt_put_hex(mepc);
  rt_puts(" mtval=");
  rt_put_hex(mtval);
  rt_putc('\n');
  rt_exit_fail(99);
}

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *dst, int c, unsigned long n) {
  u8 *d = (u8 *)dst;
  while (n--) *d++ = (u8)c;
  return dst;
}

void *memcpy(void *dst, const void *src, unsigned long n) {
  u8 *d = (u8 *)dst;
  const u8 *s = (const u8 *)src;
  while (n--) *d++ = *s++;
  return dst;
}
