/**
 * Fuzzing the config loader: random documents built from the schema's own keys and hostile
 * values, byte-level mutations of the example configs, and random `--set` paths. The loader must
 * answer a config or a ConfigError whose issues are short single lines — never another exception
 * — and every config it accepts must be runnable (the invariants below).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, type FerryConfig, parseConfigText } from "../../src/config";
import { MAX_SET_INDEX } from "../../src/input/limits";
import { root } from "../hostile/helpers";
import { fuzzParams, fuzzTimeout } from "./params";

/** Parse; return the config, or null for a clean ConfigError (checked); rethrow anything else. */
function load(text: string, overrides: readonly string[] = []): FerryConfig | null {
  try {
    return parseConfigText(text, { file: "fuzz.yaml", overrides });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    expect(err.issues.length).toBeGreaterThan(0);
    for (const issue of err.issues) {
      expect(issue.message).not.toContain("\n");
      expect(issue.message.length).toBeLessThan(600);
    }
    return null;
  }
}

/** What every accepted config must satisfy so that it can run. */
function checkRunnable(c: FerryConfig): void {
  const m = c.machine;
  expect(Number.isInteger(m.vcpus) && m.vcpus >= 1).toBe(true);
  expect(m.memoryBytes % 4096).toBe(0);
  expect(m.memoryBytes).toBeGreaterThanOrEqual(65536);
  if (m.ramBackend !== "synthetic") expect(m.memoryBytes).toBeLessThanOrEqual(2 ** 31);
  expect(m.sliceNs).toBeGreaterThanOrEqual(1000);
  if (c.guest !== undefined) expect(m.sliceNs * m.mips).toBeGreaterThanOrEqual(1000);
  for (const ns of [
    c.run.timeLimitNs,
    c.migration.startAfterNs,
    c.migration.link.latencyNs,
    m.sliceNs,
  ]) {
    expect(Number.isSafeInteger(ns) && ns >= 0).toBe(true);
  }
  expect(c.run.timeLimitNs).toBeGreaterThan(0);
  expect(c.migration.link.bandwidthBytesPerSec).toBeGreaterThan(0);
  if (c.guest !== undefined) expect(c.guest.args.length).toBeLessThanOrEqual(64);
}

const sizes = fc.oneof(
  fc.constantFrom(
    "64KiB",
    "16MiB",
    "1GiB",
    "2GiB",
    "3GiB",
    "256GiB",
    "2TiB",
    "0",
    "1.5KiB",
    "4097",
    "1e3MiB",
  ),
  fc.integer(),
  fc.double(),
);
const durations = fc.oneof(
  fc.constantFrom("1ns", "999ns", "1us", "100us", "1ms", "2s", "1.5min", "1h", "104days", "0"),
  fc.double({ min: -1e20, max: 1e300 }),
  fc.integer(),
);
const bandwidths = fc.oneof(
  fc.constantFrom("1Gbit/s", "0", "unlimited", "128MiB/s", "0Mbit/s", "1e9", "-1Gbit/s", "1Xbit/s"),
  fc.double(),
  fc.integer(),
);
const hostile = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 40 }),
  fc.array(fc.integer(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);
const maybe = <T>(arb: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: hostile }), {
    nil: undefined,
  });

const configDoc = fc.record(
  {
    name: maybe(fc.string({ minLength: 1, maxLength: 10 })),
    machine: maybe(
      fc.record(
        {
          vcpus: maybe(fc.integer({ min: -2, max: 300 })),
          memory: maybe(sizes),
          mips: maybe(fc.oneof(fc.constantFrom(1e-9, 0.001, 1, 100, 1e6, 1e7), fc.double())),
          "ram-backend": maybe(fc.constantFrom("array", "shared", "synthetic", "sparse")),
          slice: maybe(durations),
        },
        { requiredKeys: [] },
      ),
    ),
    guest: maybe(
      fc.record(
        {
          elf: maybe(fc.constantFrom("g.elf", "")),
          args: maybe(fc.array(fc.oneof(sizes, hostile), { maxLength: 70 })),
        },
        { requiredKeys: [] },
      ),
    ),
    workload: maybe(
      fc.record(
        {
          "writes-per-second": maybe(fc.double({ min: -10, max: 2e9 })),
          distribution: maybe(
            fc.record(
              {
                kind: fc.constantFrom("uniform", "hot-cold", "zipf", "sequential", "other"),
                "footprint-bytes": maybe(sizes),
                "hot-bytes": maybe(sizes),
                "hot-share": maybe(fc.double()),
                s: maybe(fc.double()),
              },
              { requiredKeys: ["kind"] },
            ),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    run: maybe(
      fc.record(
        { "time-limit": maybe(durations), seed: maybe(fc.integer()) },
        { requiredKeys: [] },
      ),
    ),
    migration: maybe(
      fc.record(
        {
          "start-after": maybe(durations),
          link: maybe(
            fc.record(
              { bandwidth: maybe(bandwidths), latency: maybe(durations), buffer: maybe(sizes) },
              { requiredKeys: [] },
            ),
          ),
          parameters: maybe(
            fc.dictionary(
              fc.string({ maxLength: 12 }),
              fc.oneof(fc.string(), fc.double(), fc.boolean()),
              { maxKeys: 4 },
            ),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);

/** Strip undefined fields (YAML would write them as null). */
const clean = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? "null");

describe("config fuzzing", () => {
  it("schema-shaped documents: a config that can run, or a clean ConfigError", {
    timeout: fuzzTimeout,
  }, () => {
    fc.assert(
      fc.property(configDoc, fc.boolean(), (doc, asJson) => {
        const v = clean(doc);
        const text = asJson ? JSON.stringify(v) : stringify(v);
        const c = load(text);
        if (c !== null) checkRunnable(c);
      }),
      fuzzParams(400),
    );
  });

  const examples = readdirSync(join(root, "examples/configs"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => readFileSync(join(root, "examples/configs", f), "utf8"));

  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("replace" as const),
      at: fc.nat(),
      text: fc.string({ maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      text: fc.constantFrom(
        "[",
        "{",
        "&a ",
        "*a",
        "<<: *a",
        ": ",
        "- ",
        "\t",
        "\0",
        "'",
        '"',
        "---\n",
        "!!binary ",
        "1e999",
        "9".repeat(30),
      ),
    }),
    fc.record({
      kind: fc.constant("delete" as const),
      at: fc.nat(),
      text: fc.string({ maxLength: 1 }),
      n: fc.integer({ min: 1, max: 20 }),
    }),
  );

  it("mutated example configs: a runnable config or a clean ConfigError", {
    timeout: fuzzTimeout,
  }, () => {
    fc.assert(
      fc.property(
        fc.nat(examples.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        (i, muts) => {
          let text = examples[i];
          for (const m of muts) {
            const at = m.at % (text.length + 1);
            if (m.kind === "delete")
              text = text.slice(0, at) + text.slice(at + ("n" in m ? m.n : 1));
            else if (m.kind === "insert") text = text.slice(0, at) + m.text + text.slice(at);
            else text = text.slice(0, at) + m.text + text.slice(at + m.text.length);
          }
          const c = load(text);
          if (c !== null) checkRunnable(c);
        },
      ),
      fuzzParams(300),
    );
  });

  const segment = fc.oneof(
    fc.constantFrom(
      "machine",
      "guest",
      "args",
      "workload",
      "run",
      "migration",
      "link",
      "memory",
      "slice",
      "mips",
      "time-limit",
      "bandwidth",
      "parameters",
      "distribution",
      "kind",
      "name",
      "plugins",
      "__proto__",
      "constructor",
    ),
    fc.nat({ max: 100 }).map(String),
    fc.constantFrom(
      "4294967294",
      "4294967295",
      "4294967296",
      "100000000",
      "9007199254740993",
      "1e3",
      "-1",
      "00",
    ),
    fc.string({ maxLength: 6 }),
  );
  const setValue = fc.oneof(
    fc.constantFrom(
      "1",
      "0",
      "-1",
      "1e-9",
      "1ns",
      "unlimited",
      "[1, 2]",
      "{a: 1}",
      "*x",
      "&a [1]",
      "null",
      "~",
      "",
      "[[[[[[",
      "1e400",
      ".inf",
    ),
    fc.string({ maxLength: 20 }),
  );

  it("random --set paths and values: quick, and a runnable config or a clean ConfigError", {
    timeout: fuzzTimeout,
  }, () => {
    const base = examples[0];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), setValue), {
          minLength: 1,
          maxLength: 4,
        }),
        (sets) => {
          const overrides = sets.map(([path, value]) => `${path.join(".")}=${value}`);
          const t0 = performance.now();
          const c = load(base, overrides);
          expect(performance.now() - t0).toBeLessThan(2000);
          if (c !== null) checkRunnable(c);
          // an index above the limit is never silently accepted
          for (const [path] of sets) {
            if (path.some((s) => /^\d+$/.test(s) && Number(s) > MAX_SET_INDEX))
              expect(c).toBeNull();
          }
        },
      ),
      fuzzParams(300),
    );
  });
});
