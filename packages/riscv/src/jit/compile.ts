/**
 * The block compiler: turns the guest instructions at one offset of a hart's fast RAM region into
 * a JavaScript function (`new Function`) that executes them exactly as the interpreter would.
 *
 * A block is a straight run of instructions inside one 4 KiB page. It ends after a branch or
 * jump, before an instruction the compiler leaves to the interpreter (CSR access, ECALL, EBREAK,
 * MRET, WFI, LR/SC/AMO, illegal, a branch or JAL to a misaligned target), at the end of the page,
 * or after {@link MAX_BLOCK_LEN} instructions. Guest registers live in JS locals for the whole
 * block and are written back at every exit. A block whose final branch or jump goes back to its
 * own first instruction is a loop: it iterates inside the function, checking the instruction
 * budget at every back edge.
 *
 * Exactness: the function is entered only when the whole block fits in the remaining budget
 * (`n + len <= max`); it returns the run's executed-instruction count at its exit, so every exit
 * (slow memory path, MMIO, trap, tohost, store into its own code) happens at the same instruction
 * count as in the interpreter. Loads and stores outside the fast region, or misaligned, leave the
 * block through the hart's own slow paths (`loadSlow`, `storeSlow`), after one instruction.
 */
import { Cause } from "../csr";
import { decodeInto, Op, ZERO_SINK } from "../decode";
import { mulh, mulhsu, mulhu } from "../mul";
import { trap } from "../trap";

/** Longest block, in instructions. */
export const MAX_BLOCK_LEN = 128;

/** What a compiled block function runs on: the hart and its fast region's views. */
export interface BlockContext {
  /** The hart (its internal members `x`, `pc`, `csr`, `logging`, slow paths, …). */
  readonly hart: unknown;
  readonly x: Int32Array;
  readonly m8: Uint8Array;
  readonly s8: Int8Array;
  readonly m16: Uint16Array;
  readonly s16: Int16Array;
  readonly m32: Int32Array;
  /** The fast region's dirty-log words. */
  readonly dirtyWords: Uint32Array;
  /** Per page: nonzero when the page holds compiled code of this hart. */
  readonly codePages: Uint8Array;
  /** Per page: code generation, bumped by compiled stores into a code page. */
  readonly codeGen: Uint32Array;
  /** Base address (unsigned) and size of the fast region. */
  readonly base: number;
  readonly size: number;
  /** Offset of the watched tohost word in the region, or -1. */
  readonly tohostOff: number;
}

/** A compiled block (or a marker that the instruction at `off` is left to the interpreter). */
export interface CompiledBlock {
  /** Run the block with `n` instructions already executed in this run; returns the new count. */
  readonly run: ((n: number, max: number) => number) | null;
  /** Region offset of the first instruction. */
  readonly off: number;
  /** Instructions per pass (0: not compiled, interpret one instruction). */
  readonly len: number;
  /** The instruction words it was compiled from (`len` words; 1 when not compiled). */
  readonly words: Int32Array;
  /** True when some instruction in it can write memory (stores; for uncompiled: AMO/SC). */
  readonly writes: boolean;
  /** True when the block loops inside its function. */
  readonly loop: boolean;
  /** Code generation of its page when last validated. */
  gen: number;
  /** Engine epoch when last validated. */
  epoch: number;
  /** Chaining: up to two blocks that followed this one, with their start pcs (see the engine). */
  link0: CompiledBlock | null;
  link0Pc: number;
  link1: CompiledBlock | null;
  link1Pc: number;
}

type BlockFactory = (
  h: unknown,
  x: Int32Array,
  m8: Uint8Array,
  s8: Int8Array,
  m16: Uint16Array,
  s16: Int16Array,
  m32: Int32Array,
  dw: Uint32Array,
  cp: Uint8Array,
  gen: Uint32Array,
  trap: (c: unknown, cause: number, tval: number, pc: number) => number,
  mulh: (a: number, b: number) => number,
  mulhsu: (a: number, b: number) => number,
  mulhu: (a: number, b: number) => number,
) => (n: number, max: number) => number;

const FACTORY_PARAMS = [
  "h",
  "x",
  "m8",
  "s8",
  "m16",
  "s16",
  "m32",
  "dw",
  "cp",
  "gen",
  "trap",
  "mulh",
  "mulhsu",
  "mulhu",
];

/** Ops the compiler translates. */
function compilable(op: number): boolean {
  return (op >= Op.LUI && op <= Op.FENCE) || (op >= Op.MUL && op <= Op.REMU);
}

function isStore(op: number): boolean {
  return op === Op.SB || op === Op.SH || op === Op.SW;
}

function isTerminator(op: number): boolean {
  return op >= Op.JAL && op <= Op.BGEU;
}

const scratch = new Int32Array(4);

/** Statistics of the compiler (for benchmarks and docs). */
export interface CompileStats {
  blocks: number;
  instructions: number;
}

/**
 * Compile the block at region offset `off` (4-byte aligned, inside the region). Pure function of
 * the words in memory and the context's constants.
 */
export function compileBlock(ctx: BlockContext, off: number, stats: CompileStats): CompiledBlock {
  const m32 = ctx.m32;
  const pageEnd = (off | 4095) + 1;
  const ops: number[] = [];
  const rds: number[] = [];
  const rs1s: number[] = [];
  const rs2s: number[] = [];
  const imms: number[] = [];
  const words: number[] = [];
  const startPc = (ctx.base + off) | 0;
  for (let o = off; o < pageEnd && ops.length < MAX_BLOCK_LEN; o += 4) {
    const w = m32[o >>> 2];
    decodeInto(scratch, 0, w);
    const op = scratch[1];
    const regs = scratch[2];
    const imm = scratch[3];
    if (!compilable(op)) break;
    const pc = (ctx.base + o) | 0;
    if (op === Op.JAL || (op >= Op.BEQ && op <= Op.BGEU)) {
      if ((((pc + imm) | 0) & 3) !== 0) break; // misaligned target: the interpreter traps
    }
    ops.push(op);
    rds.push(regs & 0xff);
    rs1s.push((regs >>> 8) & 0xff);
    rs2s.push(regs >>> 16);
    imms.push(imm);
    words.push(w);
    if (isTerminator(op)) break;
  }
  const len = ops.length;
  if (len === 0) {
    decodeInto(scratch, 0, m32[off >>> 2]);
    const op = scratch[1];
    return {
      run: null,
      off,
      len: 0,
      words: Int32Array.of(m32[off >>> 2]),
      writes: op >= Op.SC && op <= Op.AMOMAXU,
      loop: false,
      gen: 0,
      epoch: 0,
      link0: null,
      link0Pc: 0,
      link1: null,
      link1Pc: 0,
    };
  }

  // Registers used (loaded into locals at entry) and written (stored back at every exit).
  const used = new Set<number>();
  const written = new Set<number>();
  const readsRs2 = (op: number) =>
    (op >= Op.BEQ && op <= Op.BGEU) ||
    isStore(op) ||
    (op >= Op.ADD && op <= Op.AND) ||
    op >= Op.MUL;
  const readsRs1 = (op: number) =>
    op !== Op.LUI && op !== Op.AUIPC && op !== Op.JAL && op !== Op.FENCE;
  for (let i = 0; i < len; i++) {
    const op = ops[i];
    if (readsRs1(op) && rs1s[i] !== 0) used.add(rs1s[i]);
    if (readsRs2(op) && rs2s[i] !== 0) used.add(rs2s[i]);
    const writesRd =
      !(op >= Op.BEQ && op <= Op.BGEU) && !isStore(op) && op !== Op.FENCE && rds[i] !== ZERO_SINK;
    if (writesRd) {
      used.add(rds[i]);
      written.add(rds[i]);
    }
  }
  const reg = (r: number) => (r === 0 ? "0" : `r${r}`);
  const wb = [...written].map((r) => `x[${r}]=r${r};`).join("");
  const lastOp = ops[len - 1];
  const lastPc = (startPc + 4 * (len - 1)) | 0;
  const loopTarget =
    lastOp === Op.JAL || (lastOp >= Op.BEQ && lastOp <= Op.BGEU)
      ? (lastPc + imms[len - 1]) | 0
      : null;
  const loop = loopTarget === startPc;
  const hasStores = ops.some(isStore);
  const watch = ctx.tohostOff;
  const blockBytes = 4 * len;

  const body: string[] = [];
  const exitAt = (i: number, pcExpr: string) => `{${wb}h.pc=${pcExpr};return n+${i + 1};}`;
  for (let i = 0; i < len; i++) {
    const op = ops[i];
    const pc = (startPc + 4 * i) | 0;
    const next = (pc + 4) | 0;
    const rdw = rds[i] === ZERO_SINK ? null : `r${rds[i]}`;
    const a = reg(rs1s[i]);
    const b = reg(rs2s[i]);
    const imm = imms[i];
    const set = (expr: string) => (rdw === null ? "" : `${rdw}=${expr};`);
    const slowLoad = (size: number, kind: number) =>
      `{${wb}h.executed=n+${i + 1};h.pc=h.loadSlow(${pc},a,${size},${kind},${rds[i]});return n+${i + 1};}`;
    const slowStore = (size: number) =>
      `{${wb}h.executed=n+${i + 1};h.pc=h.storeSlow(${pc},a,${size},${b});return n+${i + 1};}`;
    const afterStore = (tohostExpr: string, tohostCond: string) => {
      // First store to a clean page: the dirty tracker is told (as the interpreter does); a full
      // dirty ring ends the block after this instruction (code invalidation still applies).
      let s = `if(lg&&(dw[o>>>17]&(1<<((o>>>12)&31)))===0&&h.dirtied(o)){if(cp[o>>>12]!==0)gen[o>>>12]++;${exitAt(i, `${next}`)}}`;
      if (watch >= 0) s += `if(${tohostCond}&&h.tohostStore(${tohostExpr}))${exitAt(i, `${next}`)}`;
      s += `if(cp[o>>>12]!==0){gen[o>>>12]++;if(((o-${off})>>>0)<${blockBytes})${exitAt(i, `${next}`)}}`;
      return s;
    };
    const addr = `a=(${a}+${imm})|0;o=(a-${ctx.base})>>>0;`;
    const branch = (cond: string) => {
      const t = (pc + imm) | 0;
      if (loop && i === len - 1) {
        return `if(${cond}){n+=${len};if(n+${len}>max){${wb}h.pc=${startPc};return n;}continue;}${wb}h.pc=${next};return n+${len};`;
      }
      return `${wb}h.pc=(${cond})?${t}:${next};return n+${len};`;
    };
    switch (op) {
      case Op.LUI:
        body.push(set(`${imm}`));
        break;
      case Op.AUIPC:
        body.push(set(`${(pc + imm) | 0}`));
        break;
      case Op.JAL: {
        const t = (pc + imm) | 0;
        body.push(set(`${next}`));
        if (loop) body.push(`n+=${len};if(n+${len}>max){${wb}h.pc=${startPc};return n;}continue;`);
        else body.push(`${wb}h.pc=${t};return n+${len};`);
        break;
      }
      case Op.JALR:
        body.push(
          `t=((${a}+${imm})|0)&-2;if((t&3)!==0){${wb}h.pc=trap(h.csr,${Cause.InstructionMisaligned},t,${pc});return n+${i + 1};}`,
        );
        body.push(set(`${next}`));
        body.push(`${wb}h.pc=t;return n+${len};`);
        break;
      case Op.BEQ:
        body.push(branch(`${a}===${b}`));
        break;
      case Op.BNE:
        body.push(branch(`${a}!==${b}`));
        break;
      case Op.BLT:
        body.push(branch(`${a}<${b}`));
        break;
      case Op.BGE:
        body.push(branch(`${a}>=${b}`));
        break;
      case Op.BLTU:
        body.push(branch(`(${a}>>>0)<(${b}>>>0)`));
        break;
      case Op.BGEU:
        body.push(branch(`(${a}>>>0)>=(${b}>>>0)`));
        break;
      case Op.LB:
        body.push(`${addr}if(o<${ctx.size}){${set("s8[o]")}}else${slowLoad(1, 0)}`);
        break;
      case Op.LBU:
        body.push(`${addr}if(o<${ctx.size}){${set("m8[o]")}}else${slowLoad(1, 1)}`);
        break;
      case Op.LH:
        body.push(`${addr}if(o<${ctx.size}&&(o&1)===0){${set("s16[o>>>1]")}}else${slowLoad(2, 0)}`);
        break;
      case Op.LHU:
        body.push(`${addr}if(o<${ctx.size}&&(o&1)===0){${set("m16[o>>>1]")}}else${slowLoad(2, 1)}`);
        break;
      case Op.LW:
        body.push(`${addr}if(o<${ctx.size}&&(o&3)===0){${set("m32[o>>>2]")}}else${slowLoad(4, 0)}`);
        break;
      case Op.SB:
        body.push(
          `${addr}if(o<${ctx.size}){m8[o]=${b};${afterStore("m32[o>>>2]", `(o&-4)===${watch}`)}}else${slowStore(1)}`,
        );
        break;
      case Op.SH:
        body.push(
          `${addr}if(o<${ctx.size}&&(o&1)===0){m16[o>>>1]=${b};${afterStore("m32[o>>>2]", `(o&-4)===${watch}`)}}else${slowStore(2)}`,
        );
        break;
      case Op.SW:
        body.push(
          `${addr}if(o<${ctx.size}&&(o&3)===0){m32[o>>>2]=${b};${afterStore(b, `o===${watch}`)}}else${slowStore(4)}`,
        );
        break;
      case Op.ADDI:
        body.push(set(`(${a}+${imm})|0`));
        break;
      case Op.SLTI:
        body.push(set(`${a}<${imm}?1:0`));
        break;
      case Op.SLTIU:
        body.push(set(`(${a}>>>0)<${imm >>> 0}?1:0`));
        break;
      case Op.XORI:
        body.push(set(`${a}^${imm}`));
        break;
      case Op.ORI:
        body.push(set(`${a}|${imm}`));
        break;
      case Op.ANDI:
        body.push(set(`${a}&${imm}`));
        break;
      case Op.SLLI:
        body.push(set(`${a}<<${imm}`));
        break;
      case Op.SRLI:
        body.push(set(`(${a}>>>${imm})|0`));
        break;
      case Op.SRAI:
        body.push(set(`${a}>>${imm}`));
        break;
      case Op.ADD:
        body.push(set(`(${a}+${b})|0`));
        break;
      case Op.SUB:
        body.push(set(`(${a}-${b})|0`));
        break;
      case Op.SLL:
        body.push(set(`${a}<<${b}`));
        break;
      case Op.SLT:
        body.push(set(`${a}<${b}?1:0`));
        break;
      case Op.SLTU:
        body.push(set(`(${a}>>>0)<(${b}>>>0)?1:0`));
        break;
      case Op.XOR:
        body.push(set(`${a}^${b}`));
        break;
      case Op.SRL:
        body.push(set(`(${a}>>>${b})|0`));
        break;
      case Op.SRA:
        body.push(set(`${a}>>${b}`));
        break;
      case Op.OR:
        body.push(set(`${a}|${b}`));
        break;
      case Op.AND:
        body.push(set(`${a}&${b}`));
        break;
      case Op.FENCE:
        break;
      case Op.MUL:
        body.push(set(`Math.imul(${a},${b})`));
        break;
      case Op.MULH:
        body.push(set(`mulh(${a},${b})`));
        break;
      case Op.MULHSU:
        body.push(set(`mulhsu(${a},${b})`));
        break;
      case Op.MULHU:
        body.push(set(`mulhu(${a},${b})`));
        break;
      case Op.DIV:
        body.push(`t=${b};${set(`t===0?-1:(${a}/t)|0`)}`);
        break;
      case Op.DIVU:
        body.push(`t=${b}>>>0;${set(`t===0?-1:((${a}>>>0)/t)|0`)}`);
        break;
      case Op.REM:
        body.push(`t=${b};${set(`t===0?${a}:(${a}%t)|0`)}`);
        break;
      default: // Op.REMU
        body.push(`t=${b}>>>0;${set(`t===0?${a}:((${a}>>>0)%t)|0`)}`);
        break;
    }
  }
  if (!isTerminator(lastOp)) body.push(`${wb}h.pc=${(startPc + blockBytes) | 0};return n+${len};`);

  const locals = [...used].map((r) => `r${r}=x[${r}]`);
  locals.push("a=0", "o=0", "t=0");
  const head = `let ${locals.join(",")};${hasStores ? "const lg=h.logging;" : ""}`;
  const src = loop
    ? `return function blk(n,max){${head}for(;;){${body.join("")}}};`
    : `return function blk(n,max){${head}${body.join("")}};`;
  const factory = new Function(...FACTORY_PARAMS, src) as BlockFactory;
  const run = factory(
    ctx.hart,
    ctx.x,
    ctx.m8,
    ctx.s8,
    ctx.m16,
    ctx.s16,
    ctx.m32,
    ctx.dirtyWords,
    ctx.codePages,
    ctx.codeGen,
    trap as (c: unknown, cause: number, tval: number, pc: number) => number,
    mulh,
    mulhsu,
    mulhu,
  );
  stats.blocks++;
  stats.instructions += len;
  return {
    run,
    off,
    len,
    words: Int32Array.from(words),
    writes: hasStores,
    loop,
    gen: 0,
    epoch: 0,
    link0: null,
    link0Pc: 0,
    link1: null,
    link1Pc: 0,
  };
}
