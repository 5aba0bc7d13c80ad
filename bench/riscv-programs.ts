/** Guest programs and the hart set-up shared by the RISC-V interpreter benchmarks. */
import {
  type AddressSpace,
  createAddressSpace,
  createDirtyRings,
  createRamBackend,
  type DirtyRings,
  type RamRegion,
} from "../packages/core/src/index";
import { type CpuEngine, type RiscvHart, riscvBackend } from "../packages/riscv/src/index";
import { A } from "../packages/riscv/test/asm";

/** Registers by ABI name. */
const t0 = 5;
const t1 = 6;
const t2 = 7;
const a0 = 10;
const a1 = 11;
const a2 = 12;

/** An endless ALU + branch loop (no memory accesses besides instruction fetch). */
export const computeLoop: readonly number[] = [
  A.lui(t0, 0x10000), // t0 = 0x10000000 iterations
  A.addi(a0, 0, 0),
  // loop:
  A.add(a0, a0, t0),
  A.xori(a1, a0, 0x55),
  A.slli(a2, a1, 3),
  A.sub(a0, a0, a2),
  A.addi(t0, t0, -1),
  A.bne(t0, 0, -20),
  A.jal(0, -28),
];

/**
 * An endless store-heavy loop: sweeps 256 KiB from RAM base + 1 MiB with `sw`, one store per
 * three instructions, and starts over.
 */
export const storeLoop: readonly number[] = [
  // outer:
  A.lui(t0, 0x80100), // t0 = 0x80100000
  A.lui(t1, 0x80140), // t1 = 0x80140000 (end)
  // inner:
  A.sw(t0, t0, 0),
  A.addi(t0, t0, 4),
  A.bne(t0, t1, -8),
  A.addi(t2, t2, 1),
  A.jal(0, -24),
];

/** RAM base of the benchmark address space (QEMU virt). */
export const BENCH_RAM_BASE = 0x80000000;

/**
 * One hart at 1000 MIPS (1 ns per instruction) on a 4 MiB RAM-only address space with
 * `program` loaded at the RAM base (and `memory`, its address space), running on `engine`
 * (default: the interpreter, the baseline of every ratio); `ram` for turning dirty logging on.
 * With `ringSize`, RAM uses the dirty-ring tracker (`rings`, one ring of `ringSize` entries);
 * else the bitmap.
 */
export function benchHart(
  program: readonly number[],
  engine: CpuEngine = "interpreter",
  ringSize?: number,
): { hart: RiscvHart; ram: RamRegion; memory: AddressSpace; rings: DirtyRings | null } {
  const memory = createAddressSpace();
  const size = 4 << 20;
  const rings = ringSize === undefined ? null : createDirtyRings({ vcpuCount: 1, size: ringSize });
  const ram = memory.addRam({
    name: "ram",
    base: BENCH_RAM_BASE,
    size,
    backend: createRamBackend("array", size),
    dirty: rings === null ? undefined : rings.createTracker(size / 4096),
  });
  const bytes = new Uint8Array(program.length * 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < program.length; i++) dv.setUint32(i * 4, program[i] >>> 0, true);
  memory.writeBytes(BENCH_RAM_BASE, bytes);
  const hart = riscvBackend({ mips: 1000, engine }).createVcpu({
    hartId: 0,
    memory,
    timebaseHz: 10_000_000,
    vcpuCount: 1,
  });
  hart.reset(BENCH_RAM_BASE, 0);
  return { hart, ram, memory, rings };
}
