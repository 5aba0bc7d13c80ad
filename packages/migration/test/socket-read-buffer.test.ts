import { createHash, randomBytes } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { peekSocketMagic, socketSource } from "../src/index";
import {
  readIntoReusedBuffer,
  SOCKET_READ_BUFFER_BYTES,
} from "../src/transport/socket-read-buffer";
import { tlsPair } from "./tls-pair";

let server: Server | null = null;
afterEach(async () => {
  const s = server;
  server = null;
  if (s !== null) await new Promise<void>((r) => s.close(() => r()));
});

/** A connection: the accepted end (paused, as the migration listener leaves it) and the client. */
async function accepted(): Promise<{ peer: Socket; client: Socket }> {
  const peer = new Promise<Socket>((resolve) => {
    server = createServer((s) => {
      s.pause();
      resolve(s);
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  const port = (server!.address() as { port: number }).port;
  const client = createConnection({ host: "127.0.0.1", port });
  await new Promise<void>((r) => client.once("connect", () => r()));
  return { peer: await peer, client };
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("readIntoReusedBuffer: an accepted socket read as Node's onread option reads", () => {
  it("delivers every byte in order, what was buffered before the switch first, from one buffer", async () => {
    const { peer, client } = await accepted();
    await readsAllIntoOneBuffer(peer, client, randomBytes(24 << 20), 100_000);
    peer.destroy();
  });

  it("reads a TLS socket's decrypted bytes into the one buffer too", async () => {
    const tls = await tlsPair();
    server = tls.server;
    // No Buffer per TLS record: the same one buffer.
    await readsAllIntoOneBuffer(tls.peer, tls.client, randomBytes(6 << 20), 50_000);
    tls.peer.destroy();
    tls.client.destroy();
  });
});

/**
 * Send `data` from `client` to the paused accepted `peer`: its first `head` bytes before the
 * switch (peeked, as a destination does), the rest after. Checks that the switch happens, that
 * what the socket held came at once, that every byte arrives in order before `end`, and that every
 * read after the switch landed in the one reused buffer.
 */
async function readsAllIntoOneBuffer(
  peer: Socket,
  client: Socket,
  data: Buffer,
  head: number,
): Promise<void> {
  client.write(data.subarray(0, head));
  expect(await peekSocketMagic(peer)).toBe(data.readUInt32BE(0));
  const copies: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  let delivered = 0;
  const switched = readIntoReusedBuffer(peer, (chunk) => {
    // Valid only during the call: kept as a copy.
    copies.push(Buffer.from(chunk));
    if (delivered > 0) buffers.add(chunk.buffer);
    delivered += chunk.length;
  });
  expect(switched).toBe(true);
  // What the socket held at the switch (at least the peeked 4 bytes) came at once.
  expect(delivered).toBeGreaterThanOrEqual(4);
  const ended = new Promise<number>((r) => peer.once("end", () => r(delivered)));
  peer.resume();
  client.end(data.subarray(head));
  // `end` still comes, after the last byte.
  expect(await ended).toBe(data.length);
  expect(sha(Buffer.concat(copies))).toBe(sha(data));
  // Every read after the switch landed in the same reused buffer, up to its size at a time.
  expect(buffers.size).toBe(1);
  expect([...buffers][0]!.byteLength).toBe(SOCKET_READ_BUFFER_BYTES);
}

describe("socketSource over an accepted socket", () => {
  it("hands the loader every byte, in order, then the end; the source's bytes are acknowledged", async () => {
    const { peer, client } = await accepted();
    const data = randomBytes(8 << 20);
    client.write(data.subarray(0, 10));
    await peekSocketMagic(peer);
    const source = socketSource(peer, "test");
    const copies: Buffer[] = [];
    const ended = new Promise<void>((resolve) => {
      source.receive({
        data: (chunk) => {
          copies.push(Buffer.from(chunk));
        },
        end: () => resolve(),
        error: (e) => {
          throw e;
        },
      });
    });
    client.end(data.subarray(10));
    await ended;
    expect(sha(Buffer.concat(copies))).toBe(sha(data));
    expect(source.returnPath!.received.bytes).toBe(data.length);
    client.destroy();
  });
});
