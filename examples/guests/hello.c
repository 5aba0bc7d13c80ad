/*
 * hello: prints a greeting with the hart id and exits pass. Harts other than 0 park.
 * Boot arguments: none.
 */
#include "runtime/runtime.h"

void guest_main(u32 hartid) {
  if (hartid != 0) rt_park();
  rt_puts("Hello from ferry guest on hart ");
  rt_put_dec(hartid);
  rt_puts("!\n");
  rt_exit_pass();
}
