#!/usr/bin/env node
/**
 * Builds the XBZRLE WebAssembly module from its source with wabt (npm):
 *
 *   wasm/xbzrle.wat  ->  wasm/xbzrle.wasm          (the binary, committed)
 *                    ->  src/wasm-bytes.ts         (the same bytes as base64, committed; the codec
 *                                                   compiles them synchronously at import, so it
 *                                                   works from src/ and from a built dist/ alike)
 *
 *   node plugins/xbzrle/wasm/build.mjs           write both files
 *   node plugins/xbzrle/wasm/build.mjs --check   exit 1 if the committed files differ from a build
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildXbzrleWasm, wasmBytesModule } from "./compile.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const watPath = join(here, "xbzrle.wat");
const wasmPath = join(here, "xbzrle.wasm");
const tsPath = join(here, "..", "src", "wasm-bytes.ts");

const bytes = await buildXbzrleWasm(readFileSync(watPath, "utf8"));
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
      console.error(`${path}: differs from a fresh build of xbzrle.wat (run wasm/build.mjs)`);
      ok = false;
    }
  }
  process.exit(ok ? 0 : 1);
}
writeFileSync(wasmPath, bytes);
writeFileSync(tsPath, ts);
console.log(`wrote ${wasmPath} (${bytes.length} bytes) and ${tsPath}`);
