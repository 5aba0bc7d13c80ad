import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createAddressSpace, createRamBackend } from "@ferry/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ElfError, loadElf, parseElf } from "../src/index";

const elfPath = fileURLToPath(
  new URL("../../../examples/guests/isa-tests/rv32ui.elf", import.meta.url),
);
const valid = new Uint8Array(readFileSync(elfPath));

function ram(base = 0x80000000, size = 1 << 20) {
  const memory = createAddressSpace();
  memory.addRam({ name: "ram", base, size, backend: createRamBackend("array", size) });
  return memory;
}

function patched(edit: (b: Uint8Array, dv: DataView) => void): Uint8Array {
  const b = valid.slice();
  edit(b, new DataView(b.buffer));
  return b;
}

describe("parseElf", () => {
  it("reads the entry, PT_LOAD segments and symbols of a real ELF", () => {
    const img = parseElf(valid);
    expect(img.entry).toBe(0x80000000);
    expect(img.symbols.get("_start")).toBe(0x80000000);
    expect(img.symbols.get("tohost")).toBe(0x80001000);
    expect(img.symbols.has("fromhost")).toBe(true);
    expect(img.segments.length).toBeGreaterThan(0);
    for (const s of img.segments) {
      expect(s.memsz).toBeGreaterThanOrEqual(s.filesz);
      expect(s.paddr).toBeGreaterThanOrEqual(0x80000000);
    }
  });

  it("gives clear errors for wrong class, endianness, machine, type and truncation", () => {
    expect(() => parseElf(patched((b) => (b[4] = 2)))).toThrow(/ELFCLASS32.*ELF64/);
    expect(() => parseElf(patched((b) => (b[5] = 2)))).toThrow(/little-endian.*big-endian/);
    expect(() => parseElf(patched((_, dv) => dv.setUint16(18, 62, true)))).toThrow(
      /EM_RISCV \(243\), found 62/,
    );
    expect(() => parseElf(patched((_, dv) => dv.setUint16(16, 3, true)))).toThrow(/ET_EXEC/);
    expect(() => parseElf(patched((b) => (b[0] = 0)))).toThrow(/magic/);
    expect(() => parseElf(valid.subarray(0, 40))).toThrow(/truncated/);
    expect(() => parseElf(valid.subarray(0, 0x1010))).toThrow(ElfError);
  });

  it("never throws anything but ElfError for corrupted or truncated input", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
          maxLength: 12,
        }),
        fc.nat(valid.length),
        fc.boolean(),
        (edits, cut, truncate) => {
          const b = valid.slice(0, truncate ? cut : valid.length);
          // bias corruption towards the headers, where it matters most
          for (const [pos, v] of edits) b[pos % Math.min(b.length || 1, pos % 2 ? 64 : 4096)] = v;
          try {
            const img = parseElf(b);
            loadElf(ram(), b);
            expect(img.segments.length).toBeGreaterThan(0);
          } catch (e) {
            if (!(e instanceof ElfError)) throw e;
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe("loadElf", () => {
  it("copies segments into RAM and zero-fills memsz beyond filesz", () => {
    const memory = ram();
    memory.writeBytes(0x80003000, new Uint8Array(64).fill(0xee));
    const img = loadElf(memory, valid);
    for (const s of img.segments) {
      const out = new Uint8Array(s.filesz);
      memory.readBytes(s.paddr, out);
      expect(out).toEqual(valid.subarray(s.offset, s.offset + s.filesz));
    }
    const first = new Uint8Array(4);
    memory.readBytes(0x80000000, first);
    expect(Array.from(first)).toEqual(Array.from(valid.subarray(0x1000, 0x1004)));
  });

  it("zero-fills a .bss-like tail", () => {
    const b = patched((bytes, dv) => {
      const phoff = dv.getUint32(28, true);
      // grow memsz of the first segment by 16 bytes
      dv.setUint32(phoff + 20, dv.getUint32(phoff + 20, true) + 16, true);
      void bytes;
    });
    const img = parseElf(b);
    const s = img.segments[0];
    const memory = ram();
    memory.writeBytes(s.paddr + s.filesz, new Uint8Array(16).fill(0xaa));
    loadElf(memory, b);
    const tail = new Uint8Array(16);
    memory.readBytes(s.paddr + s.filesz, tail);
    expect(Array.from(tail)).toEqual(new Array(16).fill(0));
  });

  it("refuses an entry point outside every RAM/ROM region, before writing anything", () => {
    const outside = patched((_, dv) => dv.setUint32(24, 0x10000000, true)); // e_entry
    const memory = ram();
    expect(() => loadElf(memory, outside)).toThrow(
      /entry point 0x10000000 is outside every RAM\/ROM region \(nothing mapped there\)/,
    );
    const first = new Uint8Array(4);
    memory.readBytes(0x80000000, first);
    expect(Array.from(first)).toEqual([0, 0, 0, 0]);
    // an entry inside RAM but outside the loaded segments is fine (RAM is zero there)
    const inRam = patched((_, dv) => dv.setUint32(24, 0x80080000, true));
    expect(loadElf(ram(), inRam).entry).toBe(0x80080000);
  });

  it("rejects segments outside guest RAM", () => {
    expect(() => loadElf(ram(0x40000000, 1 << 20), valid)).toThrow(/not inside one guest RAM/);
    expect(() => loadElf(ram(0x80000000, 8192), valid)).toThrow(ElfError);
  });
});
