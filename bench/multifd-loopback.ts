/**
 * Multifd throughput in real time over loopback TCP: one block of RAM (half zero pages, half
 * compressible pages: 64 random words in each, the rest zero) goes through the multi-channel page
 * sender on 1, 2 and 4 data channels to a receiver in the same process, with and without zlib/zstd,
 * and the destination's RAM is checked equal. Prints MiB/s of guest RAM moved, with the page work
 * on the migration thread's event loop ("loop") and on one worker thread per channel ("workers",
 * RAM in a SharedArrayBuffer that the workers read and write in place, and with `array` RAM
 * copied through pooled buffers).
 *
 *   npx tsx bench/multifd-loopback.ts [MiB] [rounds] [methods] [modes]
 *
 * (default 256 MiB, best of 1 round, none,zlib,zstd, loop,workers,workers-array);
 * FERRY_MULTIFD_CONTENT=dense fills every byte of the normal pages (CPU-heavy compression).
 * Each cell: MiB/s, and in brackets the share of the run the main thread's event loop was busy
 * (what is left for the guest's vCPUs, which share that loop in a `--realtime` process).
 *
 * Both ends run in one process: the figures are an upper bound of the framework's own cost, not
 * of a NIC; with workers, both ends' workers share the machine's cores.
 */
import { createServer, createConnection, type Socket } from "node:net";
import { createRamBackend, PAGE_SIZE, RealtimeScheduler, type RamRegion } from "@ferry/core";
import {
  isChannelSocket,
  MultifdReceiver,
  MultifdSender,
  socketChannelSink,
  socketChannelSource,
  StreamWriter,
} from "@ferry/migration";
import { zlibCompression, zstdCompression } from "@ferry/plugin-multifd";

const MIB = 2 ** 20;
const size = Number(process.argv[2] ?? 256) * MIB;
const rounds = Number(process.argv[3] ?? 1);
type Mode = "loop" | "workers" | "workers-array";

/** `sparse`: 64 random words per normal page; `dense`: every byte random in 0..15 (zlib ~2:1). */
const dense = process.env.FERRY_MULTIFD_CONTENT === "dense";

function fill(bytes: Uint8Array): void {
  let s = 12345;
  for (let p = 0; p < bytes.length / PAGE_SIZE; p++) {
    if (p % 2 === 0) continue;
    if (dense) {
      for (let b = 0; b < PAGE_SIZE; b++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        bytes[p * PAGE_SIZE + b] = 0x40 | (s >>> 28);
      }
      continue;
    }
    for (let w = 0; w < 64; w++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bytes[p * PAGE_SIZE + w * 8] = s >>> 24;
      bytes[p * PAGE_SIZE + w * 8 + 1] = s >>> 16;
    }
  }
}

async function run(
  channels: number,
  method: "none" | "zlib" | "zstd",
  mode: Mode,
): Promise<{ mibs: number; elu: number }> {
  const kind = mode === "workers" ? "shared" : "array";
  const workers = mode !== "loop";
  const src = createRamBackend(kind, size);
  fill(src.bytes!);
  const dst = createRamBackend(kind, size);
  const block = { name: "ram", size, backend: src } as unknown as RamRegion;
  const scheduler = new RealtimeScheduler();
  const compression =
    method === "zlib" ? zlibCompression : method === "zstd" ? zstdCompression : null;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const receiver = new MultifdReceiver({
    channels,
    blocks: [{ name: "ram", size, backend: dst }],
    compact: false,
    compressions: [zlibCompression, zstdCompression],
    workers,
    expectedCompression: method,
    onError: (e) => {
      throw e;
    },
    onComplete: () => done(),
  });
  const server = createServer((s: Socket) => {
    s.pause();
    void isChannelSocket(s).then(() => receiver.attach(socketChannelSource(s, "bench")));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const sockets = await Promise.all(
    Array.from(
      { length: channels },
      () =>
        new Promise<Socket>((r) => {
          const c = createConnection({ port, host: "127.0.0.1" }, () => r(c));
        }),
    ),
  );
  const main = new StreamWriter(() => {}, 1 << 16);
  const sender = new MultifdSender({
    channels: sockets.map((s, i) => socketChannelSink(s, `ch${i}`)),
    scheduler,
    blocks: [block],
    compact: false,
    pageCostNs: 0,
    compression,
    level: 1,
    uuid: new Uint8Array(16),
    writer: main,
    workers,
    onBytes: () => {},
    onError: (e) => {
      throw e;
    },
  });
  // the workers start before the clock (a migration's setup phase; tsx makes it slow from sources)
  await sender.started();
  await new Promise<void>((r) => setTimeout(r, 200));
  await receiver.started();
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  const pages = size / PAGE_SIZE;
  for (let p = 0; p < pages; p++) {
    sender.queue(0, p);
    // as the migration thread does: wait while every channel is busy or a socket is backed up
    if ((p & 127) === 127) {
      await sender.ready();
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  const flushes = sender.syncs + 1;
  const end = sender.finish();
  for (let i = 0; i < flushes; i++) receiver.mainFlush();
  await Promise.all([end, finished]);
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  await receiver.close();
  server.close();
  if (Buffer.compare(src.bytes!, dst.bytes!) !== 0) throw new Error("destination RAM differs");
  return { mibs: size / MIB / (ms / 1000), elu };
}

const modes = (process.argv[5]?.split(",") ?? ["loop", "workers", "workers-array"]) as Mode[];
const methods = (process.argv[4]?.split(",") ?? ["none", "zlib", "zstd"]) as Array<
  "none" | "zlib" | "zstd"
>;
const rows: string[] = [];
for (const method of methods) {
  for (const channels of [1, 2, 4]) {
    const cells: string[] = [];
    for (const mode of modes) {
      let best = { mibs: 0, elu: 0 };
      for (let r = 0; r < rounds; r++) {
        const x = await run(channels, method, mode);
        if (x.mibs > best.mibs) best = x;
      }
      cells.push(`${best.mibs.toFixed(0)} (${(best.elu * 100).toFixed(0)} %)`.padStart(14));
    }
    rows.push(`${method.padEnd(6)} ${String(channels).padStart(8)} ${cells.join("")}`);
    console.log(rows[rows.length - 1]);
  }
}
console.log(
  `\n${size / MIB} MiB of guest RAM (half zero pages, ${dense ? "dense" : "sparse"} content), MiB/s (main event loop busy), best of ${rounds}\nmethod channels ${modes.map((m) => m.padStart(14)).join("")}\n${rows.join("\n")}`,
);
