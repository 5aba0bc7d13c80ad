import { randomBytes } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  crc32Js,
  createFletcher64Js,
  digestKindOf,
  GatherSpans,
  SOCKET_QUEUE_HIGH_BYTES,
  SOCKET_QUEUE_LOW_BYTES,
  SOCKET_STAGE_BYTES,
  socketChannelSink,
  socketSink,
  socketSource,
  type OutgoingTransport,
} from "../src/index";
import { tlsPair } from "./tls-pair";

/** What the tally of `data` must say: Fletcher-64 after a version-2 header, else CRC-32 (hex). */
function streamDigest(data: Uint8Array): string {
  if (data.length >= 8 && digestKindOf(data) === "fletcher64") {
    const f = createFletcher64Js();
    f.add(data);
    return f.hex();
  }
  return crc32Js(data).toString(16).padStart(8, "0");
}

let server: Server | null = null;
afterEach(async () => {
  const s = server;
  server = null;
  if (s !== null) await new Promise<void>((r) => s.close(() => r()));
});

/** A connected pair: the sink over a client socket whose writes are counted, and what the peer read. */
async function pair(): Promise<{
  sink: OutgoingTransport;
  socket: Socket;
  writes: number[];
  received: () => Buffer;
  wait: (n: number) => Promise<void>;
  peerPause: () => void;
  peerResume: () => void;
  /** Wait until the peer read `data`'s length; check it got `data` and the tally counted it. */
  delivered: (data: Buffer) => Promise<void>;
  /** Abort the sink and wait for the socket to close. */
  close: (sink?: OutgoingTransport) => Promise<void>;
}> {
  const chunks: Buffer[] = [];
  let total = 0;
  let waiter: { n: number; resolve: () => void } | null = null;
  let peerSocket: Socket | null = null;
  const peer = new Promise<void>((resolve) => {
    server = createServer((s) => {
      peerSocket = s;
      s.on("data", (b: Buffer) => {
        chunks.push(b);
        total += b.length;
        if (waiter !== null && total >= waiter.n) waiter.resolve();
      });
      resolve();
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  const port = (server!.address() as { port: number }).port;
  const socket = createConnection({ host: "127.0.0.1", port });
  await new Promise<void>((r) => socket.once("connect", () => r()));
  await peer;
  const writes: number[] = [];
  const write = socket.write.bind(socket) as (b: Uint8Array, cb?: () => void) => boolean;
  (socket as unknown as { write: typeof write }).write = (b, cb) => {
    writes.push(b.length);
    return write(b, cb);
  };
  const sink = socketSink(socket, "test");
  const wait = (n: number): Promise<void> =>
    total >= n ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { n, resolve }));
  return {
    sink,
    socket,
    writes,
    received: () => Buffer.concat(chunks),
    wait,
    peerPause: () => peerSocket!.pause(),
    peerResume: () => peerSocket!.resume(),
    delivered: async (data) => {
      await wait(data.length);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      expect(sink.returnPath!.sent.bytes).toBe(data.length);
      expect(sink.returnPath!.sent.digest).toBe(streamDigest(data));
    },
    close: async (s = sink) => {
      s.abort(new Error("done"));
      await new Promise((r) => socket.once("close", r));
    },
  };
}

describe("socket sink: coalesced, pooled writes", () => {
  it("many small writes reach the peer byte-identical in few large socket writes", async () => {
    const p = await pair();
    const data = randomBytes(3 * SOCKET_STAGE_BYTES + 12_345);
    // The writer reuses its buffer: the sink must copy, so scribble over each chunk after writing.
    const scratch = new Uint8Array(997);
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = Math.min(i % 2 === 0 ? 5 : scratch.length, data.length - off);
      scratch.set(data.subarray(off, off + n));
      p.sink.write(scratch.subarray(0, n));
      scratch.fill(0xee);
      off += n;
    }
    await p.delivered(data);
    // Full staging buffers go at once, the tail when the sender yields: four writes, not ~6000.
    expect(p.writes).toEqual([SOCKET_STAGE_BYTES, SOCKET_STAGE_BYTES, SOCKET_STAGE_BYTES, 12_345]);
    await p.close();
  });

  it("a large write is cut into staging-buffer writes and keeps its order", async () => {
    const p = await pair();
    const big = randomBytes(2 * SOCKET_STAGE_BYTES + 100);
    const small = randomBytes(10);
    p.sink.write(small);
    p.sink.write(big);
    await p.delivered(Buffer.concat([small, big]));
    expect(p.writes).toEqual([SOCKET_STAGE_BYTES, SOCKET_STAGE_BYTES, 110]);
    await p.close();
  });

  it("reports backpressure once its queue reaches the high mark; drain waits for the low mark", async () => {
    const p = await pair();
    try {
      p.peerPause();
      const chunk = randomBytes(64 << 10);
      let written = 0;
      // The kernel takes what fits in its buffers; then full staging buffers queue in the socket.
      while (!p.sink.backedUp) {
        // Below the high mark the sender goes on (the socket's own 16 KiB mark is long passed).
        p.sink.write(chunk);
        written += chunk.length;
        expect(written).toBeLessThan(256 << 20);
      }
      expect(p.socket.writableLength).toBeGreaterThanOrEqual(SOCKET_QUEUE_HIGH_BYTES);
      let drained = false;
      const d = p.sink.drain().then(() => (drained = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(drained).toBe(false); // nobody reads: the queue stays full
      p.peerResume();
      await d;
      // Woken once the queue is down to the low mark (or below).
      expect(p.socket.writableLength).toBeLessThanOrEqual(SOCKET_QUEUE_LOW_BYTES);
      expect(p.sink.backedUp).toBe(false);
      await p.wait(written);
      expect(p.received().length).toBe(written);
    } finally {
      p.sink.abort(new Error("done"));
    }
  });

  it("a drain waiting on a full queue ends with the connection's error when it drops", async () => {
    const p = await pair();
    p.peerPause();
    const chunk = randomBytes(256 << 10);
    while (!p.sink.backedUp) p.sink.write(chunk);
    const d = p.sink.drain();
    p.socket.destroy(new Error("cable cut"));
    await expect(d).rejects.toThrow(/connection dropped \(cable cut\)/);
    p.peerResume(); // the peer reads on, sees the end and closes (the server can close)
  });
});

/**
 * One gathered write as the stream writer makes it: `pages` pages of `ram` from page `first`,
 * each after an 8-byte header in `own`. Returns the bytes the peer must receive for it.
 */
function gather(sink: OutgoingTransport, ram: Uint8Array, first: number, pages: number): Buffer {
  const own = new Uint8Array(8 * pages + 3);
  const spans = new GatherSpans(pages);
  const expected: Buffer[] = [];
  for (let i = 0; i < pages; i++) {
    own.fill(i + 1, 8 * i, 8 * i + 8);
    expected.push(Buffer.from(own.subarray(8 * i, 8 * i + 8)));
    spans.at[i] = 8 * (i + 1);
    spans.src[i] = ram;
    spans.off[i] = (first + i) * 4096;
    spans.len[i] = 4096;
    spans.count++;
    expected.push(Buffer.from(ram.subarray((first + i) * 4096, (first + i + 1) * 4096)));
  }
  own.fill(0xab, 8 * pages);
  expected.push(Buffer.from(own.subarray(8 * pages)));
  sink.writeGather!(own, spans);
  return Buffer.concat(expected);
}

describe("socket sink: gathered writes (pages by reference)", () => {
  it("go straight to the kernel, after what was staged before them, without a socket write", async () => {
    const p = await pair();
    const ram = randomBytes(64 * 4096);
    const small = randomBytes(10);
    p.sink.write(small);
    const a = gather(p.sink, ram, 0, 32);
    const b = gather(p.sink, ram, 32, 32);
    await p.delivered(Buffer.concat([small, a, b]));
    // Only the staged bytes went through the socket's own write; the pages went by writev.
    expect(p.writes).toEqual([small.length]);
    await p.close();
  });

  it("a smaller gathered write after a larger one carries only its own pieces", async () => {
    // (The sink reuses its list of pieces from call to call.)
    const p = await pair();
    const sizes = [100, 3, 0, 64, 1, 27];
    const ram = randomBytes(256 * 4096);
    const expected: Buffer[] = [];
    let first = 0;
    for (const n of sizes) {
      expected.push(gather(p.sink, ram, first, n));
      first += n;
    }
    await p.delivered(Buffer.concat(expected));
    expect(p.writes).toEqual([]);
    await p.close();
  });

  it("digested, what the kernel does not take at once is copied: the pages may change as soon as the call returns", async () => {
    const p = await pair();
    try {
      p.peerPause();
      const ram = new Uint8Array(256 * 4096);
      const expected: Buffer[] = [];
      let n = 0;
      // Far more than the kernel's buffers hold while nobody reads.
      for (let round = 0; n < 48 << 20; round++) {
        ram.set(randomBytes(ram.length));
        const e = gather(p.sink, ram, 0, 256);
        expected.push(e);
        n += e.length;
        ram.fill(round & 0xff); // the guest stores right after the call
      }
      expect(p.writes.length).toBeGreaterThan(0); // the copy path ran
      p.peerResume();
      await p.wait(n);
      expect(p.received().equals(Buffer.concat(expected))).toBe(true);
      expect(p.sink.returnPath!.sent.bytes).toBe(n);
    } finally {
      p.sink.abort(new Error("done"));
    }
  });

  it("count-only, what the kernel does not take is queued by reference: the wire carries the pages as they are when sent", async () => {
    const p = await pair();
    try {
      p.sink.returnPath!.countOnly!();
      p.peerPause();
      const ram = new Uint8Array(256 * 4096);
      const rounds: number[] = [];
      let n = 0;
      for (let round = 1; n < 48 << 20; round++) {
        ram.fill(round);
        n += gather(p.sink, ram, 0, 256).length;
        rounds.push(round);
      }
      // The guest stores into every page after the last call; nothing was copied but headers.
      ram.fill(0xee);
      p.peerResume();
      await p.wait(n);
      const got = p.received();
      expect(got.length).toBe(n);
      expect(p.sink.returnPath!.sent.bytes).toBe(n);
      // Per call: 256 × (8-byte header + page), then 3 bytes. Headers always as written; a page
      // holds its round's value (the kernel took it during the call) or 0xee (by reference).
      const perCall = 256 * (8 + 4096) + 3;
      const seen = new Set<string>();
      for (let c = 0; c < rounds.length; c++) {
        for (let i = 0; i < 256; i++) {
          const h = c * perCall + i * 4104;
          expect(got[h]).toBe((i + 1) & 0xff);
          const v = got[h + 8 + 100];
          expect(v === rounds[c] || v === 0xee).toBe(true);
          seen.add(v === 0xee ? "ref" : "taken");
        }
      }
      expect([...seen].sort()).toEqual(["ref", "taken"]);
    } finally {
      p.peerResume();
      p.sink.abort(new Error("done"));
    }
  });

  it("a TLS sink takes no pages by reference (its writer fills whole buffers instead)", async () => {
    const tls = await tlsPair(false);
    server = tls.server;
    try {
      expect(socketSink(tls.client, "tls").writeGather).toBeUndefined();
    } finally {
      tls.client.destroy();
      tls.peer.destroy();
      await new Promise<void>((r) => server!.close(() => r()));
      server = null;
    }
    const plain = await pair();
    expect(plain.sink.writeGather).toBeTypeOf("function");
    plain.socket.destroy();
  });
});

describe("socket channel sink (multifd, post-copy preempt)", () => {
  it("sends what the chunk held at the call, though the caller reuses it at once", async () => {
    const p = await pair();
    p.peerPause();
    const sink = socketChannelSink(p.socket, "channel");
    // More than the kernel takes at once from a paused peer: the rest waits in libuv.
    const buf = randomBytes(16 << 20);
    const sent = Buffer.from(buf);
    sink.write(buf);
    buf.fill(0);
    p.peerResume();
    await p.wait(sent.length);
    expect(p.received().equals(sent)).toBe(true);
    await p.close(sink);
  });
});

describe("stream digest over TLS", () => {
  it("TLS connections count bytes without a digest on both ends; plain TCP digests", async () => {
    const tls = await tlsPair(true);
    server = tls.server;
    const { client, peer } = tls;
    try {
      const sink = socketSink(client, "tls");
      const source = socketSource(peer, "tls");
      expect(sink.returnPath!.sent.digested).toBe(false);
      expect(source.returnPath!.received.digested).toBe(false);
      // Buffers queued behind a write in flight go to the TLS layer one by one (a writev would be
      // copied into one buffer first), and arrive whole and in order.
      expect((client as unknown as { _writev: unknown })._writev).toBeNull();
      const got: Buffer[] = [];
      let n = 0;
      const all = new Promise<void>((resolve) => {
        source.receive({
          data: (c) => {
            got.push(Buffer.from(c));
            n += c.length;
            if (n === 8 << 20) resolve();
          },
          end: () => {},
          error: () => {},
        });
      });
      const data = randomBytes(8 << 20);
      let buf: Uint8Array = new Uint8Array(1 << 20);
      for (let off = 0; off < data.length; off += 1 << 20) {
        buf.set(data.subarray(off, off + (1 << 20)));
        buf = sink.writeOwned!(buf);
      }
      await all;
      expect(Buffer.concat(got).equals(data)).toBe(true);
    } finally {
      client.destroy();
      peer.destroy();
      await new Promise<void>((r) => server!.close(() => r()));
      server = null;
    }
    // The same transports over plain TCP digest.
    const plain = await pair();
    expect(plain.sink.returnPath!.sent.digested).toBe(true);
    plain.socket.destroy();
  });
});
