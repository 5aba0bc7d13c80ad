/*
 * memtouch: dirties a working set page by page, for real, at a chosen stride and pace.
 *
 * Boot arguments (in this order, defaults in brackets):
 *   0 working-set bytes      [1048576]  rounded down to a multiple of 4
 *   1 stride bytes           [4096]     distance between touched positions (multiple of 4)
 *   2 passes                 [50]
 *   3 words per touch        [1024]     32-bit words written at each touched position
 *                                       (1024 = a whole page; small values = XBZRLE-friendly)
 *   4 spin iterations        [0]        busy-loop iterations between touches (the pace)
 *   5 print every N passes   [10]       0 = only the final checksum
 *
 * Each pass, at each touched position, reads every word back (folding the previous pass's value
 * into the checksum), then stores a new value derived from (pass, position, word). The running
 * checksum thus depends on every store of the previous pass surviving (or being migrated).
 * Harts other than 0 park. Exits pass; exits fail (code 2) when the working set does not fit.
 */
#include "runtime/runtime.h"

void guest_main(u32 hartid) {
  if (hartid != 0) rt_park();
  u32 ws = rt_arg(0, 1048576u) & ~3u;
  u32 stride = rt_arg(1, 4096u) & ~3u;
  u32 passes = rt_arg(2, 50u);
  u32 words = rt_arg(3, 1024u);
  u32 spin = rt_arg(4, 0u);
  u32 print_every = rt_arg(5, 10u);

  rt_puts("memtouch: ws=");
  rt_put_dec(ws);
  rt_puts(" stride=");
  rt_put_dec(stride);
  rt_puts(" passes=");
  rt_put_dec(passes);
  rt_puts(" words=");
  rt_put_dec(words);
  rt_puts(" spin=");
  rt_put_dec(spin);
  rt_puts(" print-every=");
  rt_put_dec(print_every);
  rt_putc('\n');

  u32 base = rt_free_base();
  if (stride == 0 || words == 0 || ws > rt_mem_limit() - base) {
    rt_puts("memtouch: bad parameters (stride and words must be > 0, working set must fit below ");
    rt_put_hex(rt_mem_limit());
    rt_puts(")\n");
    rt_exit_fail(2);
  }

  volatile u32 *mem = (volatile u32 *)(unsigned long)base;
  u32 checksum = 0;
  for (u32 pass = 0; pass < passes; pass++) {
    u32 pass_seed = rt_mix(pass + 1u);
    for (u32 pos = 0; pos < ws; pos += stride) {
      u32 n = (ws - pos) / 4u;
      if (n > words) n = words;
      volatile u32 *p = mem + pos / 4u;
      u32 value = rt_mix(pass_seed ^ pos);
      for (u32 w = 0; w < n; w++) {
        u32 old = p[w];
        checksum = ((checksum << 5) | (checksum >> 27)) ^ old;
        p[w] = value + w * 0x9e3779b9u;
      }
      if (spin != 0) rt_spin(spin);
      if (pos + stride < pos) break; /* stride overflow */
    }
    if (print_every != 0 && (pass + 1u) % print_every == 0) {
      rt_puts("pass ");
      rt_put_dec(pass + 1u);
      rt_puts(" checksum ");
      rt_put_hex(checksum);
      rt_putc('\n');
    }
  }
  rt_puts("memtouch done: passes=");
  rt_put_dec(passes);
  rt_puts(" checksum=");
  rt_put_hex(checksum);
  rt_putc('\n');
  rt_exit_pass();
}
