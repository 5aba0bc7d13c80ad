/**
 * The destination half of the RAM section: parses the RAM records of each chunk (the START's
 * `MEM_SIZE` block list, then page records up to EOS) and applies them straight into the
 * destination's RAM backends through the record registry. Incremental: `parse` consumes every
 * complete record of `buf[pos, end)` and returns where the first incomplete one begins.
 */
import type { MissingPages, RamBackend, VersionedPages } from "@ferry/core";
import { PAGE_SIZE } from "@ferry/core";
import { MAX_RAM_BYTES, RAM_FLAG_MASK, RamFlag, TWO_POW_32 } from "../stream/constants";
import { createRamRecordRegistry, pageRecord, type RamRecordRegistry } from "../stream/records";
import { be32 } from "../stream/be32";

/** A destination RAM block (a core `RamRegion` fits). */
export interface RamBlockTarget {
  readonly name: string;
  readonly size: number;
  readonly backend: RamBackend;
  /**
   * The block's missing-page map (a post-copy destination). While it is armed a page record is
   * placed only where the page is missing, and then marks it arrived; any other is skipped
   * (userfaultfd's `UFFDIO_COPY` refuses a present page), so a late copy never overwrites what
   * the running guest wrote.
   */
  readonly missing?: MissingPages;
}

/** Options of {@link RamLoader}. */
export interface RamLoaderOptions {
  /** Destination RAM blocks; the stream's block list must match them exactly (names and sizes). */
  readonly blocks: readonly RamBlockTarget[];
  /** Known RAM record types (default: the base PAGE and ZERO only). */
  readonly records?: RamRecordRegistry;
  /** Accept compact synthetic records (`RamFlag.COMPACT`). Default false. */
  readonly compact?: boolean;
  /**
   * Called at each multifd sync point (`RamFlag.MULTIFD_FLUSH`); absent = the destination has no
   * multifd channels and a sync point is refused.
   */
  readonly onMultifdFlush?: () => void;
}

/** Throws a `StreamError` at a position of the current parse buffer. */
export type FailAt = (pos: number, what: string) => never;

// Hot-path constants as module locals.
const FLAG_MASK = RAM_FLAG_MASK;
const EOS = RamFlag.EOS;
const CONTINUE = RamFlag.CONTINUE;
const MEM_SIZE = RamFlag.MEM_SIZE;
const PAGE_RUN = RamFlag.PAGE_RUN;
const MULTIFD_FLUSH = RamFlag.MULTIFD_FLUSH;
const COMPACT = RamFlag.COMPACT;
const TYPE_MASK = ~(CONTINUE | COMPACT);
const PS = PAGE_SIZE;
const P32 = TWO_POW_32;

interface BlockSlot {
  readonly target: RamBlockTarget;
  readonly name: Uint8Array;
  readonly bytes: Uint8Array | null;
  /** The backend's versioned pages, when it keeps versions (compact records set them). */
  readonly synthetic: VersionedPages | null;
  listed: boolean;
}

const enum Part {
  /** Expecting the MEM_SIZE record (START chunk). */
  Setup,
  /** Inside the block list. */
  MemList,
  /** Page records up to EOS. */
  Body,
  /** EOS parsed: the chunk is complete. */
  Ended,
}

/** The RAM section loader (one per incoming stream). */
export class RamLoader {
  /** RAM records applied so far. */
  pages = 0;
  private readonly records: RamRecordRegistry;
  private readonly blocks: BlockSlot[];
  private readonly compact: boolean;
  private readonly scratch = new Uint8Array(PAGE_SIZE);
  private readonly fail: FailAt;
  private part = Part.Ended;
  private setupChunk = false;
  private memRemaining = 0;
  private memListDone = false;
  private curBlock: BlockSlot | null = null;
  /** Pages of the current PAGE_RUN record not yet applied (0: not inside a run). */
  private runLeft = 0;
  /** Pages in the current run, and the block offset of its next page. */
  private runPages = 0;
  private runAddr = 0;

  private readonly onMultifdFlush: (() => void) | undefined;

  constructor(options: RamLoaderOptions, fail: FailAt) {
    this.records = options.records ?? createRamRecordRegistry();
    const enc = new TextEncoder();
    this.blocks = options.blocks.map((target) => ({
      target,
      name: enc.encode(target.name),
      bytes: target.backend.bytes,
      synthetic: target.backend.versioned ?? null,
      listed: false,
    }));
    this.compact = options.compact === true;
    this.onMultifdFlush = options.onMultifdFlush;
    this.fail = fail;
  }

  /** A chunk begins: the START (block list) or a PART / END (page records). */
  begin(phase: "start" | "part" | "end"): void {
    this.setupChunk = phase === "start";
    this.part = this.setupChunk ? Part.Setup : Part.Body;
    this.curBlock = null;
    this.runLeft = 0;
  }

  /** True once the current chunk's EOS was parsed. */
  get chunkEnded(): boolean {
    return this.part === Part.Ended;
  }

  /** What the loader waits for (for truncation messages). */
  expecting(): string {
    if (this.part === Part.Setup) return "the MEM_SIZE record";
    if (this.part === Part.MemList) return "a RAM block list entry";
    if (this.runLeft > 0) {
      return `page ${this.runPages - this.runLeft + 1} of a run of ${this.runPages} pages`;
    }
    return "a RAM record or EOS";
  }

  /** Parse the complete items of `buf[pos, end)`; returns the position of the first incomplete one. */
  parse(buf: Uint8Array, pos: number, end: number): number {
    for (;;) {
      if (this.part === Part.MemList) {
        pos = this.parseMemList(buf, pos, end);
        if (this.part === Part.MemList) return pos;
      }
      pos = this.parseRecords(buf, pos, end);
      if ((this.part as Part) !== Part.MemList) return pos;
    }
  }

  private parseMemList(buf: Uint8Array, pos: number, end: number): number {
    while (this.memRemaining > 0) {
      if (end - pos < 1) return pos;
      const len = buf[pos];
      if (len === 0) this.fail(pos, "empty RAM block idstr in the block list");
      if (end - pos < 9 + len) return pos;
      const slot = this.findBlock(buf, pos + 1, len);
      if (slot === null)
        this.fail(pos + 1, `unknown RAM block "${this.nameAt(buf, pos + 1, len)}"`);
      if (slot.listed) this.fail(pos + 1, `RAM block "${slot.target.name}" listed twice`);
      const hi = be32(buf, pos + 1 + len);
      const length = hi * TWO_POW_32 + be32(buf, pos + 5 + len);
      if (length !== slot.target.size) {
        this.fail(
          pos + 1 + len,
          `RAM block "${slot.target.name}" length ${length}, destination has ${slot.target.size}`,
        );
      }
      if (length > this.memRemaining) {
        this.fail(pos + 1 + len, `RAM block lengths exceed the announced total`);
      }
      slot.listed = true;
      this.memRemaining -= length;
      pos += 9 + len;
    }
    for (const b of this.blocks) {
      if (!b.listed)
        this.fail(pos, `destination RAM block "${b.target.name}" missing from the stream`);
    }
    this.part = Part.Body;
    this.memListDone = true;
    return pos;
  }

  private findBlock(buf: Uint8Array, pos: number, len: number): BlockSlot | null {
    const blocks = this.blocks;
    outer: for (let i = 0; i < blocks.length; i++) {
      const name = blocks[i].name;
      if (name.length !== len) continue;
      for (let j = 0; j < len; j++) if (name[j] !== buf[pos + j]) continue outer;
      return blocks[i];
    }
    return null;
  }

  private nameAt(buf: Uint8Array, pos: number, len: number): string {
    return new TextDecoder("utf-8").decode(buf.subarray(pos, pos + len));
  }

  /** RAM records up to EOS. Returns the position of the first incomplete record (or after EOS). */
  private parseRecords(buf: Uint8Array, pos: number, end: number): number {
    const records = this.records;
    for (;;) {
      if (this.runLeft > 0) {
        pos = this.applyRun(buf, pos, end);
        if (this.runLeft > 0) return pos;
      }
      if (end - pos < 8) return pos;
      const hi = be32(buf, pos);
      const lo = be32(buf, pos + 4);
      const flags = lo & FLAG_MASK;
      const addr = hi * P32 + (lo - flags);
      if (flags === EOS) {
        if (addr !== 0) this.fail(pos, `EOS record with non-zero offset ${addr}`);
        if (this.part === Part.Setup) this.fail(pos, "EOS before the MEM_SIZE block list");
        this.part = Part.Ended;
        return pos + 8;
      }
      if (this.part === Part.Setup) {
        if (flags !== MEM_SIZE) {
          this.fail(pos + 4, `expected MEM_SIZE record, found flags 0x${flags.toString(16)}`);
        }
        if (addr > MAX_RAM_BYTES) this.fail(pos, `RAM total ${addr} is too large`);
        this.memRemaining = addr;
        this.part = Part.MemList;
        return pos + 8;
      }
      if (this.setupChunk) {
        this.fail(pos, "RAM page records in the setup section (expected EOS)");
      }
      if (!this.memListDone) this.fail(pos, "RAM page before the block list");
      if (flags === MULTIFD_FLUSH) {
        if (addr !== 0) this.fail(pos, `multifd flush record with non-zero offset ${addr}`);
        const onFlush = this.onMultifdFlush;
        if (onFlush === undefined) {
          this.fail(pos + 4, "multifd sync point, but this destination has no multifd channels");
        }
        onFlush();
        pos += 8;
        continue;
      }
      const run = (flags & TYPE_MASK) === PAGE_RUN;
      // (A run is raw pages: its block and offset are read as a PAGE record's.)
      const rec = run ? pageRecord : records.get(flags & TYPE_MASK);
      if (rec === undefined) {
        this.fail(pos + 4, `unknown RAM record flags 0x${flags.toString(16)}`);
      }
      const compact = (flags & COMPACT) !== 0;
      if (compact && run) {
        this.fail(pos + 4, `a page run cannot be compact (flags 0x${flags.toString(16)})`);
      }
      if (compact && !this.compact) {
        this.fail(
          pos + 4,
          `compact synthetic record (flags 0x${flags.toString(16)}) outside a compact link`,
        );
      }
      let p = pos + 8;
      let slot: BlockSlot | null;
      if ((flags & CONTINUE) !== 0) {
        slot = this.curBlock;
        if (slot === null)
          this.fail(pos + 4, "CONTINUE flag with no previous block in this section");
      } else {
        if (end - p < 1) return pos;
        const len = buf[p];
        if (len === 0) this.fail(p, "empty RAM block idstr");
        if (end - p < 1 + len) return pos;
        slot = this.findBlock(buf, p + 1, len);
        if (slot === null) this.fail(p + 1, `unknown RAM block "${this.nameAt(buf, p + 1, len)}"`);
        p += 1 + len;
      }
      if (addr >= slot.target.size) {
        this.fail(
          pos,
          `page offset ${addr} outside RAM block "${slot.target.name}" of ${slot.target.size} bytes`,
        );
      }
      if (run) {
        if (end - p < 4) return pos;
        pos = this.beginRun(buf, p, slot, addr);
        continue;
      }
      const missing = slot.target.missing ?? null;
      const postcopy = missing?.armed === true;
      const place = !postcopy || missing!.has(addr / PS);
      if (compact) {
        const synthetic = slot.synthetic;
        if (synthetic === null) {
          this.fail(
            pos + 4,
            `compact synthetic record for RAM block "${slot.target.name}", which is not synthetic on the destination (a compact link needs synthetic RAM with the same seed and parameters on both sides)`,
          );
        }
        const n = synthetic.compactBytes;
        if (end - p < n) return pos;
        if (place) {
          try {
            synthetic.readCompact(addr / PS, buf, p);
          } catch (e) {
            return this.fail(p, `bad compact record: ${(e as Error).message}`);
          }
          if (postcopy) missing!.arrived(addr / PS);
        }
        this.curBlock = slot;
        this.pages++;
        pos = p + n;
        continue;
      }
      let plen: number;
      try {
        plen = rec.payloadLength(buf, p, end - p);
      } catch (e) {
        return this.fail(p, `bad ${rec.name} record: ${(e as Error).message}`);
      }
      if (plen < 0 || end - p < plen) return pos;
      if (!place) {
        this.curBlock = slot;
        pos = p + plen;
        continue;
      }
      try {
        const bytes = slot.bytes;
        if (bytes !== null) {
          rec.decode(buf, p, plen, bytes, addr);
        } else {
          const scratch = this.scratch;
          slot.target.backend.read(addr, scratch);
          rec.decode(buf, p, plen, scratch, 0);
          slot.target.backend.write(addr, scratch);
        }
      } catch (e) {
        return this.fail(p, `bad ${rec.name} record: ${(e as Error).message}`);
      }
      this.curBlock = slot;
      this.pages++;
      if (postcopy) missing!.arrived(addr / PS);
      pos = p + plen;
    }
  }

  /**
   * Open the run whose `be32 count` is at `p` (the header and block are checked): the count must
   * be at least 1 and the run inside `slot`. Returns the position of its first page.
   */
  private beginRun(buf: Uint8Array, p: number, slot: BlockSlot, addr: number): number {
    const count = be32(buf, p);
    if (count === 0) this.fail(p, "page run of 0 pages");
    const size = slot.target.size;
    if (count > (size - addr) / PS) {
      this.fail(
        p,
        `page run of ${count} pages at offset ${addr} outside RAM block "${slot.target.name}" of ${size} bytes`,
      );
    }
    this.curBlock = slot;
    this.runLeft = count;
    this.runPages = count;
    this.runAddr = addr;
    return p + 4;
  }

  /**
   * Apply the complete pages of the open run found in `buf[pos, end)` (all of them at once when
   * the block is plain memory and no post-copy map is armed). Returns the position after them.
   */
  private applyRun(buf: Uint8Array, pos: number, end: number): number {
    const n = Math.min(this.runLeft, Math.floor((end - pos) / PS));
    if (n === 0) return pos;
    const slot = this.curBlock!;
    const addr = this.runAddr;
    const missing = slot.target.missing ?? null;
    const bytes = slot.bytes;
    if (bytes !== null && missing?.armed !== true) {
      bytes.set(buf.subarray(pos, pos + n * PS), addr);
      this.pages += n;
    } else {
      // Page by page: a sparse backend, or a post-copy destination (only missing pages placed).
      const postcopy = missing?.armed === true;
      for (let i = 0; i < n; i++) {
        const a = addr + i * PS;
        if (postcopy && !missing!.has(a / PS)) continue;
        const page = buf.subarray(pos + i * PS, pos + (i + 1) * PS);
        if (bytes !== null) bytes.set(page, a);
        else slot.target.backend.write(a, page);
        if (postcopy) missing!.arrived(a / PS);
        this.pages++;
      }
    }
    this.runLeft -= n;
    this.runAddr = addr + n * PS;
    return pos + n * PS;
  }
}
