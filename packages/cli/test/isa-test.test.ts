import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { captureIo, main } from "../src/index";

const isa = (name: string) =>
  fileURLToPath(new URL(`../../../examples/guests/isa-tests/${name}.elf`, import.meta.url));
const ALL = ["rv32ui", "rv32um", "rv32ua", "rv32mi", "rv32si"].map(isa);

describe("ferry isa-test", () => {
  it("runs every committed ISA test ELF to a tohost pass (exit 0)", async () => {
    const io = captureIo();
    expect(await main(["isa-test", ...ALL, "--json"], io)).toBe(0);
    const doc = JSON.parse(io.stdout());
    expect(doc.status).toBe("pass");
    expect(doc.passed).toBe(5);
    for (const r of doc.results) {
      expect(r.status).toBe("pass");
      expect(r.testNumber).toBe(0);
      expect(r.instructions).toBeGreaterThan(100);
    }
  });

  it("reports a failing test number (exit 1)", async () => {
    // rv32ui with its first instructions replaced by a program that reports "test 5 failed":
    // it writes (5 << 1) | 1 to tohost.
    const { readFileSync } = await import("node:fs");
    const { parseElf } = await import("@ferry/riscv");
    const bytes = new Uint8Array(readFileSync(isa("rv32ui")));
    const image = parseElf(bytes);
    const tohost = image.symbols.get("tohost")!;
    const seg = image.segments.find(
      (s) => image.entry >= s.paddr && image.entry < s.paddr + s.filesz,
    )!;
    const at = seg.offset + (image.entry - seg.paddr);
    // lui t0, %hi(tohost); addi t1, x0, 11; sw t1, %lo(tohost)(t0); j .
    const hi = (tohost + 0x800) >>> 12;
    const lo = tohost - (hi << 12);
    const words = [
      ((hi << 12) | (5 << 7) | 0x37) >>> 0,
      ((11 << 20) | (0 << 15) | (6 << 7) | 0x13) >>> 0,
      (((lo >> 5) & 0x7f) << 25) | (6 << 20) | (5 << 15) | (2 << 12) | ((lo & 0x1f) << 7) | 0x23,
      0x0000006f,
    ];
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    words.forEach((w, i) => {
      dv.setUint32(at + i * 4, w >>> 0, true);
    });
    const file = join(mkdtempSync(join(tmpdir(), "ferry-isa-")), "fails.elf");
    writeFileSync(file, bytes);
    const io = captureIo();
    expect(await main(["isa-test", file], io)).toBe(1);
    expect(io.stdout()).toMatch(/FAIL\s+test 5 failed/);
    expect(io.stdout()).toMatch(/0 passed, 1 failed/);
  });

  it("refuses a file that is not an ELF, or one without tohost (exit 2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-isa-"));
    const junk = join(dir, "junk.elf");
    writeFileSync(junk, "not an elf at all");
    let io = captureIo();
    expect(await main(["isa-test", junk], io)).toBe(2);
    expect(io.stderr()).toMatch(/ELF/);
    io = captureIo();
    const hello = fileURLToPath(new URL("../../../examples/guests/hello.elf", import.meta.url));
    expect(await main(["isa-test", hello], io)).toBe(2);
    expect(io.stderr()).toMatch(/tohost/);
  });
});
