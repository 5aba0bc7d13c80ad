import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ExitReason } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { parseElf, runTohostElf } from "../src/index";

const dir = fileURLToPath(new URL("../../../examples/guests/isa-tests/", import.meta.url));

describe("ISA tests (riscv-tests p-style, tohost protocol)", () => {
  for (const name of ["rv32ui", "rv32um", "rv32ua", "rv32mi", "rv32si"]) {
    it(`${name} passes`, () => {
      const elf = new Uint8Array(readFileSync(`${dir}${name}.elf`));
      expect(parseElf(elf).symbols.has("tohost")).toBe(true);
      const result = runTohostElf(elf);
      expect(result.problem).toBe("");
      expect(result.exitReason).toBe(ExitReason.SystemEvent);
      expect({ passed: result.passed, failedTest: result.testNumber }).toEqual({
        passed: true,
        failedTest: 0,
      });
      expect(result.instructions).toBeGreaterThan(50);
    });
  }
});
