/*
 * idle: a mostly-halted guest. Arms the CLINT timer periodically and sleeps in WFI between
 * ticks; prints one line per tick (tick numbers only, so output is deterministic) and exits
 * pass after N ticks. Harts other than 0 park.
 *
 * Boot arguments (in this order, defaults in brackets):
 *   0 ticks            [20]
 *   1 period in us     [1000]   (mtime runs at 10 MHz)
 */
#include "runtime/runtime.h"

#define MIP_MTIP (1u << 7)
#define MSTATUS_MIE (1u << 3)
#define MCAUSE_INTERRUPT 0x80000000u

static volatile u32 ticks;
static u64 next_deadline;
static u32 period_ticks;

__attribute__((interrupt("machine"), aligned(4))) static void idle_trap(void) {
  u32 cause = rt_csr_read(mcause);
  if (cause == (MCAUSE_INTERRUPT | 7u)) {
    ticks = ticks + 1u;
    next_deadline += period_ticks;
    rt_set_mtimecmp(0, next_deadline);
    return;
  }
  rt_puts("idle: unexpected trap mcause=");
  rt_put_hex(cause);
  rt_puts(" mepc=");
  rt_put_hex(rt_csr_read(mepc));
  rt_putc('\n');
  rt_exit_fail(99);
}

void guest_main(u32 hartid) {
  if (hartid != 0) rt_park();
  u32 count = rt_arg(0, 20u);
  u32 period_us = rt_arg(1, 1000u);
  if (period_us == 0) period_us = 1;
  period_ticks = period_us * (RT_MTIME_HZ / 1000000u);
  rt_puts("idle: ticks=");
  rt_put_dec(count);
  rt_puts(" period-us=");
  rt_put_dec(period_us);
  rt_putc('\n');

  rt_csr_write(mtvec, (u32)(unsigned long)&idle_trap);
  next_deadline = rt_mtime() + period_ticks;
  rt_set_mtimecmp(0, next_deadline);
  rt_csr_set(mie, MIP_MTIP);

  u32 printed = 0;
  while (printed < count) {
    /*
     * Race-free sleep: with mstatus.MIE off, WFI still wakes on a pending enabled interrupt;
     * opening MIE for one instruction then takes it.
     */
    __asm__ volatile("wfi");
    rt_csr_set(mstatus, MSTATUS_MIE);
    rt_csr_clear(mstatus, MSTATUS_MIE);
    while (printed < ticks && printed < count) {
      printed++;
      rt_puts("tick ");
      rt_put_dec(printed);
      rt_putc('\n');
    }
  }
  rt_csr_clear(mie, MIP_MTIP);
  rt_puts("idle done\n");
  rt_exit_pass();
}
