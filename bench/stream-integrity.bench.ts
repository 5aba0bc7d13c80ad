/**
 * Cost of the stream integrity framing (CRC-32 per 64 KiB block, whole-stream digest): the
 * in-process writer → reader of 64 MiB of raw PAGE records, plain and framed (encoder and
 * decoder in the path). GB/s of stream bytes (1 GB = 1e9 bytes), mean and best of 10.
 *
 *   pnpm exec vitest bench --run bench/stream-integrity.bench.ts
 */
import { createRamBackend, PAGE_SIZE } from "../packages/core/src/index";
import {
  IntegrityDecoder,
  IntegrityEncoder,
  RamFlag,
  SectionType,
  StreamReader,
  StreamWriter,
} from "../packages/migration/src/index";
import { test } from "vitest";

const MiB = 1024 * 1024;
const STREAM_BYTES = 64 * MiB;
const src = new Uint8Array(STREAM_BYTES);
for (let i = 0; i < src.length; i += 64) src[i] = (i >>> 6) | 1;
const block = { name: "ram", size: STREAM_BYTES };
const dest = createRamBackend("array", STREAM_BYTES);

function streamOnce(framed: boolean): void {
  const reader = new StreamReader({ blocks: [{ name: "ram", size: STREAM_BYTES, backend: dest }] });
  const input = framed ? new IntegrityDecoder(reader, "require") : reader;
  const enc = framed ? new IntegrityEncoder((c) => input.push(c)) : null;
  const w = new StreamWriter(enc !== null ? enc.write : (c) => input.push(c), 1 << 20);
  w.header();
  const id = w.ramSetupSection([block]);
  w.sectionContinue(SectionType.END, id);
  for (let off = 0; off < STREAM_BYTES; off += PAGE_SIZE) {
    w.ramRecord(block, off, RamFlag.PAGE);
    w.bytes(src, off, PAGE_SIZE);
  }
  w.ramEos();
  w.footer(id);
  w.eof();
  w.flush();
  enc?.finish();
  input.end();
}

test("stream integrity: writer → reader, plain vs framed", async ({ bench }) => {
  for (const framed of [false, true, false, true]) {
    const name = `${framed ? "framed" : "plain"} write+read ${STREAM_BYTES / MiB} MiB of raw PAGE records`;
    const result = await bench(name, () => streamOnce(framed)).run({ iterations: 10 });
    const { mean, min } = result.latency;
    const gb = (ms: number) => (STREAM_BYTES / (ms * 1e6)).toFixed(2);
    console.log(`${name}: mean ${gb(mean)} GB/s, best ${gb(min)} GB/s`);
  }
});
