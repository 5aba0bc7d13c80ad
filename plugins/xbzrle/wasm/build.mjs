#!/usr/bin/env node
/**
 * Builds the XBZRLE WebAssembly module from its source with wabt (npm), through the project's
 * shared step (tools/wasm-build.mjs):
 *
 *   wasm/xbzrle.wat  ->  wasm/xbzrle.wasm          (the binary, committed)
 *                    ->  src/wasm-bytes.ts         (the same bytes as base64, committed; the codec
 *                                                   compiles them synchronously at import, so it
 *                                                   works from src/ and from a built dist/ alike)
 *
 *   node plugins/xbzrle/wasm/build.mjs           write both files
 *   node plugins/xbzrle/wasm/build.mjs --check   exit 1 if the committed files differ from a build
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
    watPath: join(here, "xbzrle.wat"),
    wasmPath: join(here, "xbzrle.wasm"),
    tsPath: join(here, "..", "src", "wasm-bytes.ts"),
    exportName: "XBZRLE_WASM_BASE64",
    title: "XBZRLE",
    features: { bulk_memory: true },
  },
  script,
  process.argv,
);
