/**
 * The switchover acknowledgement's digest (`createTally`), CRC-32 (a version-1 stream) against
 * Fletcher-64 (version 2, WebAssembly SIMD), fed as a live migration feeds it: on the source,
 * gathered writes of 512 pieces (an 8-byte record header, then a 4 KiB page of guest RAM) over
 * 256 MiB of RAM that is not in the CPU's cache; on the destination, 384 KiB reads out of one
 * reused buffer (in cache, as after the kernel's copy). ns per 4 KiB page and GB/s of stream
 * bytes (1 GB = 1e9 bytes): CPU time (`process.cpuUsage`), best of 5.
 *
 *   pnpm exec vitest bench --run bench/stream-digest.bench.ts
 */
import { randomFillSync } from "node:crypto";
import { test } from "vitest";
import { cpuBest } from "./cpu-best";
import { createTally, FLETCHER64_WASM } from "../packages/migration/src/index";

const MiB = 1024 * 1024;
const PAGE = 4096;
const RAM_BYTES = 256 * MiB;
const PAGES = RAM_BYTES / PAGE;
const ram = new Uint8Array(RAM_BYTES);
for (let o = 0; o < RAM_BYTES; o += MiB) randomFillSync(ram.subarray(o, o + MiB));
/** Stream bytes per page: an 8-byte header and the page. */
const RECORD = 8 + PAGE;
const headers = new Uint8Array(8 * 512);
const readBuffer = new Uint8Array(1 << 20);
randomFillSync(readBuffer);
const READ = 384 * 1024;

const header = (version: number): Uint8Array =>
  Uint8Array.of(0x46, 0x52, 0x52, 0x59, 0, 0, 0, version);

/** The source: gathered writes of 512 (header, page) pieces over all of RAM. */
function source(version: number): string {
  const t = createTally();
  t.add(header(version));
  const pieces: Uint8Array[] = [];
  for (let p = 0; p < PAGES; p += 512) {
    pieces.length = 0;
    for (let k = 0; k < 512; k++) {
      pieces.push(headers.subarray(k * 8, k * 8 + 8));
      pieces.push(ram.subarray((p + k) * PAGE, (p + k + 1) * PAGE));
    }
    t.addAll(pieces);
  }
  return t.digest;
}

/** The destination: the same number of stream bytes in 384 KiB reads of one buffer. */
function destination(version: number): string {
  const t = createTally();
  t.add(header(version));
  const total = PAGES * RECORD;
  for (let done = 0; done < total; done += READ) {
    t.add(readBuffer.subarray(0, Math.min(READ, total - done)));
  }
  return t.digest;
}

test("switchover acknowledgement digest: CRC-32 vs Fletcher-64, source and destination", () => {
  console.log(`Fletcher-64 in ${FLETCHER64_WASM ? "WebAssembly SIMD" : "JavaScript"}`);
  for (const [side, f] of [
    ["source (gathered, RAM not in cache)", source],
    ["destination (384 KiB reads, in cache)", destination],
  ] as const) {
    for (const [name, version] of [
      ["CRC-32", 1],
      ["Fletcher-64", 2],
    ] as const) {
      const ms = cpuBest(() => f(version), 5);
      const perPage = (ms * 1e6) / PAGES;
      const gbps = (PAGES * RECORD) / (ms * 1e6);
      console.log(
        `${side}, ${name}: ${perPage.toFixed(0)} ns per page, ${gbps.toFixed(2)} GB/s (${ms.toFixed(0)} ms per ${RAM_BYTES / MiB} MiB)`,
      );
    }
  }
}, 600_000);
