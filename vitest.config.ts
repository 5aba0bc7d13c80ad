import "./tools/node20-polyfills";
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "packages/*/{src,test}/**/*.test.ts",
      "plugins/*/{src,test}/**/*.test.ts",
      "examples/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two test files at a time even on a 2-core machine (vitest's default there is one): most
    // of the long files wait on child processes and sockets, not on the CPU. Measured on the
    // 2-vCPU CI machine: 628 s → 406 s for the suite, every test passing.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    setupFiles: ["reflect-metadata", "./tools/node20-polyfills.ts"],
    benchmark: {
      include: [
        "bench/**/*.bench.ts",
        "packages/*/bench/**/*.bench.ts",
        "plugins/*/bench/**/*.bench.ts",
      ],
    },
  },
});
