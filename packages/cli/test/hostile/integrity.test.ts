/**
 * Snapshot integrity end to end: `ferry snapshot` writes an integrity-framed file, `ferry
 * restore` refuses every single-bit flip (exit 2, one line, the offset of the first bad block),
 * truncations and files without the framing.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VirtualScheduler } from "@ferry/core";
import {
  fileSource,
  INTEGRITY_BLOCK_BYTES,
  INTEGRITY_PRELUDE_BYTES,
  incoming,
  StreamError,
} from "@ferry/migration";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config";
import { buildSide } from "../../src/migrate/sides";
import { expectCleanRejection, ferry, tmp, writeCraftedSnapshot } from "./helpers";

const YAML = [
  "name: integ",
  "machine: { memory: 256KiB, ram-backend: array }",
  "workload: { writes-per-second: 200000, distribution: { kind: uniform } }",
  "run: { time-limit: 200ms }",
].join("\n");
const config = parseConfigText(YAML);

let dir = "";
let cfg = "";
let snap = "";
let bytes = new Uint8Array(0);

/** Wire offset of the block holding file byte `at` (64 KiB blocks, one writer chunk each 1 MiB). */
const blockOf = (at: number): number =>
  INTEGRITY_PRELUDE_BYTES +
  Math.floor((at - INTEGRITY_PRELUDE_BYTES) / (INTEGRITY_BLOCK_BYTES + 8)) *
    (INTEGRITY_BLOCK_BYTES + 8);

/** Load `data` into a fresh machine the way `ferry restore` does; the error or null. */
async function restoreBytes(data: Uint8Array): Promise<Error | null> {
  const file = join(dir, "flip.snap");
  writeFileSync(file, data);
  const side = buildSide(config, new VirtualScheduler(), null);
  const r = await incoming({
    machine: side.machine,
    transport: fileSource(file),
    resume: false,
    integrity: "require",
  }).done;
  return r.status === "completed" ? null : (r.error ?? new Error("failed"));
}

beforeAll(async () => {
  dir = tmp();
  cfg = join(dir, "integ.yaml");
  writeFileSync(cfg, YAML);
  snap = join(dir, "a.snap");
  const r = await ferry("snapshot", cfg, "--at", "50ms", "--out", snap);
  expect(r.code, r.err).toBe(0);
  bytes = new Uint8Array(readFileSync(snap));
});

describe("snapshot integrity", () => {
  it("ferry snapshot writes a framed file that restores", async () => {
    expect(Buffer.from(bytes.subarray(0, 4)).toString("latin1")).toBe("FRRC");
    const r = await ferry("restore", cfg, snap, "--json");
    expect(r.code, r.err).toBe(0);
  });

  it("every single-bit flip of the file is refused at its block's offset (property, 493 flips)", async () => {
    // Page data fills the blocks between the prelude and the device sections at the end.
    const last = bytes.length - 20 - 8;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: INTEGRITY_PRELUDE_BYTES + 4, max: last }),
        fc.nat(7),
        async (at, bit) => {
          const bad = bytes.slice();
          bad[at]! ^= 1 << bit;
          const err = await restoreBytes(bad);
          expect(err).toBeInstanceOf(StreamError);
          // A flip in a block's length or CRC field, or in its payload: that block is refused.
          expect((err as StreamError).position).toBeLessThanOrEqual(at);
          expect((err as StreamError).position).toBeGreaterThanOrEqual(
            blockOf(at) - INTEGRITY_BLOCK_BYTES - 8,
          );
          expect(err!.message).toMatch(/integrity|block/);
        },
      ),
      { seed: 20261127, numRuns: 493 },
    );
  });

  it("ferry restore refuses a flipped bit in page data: exit 2, one line, the block's offset", async () => {
    const at = INTEGRITY_PRELUDE_BYTES + 4 + 3 * 4096 + 100; // inside the first block's pages
    const bad = bytes.slice();
    bad[at]! ^= 0x10;
    const file = join(dir, "bad.snap");
    writeFileSync(file, bad);
    const r = await ferry("restore", cfg, file);
    expectCleanRejection(
      r,
      new RegExp(
        `migration stream error at byte ${INTEGRITY_PRELUDE_BYTES}: integrity check failed: block 0 \\(65536 bytes at byte ${INTEGRITY_PRELUDE_BYTES}\\) has CRC-32 0x[0-9a-f]{8}, its bytes give 0x[0-9a-f]{8}\\n$`,
      ),
    );
  });

  it("ferry restore refuses a truncated file and a file without the framing (exit 2)", async () => {
    const cut = join(dir, "cut.snap");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 7));
    expectCleanRejection(
      await ferry("restore", cfg, cut),
      /stream truncated: the integrity trailer is missing/,
    );
    const plain = join(dir, "plain.snap");
    writeCraftedSnapshot(config, plain, {
      pages: true,
      plain: true,
      meta: { version: 1, config: "integ", atNs: 1, work: 0 },
    });
    expectCleanRejection(
      await ferry("restore", cfg, plain),
      /at byte 0: stream without integrity checks \(magic "FRRY"\), and this destination requires them/,
    );
  });
});
