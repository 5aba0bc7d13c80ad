/**
 * The block compiler against the interpreter, in the same process and run:
 * `npx tsx bench/riscv-jit.ts [rounds]`. Prints guest MIPS of both engines and their ratio for
 * the compute loop and the store loop (dirty logging off and on), interleaving the engines round
 * by round so that load from other processes hits both alike; the wall time of a real guest
 * (memtouch on the virt machine) on both engines; and the compile cost per block. (Wall-clock
 * reads are fine here: this is the host benchmark, not simulated code.)
 */
import { readFileSync } from "node:fs";
import { createVcpuRun, VirtualScheduler } from "../packages/core/src/index";
import { createMachine } from "../packages/riscv/src/index";
import { type CpuEngine, loadElf, parseElf, riscvBackend } from "../packages/riscv/src/index";
import { compileBlock } from "../packages/riscv/src/jit/compile";
import { benchHart, computeLoop, storeLoop } from "./riscv-programs";

const SLICE = 1_000_000; // 1 ms of virtual time per run at 1000 MIPS

/** MIPS of `engine` on `program` over `instructions` guest instructions (after a warm-up). */
function mips(
  program: readonly number[],
  logging: boolean,
  engine: CpuEngine,
  instructions: number,
): number {
  const { hart, ram } = benchHart(program, engine);
  if (logging) ram.dirty.start();
  const run = createVcpuRun();
  for (let i = 0; i < 20; i++) hart.run(run, SLICE);
  const t0 = performance.now();
  let done = 0;
  while (done < instructions) {
    hart.run(run, SLICE);
    done += run.retired;
  }
  return done / (performance.now() - t0) / 1000;
}

/** Wall ms of the memtouch guest (1 MiB working set, 20 passes) to its shutdown on `engine`. */
async function guestMs(engine: CpuEngine): Promise<{ ms: number; instructions: number }> {
  const elf = new Uint8Array(
    readFileSync(new URL("../examples/guests/memtouch.elf", import.meta.url)),
  );
  const machine = createMachine({
    scheduler: new VirtualScheduler(),
    cpu: riscvBackend({ mips: 100, engine }),
    vcpus: 1,
    memory: { size: 16 << 20 },
    bootArgs: [1 << 20, 4096, 20, 1024, 0, 0],
  });
  const image = loadElf(machine.memory, elf);
  machine.reset(image.entry);
  machine.start();
  const t0 = performance.now();
  const r = await machine.runUntilShutdown({ timeLimitNs: 60e9 });
  const ms = performance.now() - t0;
  if (r.reason !== "shutdown") throw new Error(`memtouch did not finish: ${r.reason}`);
  return { ms, instructions: machine.workDone() };
}

/**
 * Compile a block at every instruction of the ISA tests' executable segments, five times over
 * (the first pass warms up the compiler itself); mean µs per block and per instruction of the
 * last four passes.
 */
function compileCost(): {
  usPerBlock: number;
  usPerInstr: number;
  blocks: number;
  meanLen: number;
} {
  let ms = 0;
  const stats = { blocks: 0, instructions: 0 };
  for (let pass = 0; pass < 5; pass++) {
    const passStats = { blocks: 0, instructions: 0 };
    let passMs = 0;
    for (const name of ["rv32ui", "rv32um", "rv32ua", "rv32mi"]) {
      const elf = new Uint8Array(
        readFileSync(new URL(`../examples/guests/isa-tests/${name}.elf`, import.meta.url)),
      );
      const { hart, memory } = benchHart([]);
      const image = parseElf(elf);
      loadElf(memory, elf);
      hart.run(createVcpuRun(), 1); // binds the fast region
      const ctx = {
        hart,
        x: hart.x,
        m8: hart.m8,
        s8: hart.s8,
        m16: hart.m16,
        s16: hart.s16,
        m32: hart.m32,
        dirtyWords: hart.dirtyWords,
        codePages: new Uint8Array(hart.fastSize >>> 12),
        codeGen: new Uint32Array(hart.fastSize >>> 12),
        base: hart.fastBase,
        size: hart.fastSize,
        tohostOff: -1,
      };
      const t0 = performance.now();
      for (const seg of image.segments) {
        if ((seg.flags & 1) === 0) continue; // PF_X
        for (let a = seg.paddr; a < seg.paddr + seg.filesz; a += 4) {
          compileBlock(ctx, a - hart.fastBase, passStats);
        }
      }
      passMs += performance.now() - t0;
    }
    if (pass === 0) continue;
    ms += passMs;
    stats.blocks += passStats.blocks;
    stats.instructions += passStats.instructions;
  }
  return {
    usPerBlock: (ms * 1000) / stats.blocks,
    usPerInstr: (ms * 1000) / stats.instructions,
    blocks: stats.blocks / 4,
    meanLen: stats.instructions / stats.blocks,
  };
}

const rounds = Math.max(1, Number(process.argv[2] ?? 3));
const cases = [
  { name: "compute loop", program: computeLoop, logging: false, n: 60_000_000 },
  { name: "store loop, dirty logging off", program: storeLoop, logging: false, n: 40_000_000 },
  { name: "store loop, dirty logging on", program: storeLoop, logging: true, n: 40_000_000 },
];
for (const c of cases) {
  const ratios: number[] = [];
  let bestI = 0;
  let bestJ = 0;
  for (let r = 0; r < rounds; r++) {
    const i = mips(c.program, c.logging, "interpreter", c.n);
    const j = mips(c.program, c.logging, "jit", c.n * 5);
    ratios.push(j / i);
    bestI = Math.max(bestI, i);
    bestJ = Math.max(bestJ, j);
  }
  ratios.sort((a, b) => a - b);
  console.log(
    `${c.name.padEnd(32)} interpreter ${bestI.toFixed(0).padStart(4)} MIPS  jit ${bestJ.toFixed(0).padStart(5)} MIPS  ratio ${ratios.map((x) => x.toFixed(2)).join(" / ")} (median ${ratios[ratios.length >> 1].toFixed(2)})`,
  );
}
const gi = await guestMs("interpreter");
const gj = await guestMs("jit");
console.log(
  `memtouch guest (virt machine)    interpreter ${gi.ms.toFixed(0)} ms  jit ${gj.ms.toFixed(0)} ms  ratio ${(gi.ms / gj.ms).toFixed(2)}  (${(gi.instructions / 1e6).toFixed(1)} M instructions each: ${gi.instructions === gj.instructions ? "equal" : "DIFFERENT"})`,
);
const cc = compileCost();
console.log(
  `compile cost                     ${cc.usPerBlock.toFixed(1)} µs per block, ${cc.usPerInstr.toFixed(2)} µs per instruction (${cc.blocks} blocks, mean ${cc.meanLen.toFixed(1)} instructions)`,
);
