/**
 * Cost of the stream integrity framing (CRC-32 per 64 KiB block, whole-stream digest): the
 * in-process writer → reader of 64 MiB of raw PAGE records, plain and framed (encoder and
 * decoder in the path, so two CRC-32 passes), framed with the destination reading 64 KiB at a
 * time (every block straddles two reads, as off a socket), and `zlib.crc32` alone over the same
 * bytes in 64 KiB blocks (one pass). GB/s of stream bytes (1 GB = 1e9 bytes): wall mean and best
 * of 10, and CPU time (`process.cpuUsage`) best of 10, the better figure on a loaded machine.
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
import * as zlib from "node:zlib";
import { test } from "vitest";
import { cpuBest } from "./cpu-best";

const MiB = 1024 * 1024;
const STREAM_BYTES = 64 * MiB;
const src = new Uint8Array(STREAM_BYTES);
for (let i = 0; i < src.length; i += 64) src[i] = (i >>> 6) | 1;
const block = { name: "ram", size: STREAM_BYTES };
const dest = createRamBackend("array", STREAM_BYTES);

type Variant = "plain" | "framed" | "framed, 64 KiB reads";

/** The destination's input: whole chunks, or 64 KiB reads as off a socket. */
function reads(input: { push(c: Uint8Array): void }, slice: boolean): (c: Uint8Array) => void {
  if (!slice) return (c) => input.push(c);
  return (c) => {
    for (let off = 0; off < c.length; off += 65536) input.push(c.subarray(off, off + 65536));
  };
}

function streamOnce(variant: Variant): void {
  const framed = variant !== "plain";
  const reader = new StreamReader({ blocks: [{ name: "ram", size: STREAM_BYTES, backend: dest }] });
  const input = framed ? new IntegrityDecoder(reader, "require") : reader;
  const enc = framed
    ? new IntegrityEncoder(reads(input, variant === "framed, 64 KiB reads"))
    : null;
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

function crcOnce(): void {
  let c = 0;
  for (let off = 0; off < STREAM_BYTES; off += 65536)
    c ^= zlib.crc32(src.subarray(off, off + 65536));
  if (c === 0.5) throw new Error("unreachable");
}

const gb = (ms: number) => (STREAM_BYTES / (ms * 1e6)).toFixed(2);

test("stream integrity: writer → reader, plain vs framed", async ({ bench }) => {
  const variants: Variant[] = ["plain", "framed", "framed, 64 KiB reads"];
  for (const variant of [...variants, ...variants]) {
    const name = `${variant} write+read ${STREAM_BYTES / MiB} MiB of raw PAGE records`;
    const result = await bench(name, () => streamOnce(variant)).run({ iterations: 10 });
    const { mean, min } = result.latency;
    const cpu = cpuBest(() => streamOnce(variant), 10);
    console.log(
      `${name}: wall mean ${gb(mean)} GB/s, best ${gb(min)} GB/s; CPU best ${gb(cpu)} GB/s (${cpu.toFixed(1)} ms)`,
    );
  }
  const cpu = cpuBest(crcOnce, 10);
  console.log(`zlib.crc32 alone, 64 KiB blocks: CPU best ${gb(cpu)} GB/s (${cpu.toFixed(1)} ms)`);
});
