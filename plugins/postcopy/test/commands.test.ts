import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkAdvise,
  adviseData,
  decodeCommands,
  decodeDiscard,
  discardCommands,
  encodeCommands,
  PostcopyCmd,
} from "../src/index";

describe("post-copy commands", () => {
  it("RAM_DISCARD round-trips any page bitmap (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.nat(), { maxLength: 400 }),
        (pages, set) => {
          const words = new Uint32Array(Math.ceil(pages / 32));
          const model = new Set<number>();
          for (const x of set) {
            const p = x % pages;
            words[p >>> 5] |= 1 << (p & 31);
            model.add(p);
          }
          const chunk = encodeCommands(discardCommands("ram", words, pages));
          const got = new Set<number>();
          for (const c of decodeCommands(chunk)) {
            expect(c.cmd).toBe(PostcopyCmd.RAM_DISCARD);
            const d = decodeDiscard(c.data);
            expect(d.block).toBe("ram");
            for (let i = 0; i < d.runs.length; i += 2) {
              for (let p = d.runs[i]; p < d.runs[i] + d.runs[i + 1]; p++) got.add(p);
            }
          }
          expect([...got].sort((a, b) => a - b)).toEqual([...model].sort((a, b) => a - b));
        },
      ),
    );
  });

  it("refuses truncated chunks, bad discards and foreign page sizes", () => {
    const chunk = encodeCommands([{ cmd: PostcopyCmd.ADVISE, data: adviseData() }]);
    expect(() => decodeCommands(chunk.subarray(0, 5))).toThrow(/truncated/);
    expect(() => decodeCommands(chunk.subarray(0, chunk.length - 1))).toThrow(/claims 16 bytes/);
    expect(() => checkAdvise(adviseData())).not.toThrow();
    const bad = adviseData();
    bad[7] = 1;
    expect(() => checkAdvise(bad)).toThrow(/page sizes/);
    expect(() =>
      decodeDiscard(
        Uint8Array.of(0, 3, 0x72, 0x61, 0x6d, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0),
      ),
    ).toThrow(/not page aligned/);
  });
});
