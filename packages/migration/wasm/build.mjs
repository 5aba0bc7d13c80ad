#!/usr/bin/env node
/**
 * Builds the stream digest's WebAssembly module from its source with wabt (npm), through the
 * project's shared step (tools/wasm-build.mjs):
 *
 *   wasm/fletcher64.wat  ->  wasm/fletcher64.wasm                     (the binary, committed)
 *                        ->  src/stream/fletcher64-wasm-bytes.ts      (the same bytes as base64,
 *                                                                      committed; compiled
 *                                                                      synchronously at import)
 *
 *   node packages/migration/wasm/build.mjs           write both files
 *   node packages/migration/wasm/build.mjs --check   exit 1 if the committed files differ from a build
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import wabtInit from "wabt";
import { runWasmBuild } from "../../../tools/wasm-build.mjs";

const script = fileURLToPath(import.meta.url);
const here = dirname(script);
await runWasmBuild(
  {
    wabtInit,
    watPath: join(here, "fletcher64.wat"),
    wasmPath: join(here, "fletcher64.wasm"),
    tsPath: join(here, "..", "src", "stream", "fletcher64-wasm-bytes.ts"),
    exportName: "FLETCHER64_WASM_BASE64",
    title: "Fletcher-64",
  },
  script,
  process.argv,
);
