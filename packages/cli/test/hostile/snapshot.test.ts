/**
 * Snapshots that must be refused (exit 2, one line) and snapshots that must work: no page
 * records, metadata out of range, directories, oversized files, synthetic RAM.
 */
import { closeSync, openSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualScheduler } from "@ferry/core";
import { buildSide } from "../../src/migrate/sides";
import { parseMeta, SnapshotError } from "../../src/snapshot/snapshot";
import {
  example,
  exampleConfig,
  expectCleanRejection,
  ferry,
  tmp,
  writeCraftedSnapshot,
} from "./helpers";

const workload = example("workload-small");

/** The device-state keys of a machine built from `config`. */
function buildStateKeys(config: ReturnType<typeof exampleConfig>): string[] {
  const side = buildSide(config, new VirtualScheduler(), null);
  return Object.keys(side.machine.saveState() as object);
}
const good = { version: 1, config: "workload-small", atNs: 1_000_000, work: 5 };

describe("restore refuses snapshots it cannot trust", () => {
  const dir = tmp();
  const config = exampleConfig("workload-small");

  it("a crafted complete snapshot restores (the crafting is sound)", async () => {
    const file = join(dir, "complete.snap");
    writeCraftedSnapshot(config, file, { pages: true, meta: good });
    const r = await ferry("restore", workload, file, "--set", "run.time-limit=20ms", "--json");
    expect(r.code, r.err).toBe(0);
  });

  it("a well-formed snapshot with no page records is refused", async () => {
    const file = join(dir, "no-pages.snap");
    writeCraftedSnapshot(config, file, { pages: false, meta: good });
    expectCleanRejection(
      await ferry("restore", workload, file),
      /expected 16384 page records \(one per page of RAM\), found 0: not a complete snapshot/,
    );
  });

  it.each([
    [
      { ...good, atNs: -1 },
      /ferry-snapshot\.atNs: expected an integer from 0 to 2\^53-1, found -1/,
    ],
    [{ ...good, atNs: 1e300 }, /ferry-snapshot\.atNs: expected an integer .* found 1e\+300/],
    [{ ...good, atNs: 1.5 }, /atNs: expected an integer/],
    [{ ...good, work: -5 }, /ferry-snapshot\.work: expected an integer .* found -5/],
    [{ ...good, work: "many" }, /work: expected an integer .* found "many"/],
    [{ ...good, version: 2 }, /ferry-snapshot\.version: expected 1, found 2/],
    [{ ...good, config: "" }, /ferry-snapshot\.config: expected a config name/],
    [
      { ...good, config: "x".repeat(5000) },
      /config: expected a config name of 1 to 1024 characters, found "x+"… \(\d+ more characters\)/,
    ],
    [{ ...good, extra: 1 }, /expected only version, config, atNs and work, found field "extra"/],
    [[1, 2, 3], /found \[1,2,3\]/],
  ])("metadata case %# is refused", async (meta, pattern) => {
    const file = join(dir, "meta.snap");
    writeCraftedSnapshot(config, file, { pages: true, meta });
    expectCleanRejection(await ferry("restore", workload, file), pattern);
  });

  it("a directory, a device and an oversized file are refused before reading", async () => {
    expectCleanRejection(
      await ferry("restore", workload, dir),
      /expected a snapshot file, found a directory/,
    );
    expectCleanRejection(
      await ferry("restore", workload, "/dev/zero"),
      /expected a snapshot file, found a device/,
    );
    const huge = join(dir, "huge.snap");
    closeSync(openSync(huge, "w"));
    truncateSync(huge, 2 ** 40); // sparse: no disk used
    const r = await ferry("restore", workload, huge);
    expectCleanRejection(
      r,
      /the snapshot file is 1099511627776 bytes, above the limit of \d+ bytes/,
    );
    expect(r.wallMs).toBeLessThan(5000);
  });

  it("deeply nested JSON in a device section is exit 2, quickly", async () => {
    const state = buildStateKeys(config);
    for (const depth of [1000, 1_000_000]) {
      const file = join(dir, `deep-${depth}.snap`);
      const nested = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      writeCraftedSnapshot(config, file, {
        pages: true,
        meta: good,
        raw: { [state[0]]: `{"${state[0]}":${nested}}` },
      });
      expectCleanRejection(
        await ferry("restore", workload, file),
        /device state rejected|expected/,
      );
    }
  });

  it("a device section whose JSON key differs from its name is exit 2", async () => {
    const state = buildStateKeys(config);
    const file = join(dir, "key.snap");
    writeCraftedSnapshot(config, file, {
      pages: true,
      meta: good,
      raw: { [state[0]]: '{"other":1}' },
    });
    expectCleanRejection(await ferry("restore", workload, file), /must hold exactly/);
  });

  it("a device section whose key differs from its name, or a junk file, is exit 2", async () => {
    const junk = join(dir, "junk.snap");
    writeFileSync(junk, "FERRY?".repeat(100));
    expectCleanRejection(await ferry("restore", workload, junk), /./);
  });
});

describe("snapshot metadata checks (property)", () => {
  it("parseMeta accepts exactly the in-range documents", () => {
    const meta = fc.record({
      version: fc.oneof(fc.constant(1), fc.integer(), fc.string()),
      config: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.integer(), fc.constant("")),
      atNs: fc.oneof(
        fc.integer({ min: 0 }),
        fc.double(),
        fc.constant(1e300),
        fc.bigInt().map(String),
      ),
      work: fc.oneof(fc.nat(), fc.double(), fc.integer({ max: -1 })),
    });
    fc.assert(
      fc.property(meta, (m) => {
        const valid =
          m.version === 1 &&
          typeof m.config === "string" &&
          m.config.length >= 1 &&
          typeof m.atNs === "number" &&
          Number.isSafeInteger(m.atNs) &&
          m.atNs >= 0 &&
          Number.isSafeInteger(m.work) &&
          m.work >= 0;
        let accepted = true;
        try {
          parseMeta(m, "f");
        } catch (err) {
          expect(err).toBeInstanceOf(SnapshotError);
          expect((err as Error).message.length).toBeLessThan(400);
          accepted = false;
        }
        expect(accepted).toBe(valid);
      }),
      { seed: 10, numRuns: 300 },
    );
  });

  it("a deeply nested metadata value is refused without a stack overflow", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => parseMeta({ ...good, work: deep }, "f")).toThrow(SnapshotError);
    expect(() => parseMeta(deep, "f")).toThrow(SnapshotError);
  });
});

describe("synthetic RAM snapshots", () => {
  it("a snapshot of a synthetic RAM config restores with the same config", async () => {
    const dir = tmp();
    const file = join(dir, "syn.snap");
    const sets = [
      "--set",
      "machine.ram-backend=synthetic",
      "--set",
      "machine.memory=256MiB",
      "--set",
      "run.time-limit=400ms",
    ];
    const s = await ferry("snapshot", workload, ...sets, "--at", "200ms", "--out", file, "--json");
    expect(s.code, s.err).toBe(0);
    const r = await ferry("restore", workload, file, ...sets, "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ status: "done", snapshotAtNs: 200_000_000 });
    // restoring it as dense RAM is refused cleanly
    const dense = await ferry("restore", workload, file, "--set", "run.time-limit=400ms");
    expect(dense.code).toBe(2);
  });
});
