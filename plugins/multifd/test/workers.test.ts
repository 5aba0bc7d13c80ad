/**
 * Multifd's page work on worker threads (real time): the per-packet functions round-trip any
 * pages with every method (property test); a channel's worker builds and applies packets over the
 * worker protocol, reading and writing shared RAM in place; sender and receiver move RAM over
 * real sockets with workers on both sides (shared and array RAM); a failing worker fails the
 * migration while the source keeps running; and no worker thread outlives its migration.
 */
import { createConnection, createServer, type Socket } from "node:net";
import {
  createAddressSpace,
  createRamBackend,
  PAGE_SIZE,
  type RamBackend,
  type RamRegion,
  RealtimeScheduler,
} from "@ferry/core";
import {
  applyPacket,
  buildPacket,
  createLink,
  createMigrationManager,
  createPacketBuilder,
  decodeMultifdPacketHeader,
  type FerryPlugin,
  type FromWorker,
  incoming,
  isChannelSocket,
  liveMultifdWorkers,
  type MigratableMachine,
  MULTIFD_FLAG_ZLIB,
  MULTIFD_FLAG_ZSTD,
  MULTIFD_PACKET_LEN,
  MULTIFD_TARGET_PAGE_SIZE,
  MultifdReceiver,
  MultifdSender,
  PageChannels,
  socketChannelSink,
  socketChannelSource,
  startChannelWorker,
  StreamWriter,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { multifd, zlibCompression, zstdCompression } from "../src/index";
import { failingCompression } from "./failing-compression";

const PS = PAGE_SIZE;
const METHODS = [null, zlibCompression, zstdCompression] as const;
const enc = new TextEncoder();

/** Wait until every worker thread started by this test file has exited. */
async function noWorkersLeft(): Promise<void> {
  const until = Date.now() + 30_000;
  while (liveMultifdWorkers() > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(liveMultifdWorkers()).toBe(0);
}

afterEach(noWorkersLeft, 40_000);

/** `pages` pages: page i is zero when `zero[i]`, else `fill[i]` repeated in its first `len` bytes. */
function content(pages: number, zero: boolean[], fill: number[], len: number[]): Uint8Array {
  const b = new Uint8Array(pages * PS);
  for (let i = 0; i < pages; i++) {
    if (zero[i]) continue;
    for (let k = 0; k < len[i]; k++) b[i * PS + k] = (fill[i] + k * 7) & 255 || 1;
  }
  return b;
}

describe("the per-packet work", () => {
  it("the worker-side constants are the framework's (page size, method flags)", () => {
    expect(MULTIFD_TARGET_PAGE_SIZE).toBe(PAGE_SIZE);
    expect(zlibCompression.flag).toBe(MULTIFD_FLAG_ZLIB);
    expect(zstdCompression.flag).toBe(MULTIFD_FLAG_ZSTD);
  });

  it("build then apply round-trips any pages with none, zlib and zstd (property)", () => {
    const page = fc.record({
      zero: fc.boolean(),
      fill: fc.integer({ min: 1, max: 255 }),
      len: fc.integer({ min: 1, max: PS }),
    });
    fc.assert(
      fc.property(
        fc.array(page, { minLength: 0, maxLength: 128 }),
        fc.constantFrom(...METHODS),
        fc.boolean(),
        (pages, method, sourceIsBlock) => {
          const n = pages.length;
          const block = content(
            n,
            pages.map((p) => p.zero),
            pages.map((p) => p.fill),
            pages.map((p) => p.len),
          );
          // queue the pages in reverse order, so offsets are not the packet's positions
          const offsets = Float64Array.from({ length: n }, (_, i) => (n - 1 - i) * PS);
          const copied = new Uint8Array(n * PS);
          for (let i = 0; i < n; i++) {
            copied.set(block.subarray(offsets[i], offsets[i] + PS), i * PS);
          }
          const b = createPacketBuilder(method?.createCompressor(1) ?? null);
          const built = buildPacket(b, {
            flags: method?.flag ?? 0,
            packetNum: 7,
            name: enc.encode("ram"),
            count: n,
            offsets,
            source: sourceIsBlock ? block : copied,
            sourceIsBlock,
          });
          const h = decodeMultifdPacketHeader(built.packet);
          expect(h.normalPages + h.zeroPages).toBe(n);
          expect(h.zeroPages).toBe(pages.filter((p) => p.zero).length);
          expect(h.nextPacketSize).toBe(built.packet.length - MULTIFD_PACKET_LEN);
          const target = new Uint8Array(n * PS).fill(0xee);
          applyPacket(method?.createDecompressor() ?? null, {
            normal: h.normalPages,
            zero: h.zeroPages,
            offsets: Float64Array.from(h.offsets),
            data: built.packet.subarray(MULTIFD_PACKET_LEN),
            target,
            targetIsBlock: true,
          });
          expect(Buffer.compare(target, block)).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("corrupt compressed data is refused with a clear error", () => {
    const b = createPacketBuilder(zlibCompression.createCompressor(1));
    const block = content(2, [false, false], [3, 4], [100, 100]);
    const built = buildPacket(b, {
      flags: zlibCompression.flag,
      packetNum: 0,
      name: enc.encode("ram"),
      count: 2,
      offsets: Float64Array.of(0, PS),
      source: block,
      sourceIsBlock: true,
    });
    const data = built.packet.slice(MULTIFD_PACKET_LEN);
    data[data.length - 3] ^= 0xff;
    expect(() =>
      applyPacket(zlibCompression.createDecompressor(), {
        normal: 2,
        zero: 0,
        offsets: Float64Array.of(0, PS),
        data,
        target: new Uint8Array(2 * PS),
        targetIsBlock: true,
      }),
    ).toThrow(/zlib data does not inflate to 8192 bytes/);
  });
});

describe("a channel's worker thread", () => {
  it("builds packets from shared RAM in place and applies them into shared RAM, in order", async () => {
    const pages = 256;
    const src = new SharedArrayBuffer(pages * PS);
    const dst = new SharedArrayBuffer(pages * PS);
    new Uint8Array(src).set(
      content(
        pages,
        Array.from({ length: pages }, (_, i) => i % 3 === 0),
        Array.from({ length: pages }, (_, i) => i),
        Array.from({ length: pages }, () => 200),
      ),
    );
    const module = { ...zstdCompression.worker!, level: 1 };
    const blocks = [{ name: enc.encode("ram"), byteOffset: 0, size: pages * PS }];
    const errors: Error[] = [];
    const sender = startChannelWorker({
      init: {
        role: "send",
        channel: 0,
        blocks: [{ ...blocks[0], shared: src }],
        compression: module,
      },
      onError: (e) => errors.push(e),
    });
    const receiver = startChannelWorker({
      init: {
        role: "recv",
        channel: 0,
        blocks: [{ ...blocks[0], shared: dst }],
        compression: module,
      },
      onError: (e) => errors.push(e),
    });
    await Promise.all([sender.ready, receiver.ready]);
    const order: number[] = [];
    for (let k = 0; k < pages / 128; k++) {
      const offsets = Float64Array.from({ length: 128 }, (_, i) => (k * 128 + i) * PS);
      sender.submit(
        {
          kind: "send",
          seq: k,
          flags: zstdCompression.flag,
          packetNum: k,
          block: 0,
          count: 128,
          offsets,
          pages: null,
        },
        [offsets.buffer],
        (r: FromWorker) => {
          if (r.kind !== "sent") throw new Error(r.kind);
          order.push(k);
          const packet = new Uint8Array(r.packet);
          const h = decodeMultifdPacketHeader(packet);
          expect(h.packetNum).toBe(k);
          const data = packet.slice(MULTIFD_PACKET_LEN).buffer;
          receiver.submit(
            {
              kind: "recv",
              seq: k,
              block: 0,
              normal: h.normalPages,
              zero: h.zeroPages,
              offsets: Float64Array.from(h.offsets),
              data,
              dataBytes: data.byteLength,
              out: null,
            },
            [data],
            () => order.push(100 + k),
          );
        },
      );
    }
    expect(sender.inFlight).toBe(2);
    await sender.idle();
    await receiver.idle();
    expect(errors).toEqual([]);
    // Each worker answers in submission order; a packet is applied after it was built.
    const at = (x: number): number => order.indexOf(x);
    expect([...order].sort((x, y) => x - y)).toEqual([0, 1, 100, 101]);
    expect(at(0) < at(1) && at(100) < at(101) && at(0) < at(100) && at(1) < at(101)).toBe(true);
    expect(Buffer.compare(new Uint8Array(src), new Uint8Array(dst))).toBe(0);
    await Promise.all([sender.close(), receiver.close()]);
    expect(() =>
      sender.submit(
        {
          kind: "send",
          seq: 9,
          flags: 0,
          packetNum: 9,
          block: 0,
          count: 0,
          offsets: new Float64Array(0),
          pages: null,
        },
        [],
        () => {},
      ),
    ).toThrow(/worker thread closed/);
  }, 60_000);

  it("a worker whose compression module is missing fails to start with a clear error", async () => {
    const errors: Error[] = [];
    const w = startChannelWorker({
      init: {
        role: "send",
        channel: 3,
        blocks: [],
        compression: { url: zlibCompression.worker!.url, exportName: "noSuchMethod", level: 1 },
      },
      onError: (e) => errors.push(e),
    });
    await expect(w.ready).rejects.toThrow(
      /multifd channel 3: worker thread did not start: .* has no multifd compression export "noSuchMethod"/,
    );
    expect(errors).toHaveLength(1);
    await w.close();
  }, 60_000);
});

/** Move `size` bytes of `kind` RAM through sender and receiver with workers, over loopback. */
async function socketsRoundTrip(
  kind: "array" | "shared",
  method: (typeof METHODS)[number],
  channels: number,
) {
  const size = 8 << 20;
  const src = createRamBackend(kind, size);
  src.bytes!.set(
    content(
      size / PS,
      Array.from({ length: size / PS }, (_, i) => i % 2 === 0),
      Array.from({ length: size / PS }, (_, i) => i * 13),
      Array.from({ length: size / PS }, (_, i) => 64 + (i % 512)),
    ),
  );
  const dst = createRamBackend(kind, size);
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const errors: Error[] = [];
  const receiver = new MultifdReceiver({
    channels,
    blocks: [{ name: "ram", size, backend: dst }],
    compact: false,
    compressions: [zlibCompression, zstdCompression],
    workers: true,
    onError: (e) => errors.push(e),
    onComplete: () => done(),
  });
  const server = createServer((s: Socket) => {
    s.pause();
    void isChannelSocket(s).then(() => receiver.attach(socketChannelSource(s, "test")));
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
  let zero = 0;
  let normal = 0;
  const sender = new MultifdSender({
    channels: sockets.map((s, i) => socketChannelSink(s, `ch${i}`)),
    scheduler: new RealtimeScheduler(),
    blocks: [{ name: "ram", size, backend: src } as unknown as RamRegion],
    compact: false,
    pageCostNs: 0,
    compression: method,
    level: 1,
    uuid: new Uint8Array(16),
    writer: new StreamWriter(() => {}, 1 << 16),
    onBytes: () => {},
    onError: (e) => errors.push(e),
    onPages: (z, n) => {
      zero += z;
      normal += n;
    },
  });
  expect(sender.threaded).toBe(true);
  for (let p = 0; p < size / PS; p++) {
    expect(sender.queue(0, p)).toBeNull();
    if ((p & 127) === 127) await sender.ready();
  }
  const flushes = sender.syncs + 1;
  const end = sender.finish();
  for (let i = 0; i < flushes; i++) receiver.mainFlush();
  await Promise.all([end, finished]);
  server.close();
  expect(errors).toEqual([]);
  expect(zero).toBe(size / PS / 2);
  expect(normal).toBe(size / PS / 2);
  expect(Buffer.compare(src.bytes!, dst.bytes!)).toBe(0);
}

describe("sender and receiver with worker threads over loopback sockets", () => {
  it("shared RAM, zlib, 2 channels: the destination RAM equals the source's", async () => {
    await socketsRoundTrip("shared", zlibCompression, 2);
  }, 60_000);
  it("array RAM (pages copied through pooled buffers), zstd, 3 channels", async () => {
    await socketsRoundTrip("array", zstdCompression, 3);
  }, 60_000);
  it("no compression, 1 channel (the worker sorts zero pages; the destination copies)", async () => {
    await socketsRoundTrip("array", null, 1);
  }, 60_000);
});

/** A static source machine in real time: array RAM, no vCPUs, tracks pause/resume. */
function staticMachine(size: number, bytes?: Uint8Array) {
  const memory = createAddressSpace();
  const backend: RamBackend = createRamBackend("array", size);
  if (bytes !== undefined) backend.bytes!.set(bytes);
  memory.addRam({ name: "ram", base: 0, size, backend });
  const m = {
    memory,
    vcpus: [],
    scheduler: new RealtimeScheduler(),
    state: "running" as string,
    pause() {
      m.state = "paused";
    },
    resume() {
      m.state = "running";
    },
    saveState: () => ({}),
    loadState() {},
  };
  return m as typeof m & MigratableMachine;
}

/** Migrate `src` to `dst` over a real-time link with 2 data channels (256 MiB/s, 0.1 ms). */
function migrateOverLink(
  mgr: ReturnType<typeof createMigrationManager>,
  src: ReturnType<typeof staticMachine>,
  dst: ReturnType<typeof staticMachine>,
) {
  const link = createLink({
    scheduler: src.scheduler,
    bandwidth: 256 << 20,
    latency: 1e5,
    channels: 2,
  });
  const inc = incoming({
    machine: dst,
    transport: link.destination,
    plugins: mgr.plugins,
    multifdChannels: 2,
  });
  return { inc, m: mgr.migrate({ machine: src, transport: link.source }) };
}

describe("a failing worker thread", () => {
  it("fails the migration with its error; the source keeps running; no worker is left", async () => {
    const size = 4 << 20;
    const src = staticMachine(
      size,
      content(size / PS, [], Array(size / PS).fill(9), Array(size / PS).fill(300)),
    );
    const dst = staticMachine(size);
    dst.state = "created";
    const failing: FerryPlugin = {
      name: "x-failing-multifd",
      capabilities: [{ name: "x-failing-multifd", description: "test", default: false }],
      compressions: [failingCompression],
      register(container) {
        container.register(PageChannels, {
          useValue: {
            name: "x-failing-multifd",
            capability: "x-failing-multifd",
            create: () => ({ channels: 2, compression: failingCompression, level: 1 }),
          },
        });
      },
    };
    const mgr = createMigrationManager({ plugins: [precopy(), failing] });
    mgr.setCapabilities({ "x-failing-multifd": true });
    mgr.setParameters({ "max-bandwidth": 0 });
    const { inc, m } = migrateOverLink(mgr, src, dst);
    const info = await new Promise<unknown>((resolve) => {
      m.events.on("failed", resolve);
      m.events.on("complete", resolve);
    });
    expect(info).toBeInstanceOf(Error);
    expect(m.status).toBe("failed");
    expect(m.error?.message).toMatch(/multifd channel \d: injected compressor failure/);
    expect(src.state).toBe("running");
    expect((await inc.done).status).toBe("failed");
    expect(dst.state).toBe("created");
  }, 60_000);
});

describe("the workers' lifecycle in a migration", () => {
  /** A real-time migration of a static 4 MiB guest over a link with 2 zlib channels. */
  function start() {
    const size = 4 << 20;
    const image = content(
      size / PS,
      Array.from({ length: size / PS }, (_, i) => i % 4 === 0),
      Array.from({ length: size / PS }, (_, i) => i),
      Array(size / PS).fill(500),
    );
    const src = staticMachine(size, image);
    const dst = staticMachine(size);
    dst.state = "created";
    const mgr = createMigrationManager({ plugins: [precopy(), multifd()] });
    mgr.setCapabilities({ multifd: true });
    mgr.setParameters({ "max-bandwidth": 0, "multifd-compression": "zlib" });
    const { inc, m } = migrateOverLink(mgr, src, dst);
    const ended = new Promise<void>((resolve) => {
      m.events.on("failed", () => resolve());
      m.events.on("complete", () => resolve());
    });
    return { src, dst, image, inc, m, ended };
  }

  it("completes with the destination's RAM equal; its workers end with it", async () => {
    const { dst, image, inc, m, ended } = start();
    await ended;
    expect(m.status, m.error?.message).toBe("completed");
    expect((await inc.done).status).toBe("completed");
    expect(Buffer.compare(dst.memory.ramRegions[0].backend.bytes!, image)).toBe(0);
    const ram = m.info().ram!;
    expect(ram.duplicate + ram.normal).toBeGreaterThanOrEqual(1024);
  }, 60_000);

  it("cancelled while its workers start: cancelled, the source running, no worker left", async () => {
    const { src, m, ended } = start();
    setTimeout(() => m.cancel(), 0);
    await ended;
    expect(m.status).toBe("cancelled");
    expect(src.state).toBe("running");
  }, 60_000);
});
