#!/usr/bin/env node
/**
 * Builds the stream digest's WebAssembly module from its source with wabt (npm):
 *
 *   wasm/fletcher64.wat  ->  wasm/fletcher64.wasm                     (the binary, committed)
 *                        ->  src/stream/fletcher64-wasm-bytes.ts      (the same bytes as base64,
 *                                                                      committed; compiled
 *                                                                      synchronously at import)
 *
 *   node packages/migration/wasm/build.mjs           write both files
 *   node packages/migration/wasm/build.mjs --check   exit 1 if the committed files differ from a build
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFletcher64Wasm, wasmBytesModule } from "./compile.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const watPath = join(here, "fletcher64.wat");
const wasmPath = join(here, "fletcher64.wasm");
const tsPath = join(here, "..", "src", "stream", "fletcher64-wasm-bytes.ts");

const bytes = await buildFletcher64Wasm(readFileSync(watPath, "utf8"));
const ts = wasmBytesModule(bytes);
if (process.argv.includes("--check")) {
  let ok = true;
  for (const [path, want] of [
    [wasmPath, Buffer.from(bytes)],
    [tsPath, Buffer.from(ts)],
  ]) {
    let have;
    try {
      have = readFileSync(path);
    } catch {
      have = Buffer.alloc(0);
    }
    if (!have.equals(want)) {
      console.error(`${path}: differs from a fresh build of fletcher64.wat (run wasm/build.mjs)`);
      ok = false;
    }
  }
  process.exit(ok ? 0 : 1);
}
writeFileSync(wasmPath, bytes);
writeFileSync(tsPath, ts);
console.log(`wrote ${wasmPath} (${bytes.length} bytes) and ${tsPath}`);
