/*
 * Entry point of every ferry guest (QEMU `virt` with -bios none, or ferry's `virt`).
 * Every hart arrives here with a0 = hart id and a1 = boot-argument block address (ferry) or
 * device-tree address (QEMU). Hart 0 clears .bss and releases the others; each hart gets its
 * own stack from rt_stacks and calls rt_entry(hartid, a1). Harts beyond RT_MAX_HARTS park.
 */
#define RT_MAX_HARTS 16
#define RT_STACK_SIZE 8192

  .section .text.start, "ax"
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  csrw mie, zero
  la t0, rt_trap_entry
  csrw mtvec, t0
  li t0, RT_MAX_HARTS
  bgeu a0, t0, rt_park_forever
  bnez a0, 2f

  /* hart 0: clear .bss, then release the other harts */
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 3f
  sw zero, 0(t0)
  addi t0, t0, 4
  j 1b
3:
  fence rw, rw
  la t0, rt_boot_ready
  li t1, 1
  sw t1, 0(t0)
  j 4f

2:
  /* other harts: wait until hart 0 has cleared .bss */
  la t0, rt_boot_ready
5:
  lw t1, 0(t0)
  beqz t1, 5b
  fence rw, rw

4:
  /* sp = rt_stacks + (hartid + 1) * RT_STACK_SIZE */
  la sp, rt_stacks
  addi t0, a0, 1
  li t1, RT_STACK_SIZE
  mul t0, t0, t1
  add sp, sp, t0
  call rt_entry
  j rt_park_forever

  .globl rt_park_forever
rt_park_forever:
  csrw mie, zero
6:
  wfi
  j 6b

  /* Default trap vector: save the caller-saved registers and report in C (which exits fail). */
  .align 4
  .globl rt_trap_entry
rt_trap_entry:
  csrr a0, mcause
  csrr a1, mepc
  csrr a2, mtval
  call rt_unexpected_trap
  j rt_park_forever

  .section .data
  .align 2
  .globl rt_boot_ready
rt_boot_ready:
  .word 0

  .section .bss
  .align 4
  .globl rt_stacks
rt_stacks:
  .space RT_MAX_HARTS * RT_STACK_SIZE
