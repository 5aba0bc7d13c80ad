/**
 * Fuzz parameters: a fixed seed and a small number of runs by default (CI: the whole suite well
 * under a minute); `pnpm fuzz` raises them from the environment for long runs:
 * `FERRY_FUZZ_RUNS` (runs per property), `FERRY_FUZZ_SEED` (seed; `random` for a fresh one,
 * printed so a failure can be replayed).
 */

/** The seed of this test file's properties (a `random` one is chosen once and printed). */
const SEED = ((): number => {
  const seedText = process.env.FERRY_FUZZ_SEED ?? "";
  if (seedText === "random") {
    const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
    console.log(`fuzz seed ${seed} (replay with FERRY_FUZZ_SEED=${seed})`);
    return seed;
  }
  return seedText !== "" ? Number(seedText) >>> 0 : 20261127;
})();

/** fast-check parameters of one property: `defaultRuns` unless `FERRY_FUZZ_RUNS` is set. */
export function fuzzParams(defaultRuns: number): { seed: number; numRuns: number } {
  const runs = Number(process.env.FERRY_FUZZ_RUNS ?? "");
  return { seed: SEED, numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns };
}

/** Per-test timeout: generous when `FERRY_FUZZ_RUNS` asks for a long run. */
export const fuzzTimeout = process.env.FERRY_FUZZ_RUNS !== undefined ? 3_600_000 : 60_000;
