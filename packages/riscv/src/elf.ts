/**
 * ELF32 little-endian RISC-V executable parser and loader (what QEMU's `-kernel` / `-bios`
 * loaders accept for bare-metal RV32 guests).
 */
import type { AddressSpace } from "@ferry/core";

/** One PT_LOAD segment. */
export interface ElfSegment {
  /** Physical load address. */
  readonly paddr: number;
  /** Virtual address (equal to paddr for bare-metal images). */
  readonly vaddr: number;
  /** Bytes present in the file. */
  readonly filesz: number;
  /** Bytes in memory (the rest after `filesz` is zero-filled). */
  readonly memsz: number;
  /** p_flags (PF_X = 1, PF_W = 2, PF_R = 4). */
  readonly flags: number;
  /** Offset of the segment's bytes in the file. */
  readonly offset: number;
}

/** A parsed executable. */
export interface ElfImage {
  /** Entry point address. */
  readonly entry: number;
  readonly segments: readonly ElfSegment[];
  /** Symbol name -> value, from `.symtab` (first definition wins; empty names skipped). */
  readonly symbols: Map<string, number>;
}

/** Thrown for a malformed or unsupported ELF file. */
export class ElfError extends Error {
  constructor(message: string) {
    super(`ELF: ${message}`);
    this.name = "ElfError";
  }
}

const EM_RISCV = 243;
const ET_EXEC = 2;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;

const hex = (v: number): string => `0x${v.toString(16)}`;

/**
 * Largest ELF file accepted (64 MiB). Callers reading a file should check its size against this
 * before reading it; {@link parseElf} refuses larger inputs too.
 */
export const MAX_ELF_BYTES = 64 * 1024 * 1024;

/** Parse an ELF32 RISC-V executable. Throws {@link ElfError} for anything else. */
export function parseElf(bytes: Uint8Array): ElfImage {
  if (!(bytes instanceof Uint8Array)) throw new ElfError("expected the file as a Uint8Array");
  const len = bytes.length;
  if (len > MAX_ELF_BYTES) {
    throw new ElfError(`file is ${len} bytes, above the limit of ${MAX_ELF_BYTES} bytes`);
  }
  if (len < 16) throw new ElfError(`file is ${len} bytes, too short for an ELF identification`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError("bad magic: expected 7f 45 4c 46 (\\x7fELF)");
  }
  if (bytes[4] !== 1) {
    throw new ElfError(
      `wrong class: expected ELFCLASS32 (1), found ${bytes[4]}${bytes[4] === 2 ? " (ELF64)" : ""}`,
    );
  }
  if (bytes[5] !== 1) {
    throw new ElfError(
      `wrong data encoding: expected little-endian (1), found ${bytes[5]}${bytes[5] === 2 ? " (big-endian)" : ""}`,
    );
  }
  if (len < 52) throw new ElfError(`truncated: ELF32 header needs 52 bytes, file has ${len}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number): number => dv.getUint16(o, true);
  const u32 = (o: number): number => dv.getUint32(o, true);
  const type = u16(16);
  if (type !== ET_EXEC) throw new ElfError(`wrong type: expected ET_EXEC (2), found ${type}`);
  const machine = u16(18);
  if (machine !== EM_RISCV) {
    throw new ElfError(`wrong machine: expected EM_RISCV (243), found ${machine}`);
  }
  const entry = u32(24);
  const phoff = u32(28);
  const shoff = u32(32);
  const phentsize = u16(42);
  const phnum = u16(44);
  const shentsize = u16(46);
  const shnum = u16(48);

  const segments: ElfSegment[] = [];
  if (phnum > 0) {
    if (phentsize < 32) throw new ElfError(`program header entry size ${phentsize} < 32`);
    if (phoff + phnum * phentsize > len) {
      throw new ElfError(
        `truncated: ${phnum} program headers at offset ${phoff} need ${phoff + phnum * phentsize} bytes, file has ${len}`,
      );
    }
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (u32(o) !== PT_LOAD) continue;
      const offset = u32(o + 4);
      const vaddr = u32(o + 8);
      const paddr = u32(o + 12);
      const filesz = u32(o + 16);
      const memsz = u32(o + 20);
      const flags = u32(o + 24);
      if (offset + filesz > len) {
        throw new ElfError(
          `segment ${i}: file bytes [${offset}, ${offset + filesz}) run past the end of the file (${len} bytes)`,
        );
      }
      if (memsz < filesz) {
        throw new ElfError(`segment ${i}: memsz ${memsz} is smaller than filesz ${filesz}`);
      }
      if (paddr + memsz > 0x100000000) {
        throw new ElfError(
          `segment ${i}: [${hex(paddr)}, +${memsz}) exceeds the 32-bit address space`,
        );
      }
      segments.push({ paddr, vaddr, filesz, memsz, flags, offset });
    }
  }
  if (segments.length === 0) throw new ElfError("no PT_LOAD segments: nothing to load");

  const symbols = new Map<string, number>();
  if (shnum > 0 && shoff !== 0) {
    if (shentsize < 40) throw new ElfError(`section header entry size ${shentsize} < 40`);
    if (shoff + shnum * shentsize > len) {
      throw new ElfError(
        `truncated: ${shnum} section headers at offset ${shoff} need ${shoff + shnum * shentsize} bytes, file has ${len}`,
      );
    }
    for (let i = 0; i < shnum; i++) {
      const sh = shoff + i * shentsize;
      if (u32(sh + 4) !== SHT_SYMTAB) continue;
      const symOff = u32(sh + 16);
      const symSize = u32(sh + 20);
      const link = u32(sh + 24);
      const entsize = u32(sh + 36) || 16;
      if (entsize < 16) throw new ElfError(`symbol table entry size ${entsize} < 16`);
      if (symOff + symSize > len) {
        throw new ElfError(
          `truncated: symbol table [${symOff}, ${symOff + symSize}) past end of file`,
        );
      }
      if (link >= shnum) throw new ElfError(`symbol table links to section ${link} of ${shnum}`);
      const strSh = shoff + link * shentsize;
      const strOff = u32(strSh + 16);
      const strSize = u32(strSh + 20);
      if (strOff + strSize > len) {
        throw new ElfError(
          `truncated: string table [${strOff}, ${strOff + strSize}) past end of file`,
        );
      }
      const count = Math.floor(symSize / entsize);
      for (let k = 0; k < count; k++) {
        const so = symOff + k * entsize;
        const nameIdx = u32(so);
        if (nameIdx === 0) continue;
        if (nameIdx >= strSize) {
          throw new ElfError(`symbol ${k}: name offset ${nameIdx} outside the string table`);
        }
        let end = strOff + nameIdx;
        const limit = strOff + strSize;
        while (end < limit && bytes[end] !== 0) end++;
        if (end >= limit) throw new ElfError(`symbol ${k}: unterminated name`);
        let name = "";
        for (let c = strOff + nameIdx; c < end; c++) name += String.fromCharCode(bytes[c]);
        if (!symbols.has(name)) symbols.set(name, u32(so + 4));
      }
    }
  }
  return { entry, segments, symbols };
}

/**
 * Parse `bytes` and copy every PT_LOAD segment into guest RAM at its physical address
 * (`memsz - filesz` bytes zero-filled) with `AddressSpace.writeBytes`. Throws {@link ElfError}
 * (before writing anything) when a segment is not entirely inside one RAM region or when the
 * entry point is outside every RAM/ROM region (the hart could only fault there).
 */
export function loadElf(memory: AddressSpace, bytes: Uint8Array): ElfImage {
  const image = parseElf(bytes);
  for (const [i, s] of image.segments.entries()) {
    if (s.memsz === 0) continue;
    const r = memory.find(s.paddr);
    if (r === undefined || r.kind !== "ram" || s.paddr + s.memsz > r.base + r.size) {
      throw new ElfError(
        `segment ${i} [${hex(s.paddr)}, ${hex(s.paddr + s.memsz)}) is not inside one guest RAM region` +
          (r === undefined ? " (nothing mapped there)" : ` (found region "${r.name}")`),
      );
    }
  }
  const e = memory.find(image.entry);
  if (e === undefined || e.kind !== "ram") {
    throw new ElfError(
      `entry point ${hex(image.entry)} is outside every RAM/ROM region` +
        (e === undefined ? " (nothing mapped there)" : ` (found MMIO region "${e.name}")`),
    );
  }
  for (const s of image.segments) {
    if (s.filesz > 0) memory.writeBytes(s.paddr, bytes.subarray(s.offset, s.offset + s.filesz));
    if (s.memsz > s.filesz)
      memory.writeBytes(s.paddr + s.filesz, new Uint8Array(s.memsz - s.filesz));
  }
  return image;
}
