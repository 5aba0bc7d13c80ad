/**
 * What Sv32 translation costs the interpreter: `npx tsx bench/riscv-sv32.ts [instructions]`.
 * Runs the compute and store loops of `riscv-programs.ts` in M-mode (translation off: the bare
 * fast path) and in S-mode under Sv32 (identity-mapped through 4 KiB pages, so every fetch, load
 * and store goes through a TLB), and prints MIPS for each. (Wall-clock reads are fine here: this
 * is the host benchmark, not simulated code.)
 */
import { createVcpuRun } from "../packages/core/src/index";
import { Csr, Priv, type RiscvHart } from "../packages/riscv/src/index";
import { BENCH_RAM_BASE, benchHart, computeLoop, storeLoop } from "./riscv-programs";

/** Identity-map the 4 MiB of RAM with 4 KiB pages (root at +3 MiB + 512 KiB) and enter S-mode. */
function enableSv32(hart: RiscvHart, write: (addr: number, v: number) => void): void {
  const root = BENCH_RAM_BASE + 0x380000;
  const l2 = root + 0x1000;
  write(root + (BENCH_RAM_BASE >>> 22) * 4, ((l2 >>> 12) << 10) | 1);
  for (let i = 0; i < 1024; i++) {
    const pa = BENCH_RAM_BASE + i * 4096;
    write(l2 + i * 4, ((pa >>> 12) << 10) | 0xcf); // V R W X A D
  }
  hart.csr.write(Csr.satp, 0x80000000 | (root >>> 12) | 0);
  hart.csr.priv = Priv.Supervisor;
  hart.csr.updateVm();
}

function measure(program: readonly number[], sv32: boolean, instructions: number): number {
  const { hart, ram } = benchHart(program);
  if (sv32) {
    const bytes = ram.backend.bytes!;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    enableSv32(hart, (addr, v) => dv.setInt32(addr - BENCH_RAM_BASE, v | 0, true));
  }
  const run = createVcpuRun();
  const slice = 1_000_000;
  for (let i = 0; i < 20; i++) hart.run(run, slice);
  const t0 = performance.now();
  let done = 0;
  while (done < instructions) {
    hart.run(run, slice);
    done += run.retired;
  }
  return done / (performance.now() - t0) / 1000;
}

const N = Number(process.argv[2] ?? 200_000_000);
for (const [name, program] of [
  ["compute loop", computeLoop],
  ["store loop", storeLoop],
] as const) {
  const bare = measure(program, false, N);
  const sv32 = measure(program, true, N);
  console.log(
    `${name.padEnd(13)} bare ${bare.toFixed(1)} MIPS   Sv32 ${sv32.toFixed(1)} MIPS   (${((1 - sv32 / bare) * 100).toFixed(1)} % slower)`,
  );
}
