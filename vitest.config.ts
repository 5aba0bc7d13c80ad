import "./tools/node20-polyfills";
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
