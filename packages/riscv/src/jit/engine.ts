/**
 * The block engine (`cpu-engine: jit`) of one hart: a per-physical-page cache of compiled blocks
 * (see `compile.ts`), their validation, and the dispatch loop that runs them and steps the
 * interpreter for everything else.
 *
 * Invalidation. Every block remembers the instruction words it was compiled from. It is
 * re-validated (its words compared with memory, and recompiled when they differ) on its first
 * entry after anything outside this engine could have written memory: at every run start (other
 * harts, the ELF loader, `writeBytes`, a migration's page loads all happen between runs of this
 * hart) and after every instruction the interpreter stepped that can store (stores, SC, AMOs).
 * Within a run, compiled stores bump a per-page code generation counter when they hit a page
 * holding compiled code, so the blocks of that page are re-validated at their next entry, and a
 * store into the running block's own instructions ends the block right after the store.
 *
 * Address translation: blocks are compiled for physical addresses. While the hart translates
 * (`translating()`, Sv32), the engine hands the interpreter (which applies translation and its
 * TLBs) chunks of up to {@link TRANSLATED_CHUNK} instructions, and checks again after each.
 *
 * A write the compiled code cannot see (the firmware's byte-wise emulation of a misaligned
 * store, reached through `storeSlow`) calls {@link BlockEngine.noteWrite}, which makes every
 * block re-validate at its next entry.
 */
import type { RiscvHart } from "../hart";
import { type BlockContext, type CompiledBlock, type CompileStats, compileBlock } from "./compile";

/** The block engine of one hart. */
export interface BlockEngine {
  /**
   * Execute from the hart's pc with `max` instructions of budget, exactly as the interpreter
   * would; returns the instructions executed (the run's prologue and epilogue are the hart's).
   */
  execute(max: number): number;
  /** Drop every compiled block. */
  flush(): void;
  /** Memory was written behind the compiled code: re-validate every block at its next entry. */
  noteWrite(): void;
  /** Blocks and instructions compiled so far. */
  readonly stats: CompileStats;
}

/**
 * Instructions interpreted per step while the hart translates addresses (the interpreter keeps
 * going for the rest of a chunk if translation turns off inside it, which is exact, just slower).
 */
export const TRANSLATED_CHUNK = 1024;

/**
 * Make the block engine of hart `h` (created by the hart when `engine` is `jit`), keeping at most
 * `maxBlocks` compiled blocks (the whole cache starts over when full).
 */
export function createBlockEngine(h: RiscvHart, maxBlocks: number): BlockEngine {
  const stats: CompileStats = { blocks: 0, instructions: 0 };
  let boundM32: Int32Array | null = null;
  let ctx: BlockContext | null = null;
  let pages: (CompiledBlock | undefined)[][] = [];
  let codePages = new Uint8Array(0);
  let codeGen = new Uint32Array(0);
  let count = 0;
  let epoch = 0;

  function bind(): BlockContext {
    boundM32 = h.m32;
    const pageCount = Math.ceil(h.fastSize / 4096);
    pages = new Array(pageCount);
    codePages = new Uint8Array(pageCount);
    codeGen = new Uint32Array(pageCount);
    count = 0;
    ctx = {
      hart: h,
      x: h.x,
      m8: h.m8,
      s8: h.s8,
      m16: h.m16,
      s16: h.s16,
      m32: h.m32,
      dirtyWords: h.dirtyWords,
      codePages,
      codeGen,
      base: h.fastBase,
      size: h.fastSize,
      tohostOff: h.tohostOff,
    };
    return ctx;
  }

  function flush(): void {
    boundM32 = null;
    ctx = null;
  }

  function compileAt(off: number): CompiledBlock {
    // A full cache starts over: new code-page and generation arrays, so every block compiled
    // from here on bumps the arrays the engine checks.
    const c = count >= maxBlocks || ctx === null ? bind() : ctx;
    const b = compileBlock(c, off, stats);
    const pg = off >>> 12;
    let list = pages[pg];
    if (list === undefined) {
      list = new Array(1024);
      pages[pg] = list;
    }
    list[(off >>> 2) & 1023] = b;
    codePages[pg] = 1;
    b.gen = codeGen[pg];
    b.epoch = epoch;
    count++;
    return b;
  }

  /** True when the block's words are still those in memory. */
  function valid(b: CompiledBlock, m32: Int32Array): boolean {
    const w = b.words;
    const at = b.off >>> 2;
    for (let i = 0; i < w.length; i++) if (m32[at + i] !== w[i]) return false;
    return true;
  }

  function execute(max: number): number {
    let c = ctx;
    if (c === null || boundM32 !== h.m32 || c.dirtyWords !== h.dirtyWords) c = bind();
    epoch++;
    const m32 = c.m32;
    const base = c.base;
    const size = c.size;
    let n = 0;
    // Chaining: the block that ran last and the links it keeps to the blocks that followed it.
    let prev: CompiledBlock | null = null;
    while (n < max && !h.stop) {
      const pc = h.pc;
      const off = (pc - base) >>> 0;
      if (h.translating()) {
        n = h.interpret(n, Math.min(max, n + TRANSLATED_CHUNK));
        epoch++;
        prev = null;
        continue;
      }
      if (off >= size || (off & 3) !== 0) {
        n = h.interpret(n, n + 1);
        epoch++;
        prev = null;
        continue;
      }
      const pg = off >>> 12;
      let b: CompiledBlock | undefined;
      if (prev !== null && prev.link0 !== null && prev.link0Pc === pc) b = prev.link0;
      else if (prev !== null && prev.link1 !== null && prev.link1Pc === pc) b = prev.link1;
      else {
        const list = pages[pg];
        b = list === undefined ? undefined : list[(off >>> 2) & 1023];
        if (b === undefined) b = compileAt(off);
      }
      if (ctx !== c) {
        // the cache started over while compiling: links into the old cache are gone
        c = ctx as BlockContext;
        prev = null;
      }
      if (b.epoch !== epoch || b.gen !== codeGen[pg]) {
        if (valid(b, m32)) {
          b.epoch = epoch;
          b.gen = codeGen[pg];
        } else b = compileAt(off);
      }
      if (prev !== null) {
        if (prev.link0 === null || prev.link0Pc === pc) {
          prev.link0 = b;
          prev.link0Pc = pc;
        } else if (prev.link1 !== b) {
          prev.link1 = b;
          prev.link1Pc = pc;
        }
      }
      const run = b.run;
      if (run === null || n + b.len > max) {
        n = h.interpret(n, n + 1);
        if (b.writes) epoch++;
        prev = null;
        continue;
      }
      n = run(n, max);
      prev = b;
    }
    return n;
  }

  return {
    execute,
    flush,
    noteWrite() {
      epoch++;
    },
    get stats() {
      return stats;
    },
  };
}
