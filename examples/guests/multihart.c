/*
 * multihart: every hart touches and checksums its own region and increments a shared counter,
 * half of the time with AMOADD.W and half with an LR.W/SC.W loop. Hart 0 waits for every hart
 * (a done-counter), prints the per-hart checksums in hart order and the counter total (checked
 * against the expected value) and exits pass (fail code 3 on a counter mismatch).
 *
 * Boot arguments (in this order, defaults in brackets):
 *   0 harts              [0]      0 = auto: the number of `cpu@N` nodes of the device tree when
 *                                 a1 points at one (QEMU), else every hart that starts within
 *                                 1 ms of mtime
 *   1 region bytes/hart  [65536]  multiple of 4
 *   2 passes             [8]
 *   3 increments/pass    [500]    per hart and per pass, for each of AMOADD and LR/SC
 * Harts with an id at or above the hart count park.
 */
#include "runtime/runtime.h"

static volatile u32 arrived;
static volatile u32 go;        /* hart count once hart 0 has decided it, 0 before */
static volatile u32 done;
static volatile u32 counter;
static volatile u32 sums[RT_MAX_HARTS];

static u32 be32(const volatile u8 *p) {
  return ((u32)p[0] << 24) | ((u32)p[1] << 16) | ((u32)p[2] << 8) | (u32)p[3];
}

/* Number of `cpu@…` nodes in the flattened device tree at `addr`, or 0 when it is not one. */
static u32 fdt_count_cpus(u32 addr) {
  if (addr < rt_free_base() || (addr & 3u) != 0 || addr > 0xffff0000u) return 0;
  const volatile u8 *fdt = (const volatile u8 *)(unsigned long)addr;
  if (be32(fdt) != 0xd00dfeedu) return 0;
  u32 size = be32(fdt + 4);
  u32 off = be32(fdt + 8);
  u32 cpus = 0;
  while (off + 4u <= size) {
    u32 token = be32(fdt + off);
    off += 4u;
    if (token == 1u) { /* FDT_BEGIN_NODE: NUL-terminated name, padded to 4 */
      const volatile u8 *name = fdt + off;
      if (name[0] == 'c' && name[1] == 'p' && name[2] == 'u' && name[3] == '@') cpus++;
      u32 len = 0;
      while (off + len < size && name[len] != 0) len++;
      off += (len + 4u) & ~3u;
    } else if (token == 3u) { /* FDT_PROP: len, nameoff, value padded to 4 */
      u32 len = be32(fdt + off);
      off += 8u + ((len + 3u) & ~3u);
    } else if (token == 9u) { /* FDT_END */
      break;
    } else if (token != 2u && token != 4u) { /* not END_NODE or NOP: malformed */
      return 0;
    }
  }
  return cpus;
}

static void add_lrsc(volatile u32 *addr, u32 inc) {
  u32 tmp, fail;
  __asm__ volatile(
      "1: lr.w %0, (%2)\n"
      "   add %0, %0, %3\n"
      "   sc.w %1, %0, (%2)\n"
      "   bnez %1, 1b\n"
      : "=&r"(tmp), "=&r"(fail)
      : "r"(addr), "r"(inc)
      : "memory");
}

static u32 work(u32 hartid, u32 region, u32 passes, u32 incs) {
  u32 base = rt_free_base() + hartid * region;
  volatile u32 *mem = (volatile u32 *)(unsigned long)base;
  u32 checksum = rt_mix(hartid + 1u);
  for (u32 pass = 0; pass < passes; pass++) {
    u32 seed = rt_mix((hartid << 16) ^ (pass + 1u));
    for (u32 w = 0; w < region / 4u; w++) {
      u32 old = mem[w];
      checksum = ((checksum << 7) | (checksum >> 25)) ^ old;
      mem[w] = seed + w * 0x9e3779b9u;
    }
    for (u32 i = 0; i < incs; i++) {
      __atomic_fetch_add(&counter, 1u, __ATOMIC_SEQ_CST);
      add_lrsc(&counter, 1u);
    }
  }
  return checksum;
}

void guest_main(u32 hartid) {
  u32 harts = rt_arg(0, 0u);
  u32 region = rt_arg(1, 65536u) & ~3u;
  u32 passes = rt_arg(2, 8u);
  u32 incs = rt_arg(3, 500u);

  __atomic_fetch_add(&arrived, 1u, __ATOMIC_SEQ_CST);
  if (hartid == 0) {
    if (harts == 0) harts = fdt_count_cpus(rt_boot_a1);
    if (harts == 0) {
      u64 until = rt_mtime() + RT_MTIME_HZ / 1000u;
      while (rt_mtime() < until) rt_spin(64);
      harts = __atomic_load_n(&arrived, __ATOMIC_SEQ_CST);
    }
    if (harts > RT_MAX_HARTS) harts = RT_MAX_HARTS;
    if ((u64)harts * region > (u64)(rt_mem_limit() - rt_free_base())) {
      rt_puts("multihart: regions do not fit below ");
      rt_put_hex(rt_mem_limit());
      rt_putc('\n');
      rt_exit_fail(2);
    }
    __atomic_store_n(&go, harts, __ATOMIC_SEQ_CST);
  } else {
    while (__atomic_load_n(&go, __ATOMIC_SEQ_CST) == 0) rt_spin(16);
    harts = go;
    if (hartid >= harts) rt_park();
  }

  sums[hartid] = work(hartid, region, passes, incs);
  __atomic_fetch_add(&done, 1u, __ATOMIC_SEQ_CST);
  if (hartid != 0) rt_park();

  while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) != harts) rt_spin(16);
  rt_puts("multihart: harts=");
  rt_put_dec(harts);
  rt_puts(" region=");
  rt_put_dec(region);
  rt_puts(" passes=");
  rt_put_dec(passes);
  rt_puts(" increments=");
  rt_put_dec(incs);
  rt_putc('\n');
  for (u32 h = 0; h < harts; h++) {
    rt_puts("hart ");
    rt_put_dec(h);
    rt_puts(" checksum ");
    rt_put_hex(sums[h]);
    rt_putc('\n');
  }
  u32 expected = harts * passes * incs * 2u;
  u32 total = __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
  rt_puts("counter ");
  rt_put_dec(total);
  rt_puts(" expected ");
  rt_put_dec(expected);
  rt_putc('\n');
  if (total != expected) rt_exit_fail(3);
  rt_puts("multihart done\n");
  rt_exit_pass();
}
