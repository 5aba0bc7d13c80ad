/**
 * The machine's ceiling for the socket migration benchmark: Node itself moving 1 GiB of page
 * records over loopback TCP between two processes, with nothing of ferry in between. The sender
 * copies 4 KiB pages from a 1 GiB array behind 8-byte headers into 1 MiB buffers (as the stream
 * writer does) and writes them; the receiver copies every byte into its own 1 GiB array (as the
 * destination's loader does). Receivers:
 *
 * - `events`: `data` events — Node 20 allocates a 64 KiB buffer per read (what an accepted
 *   socket gets without {@link readIntoReusedBuffer});
 * - `reused`: reads into one reused 1 MiB buffer (Node's `onread` option on the socket it
 *   creates; what packages/migration/src/transport/socket-read-buffer.ts gives accepted ones).
 *
 * Printed per run: GB/s and the receiver's CPU time (user, system) and minor page faults.
 *
 *   node --import tsx bench/net-raw-loopback.ts [runs]
 */
import { spawn } from "node:child_process";
import { createConnection, createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { usageDelta, usageOf } from "./proc-usage";

const SIZE = 1 << 30;
const PAGE = 4096;
const BUFFER = 1 << 20;

/** Receive SIZE bytes (plus headers) on `socket` into a 1 GiB array; resolves with the usage. */
function receive(mode: string, port: number): Promise<void> {
  const ram = new Uint8Array(SIZE).fill(1);
  let off = 0;
  let got = 0;
  const consume = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; ) {
      const n = Math.min(b.length - i, ram.length - off);
      ram.set(b.subarray(i, i + n), off);
      off = (off + n) % ram.length;
      i += n;
    }
    got += b.length;
  };
  return new Promise((resolve) => {
    const t0 = performance.now();
    const u0 = usageOf("self");
    const socket: Socket =
      mode === "reused"
        ? createConnection({
            host: "127.0.0.1",
            port,
            onread: {
              buffer: Buffer.alloc(BUFFER),
              callback: (n, b) => {
                consume(b.subarray(0, n));
                return true;
              },
            },
          })
        : createConnection({ host: "127.0.0.1", port });
    if (mode !== "reused") socket.on("data", consume);
    socket.on("end", () => {
      const u = usageDelta(u0, usageOf("self"));
      const gbps = got / ((performance.now() - t0) * 1e6);
      console.log(JSON.stringify({ mode, gbps: Number(gbps.toFixed(3)), receiverUse: u }));
      resolve();
    });
  });
}

/** Serve one connection: send SIZE bytes of page records, then end. */
async function send(): Promise<number> {
  const ram = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i += PAGE) ram[i] = i >>> 12;
  const pool: Uint8Array[] = [];
  for (let i = 0; i < 32; i++) pool.push(new Uint8Array(BUFFER).fill(1));
  const server = createServer(async (s) => {
    let waiter: (() => void) | null = null;
    let buf = pool.pop()!;
    let pos = 0;
    for (let p = 0; p < SIZE / PAGE; p++) {
      if (pos + PAGE + 8 > buf.length) {
        const full = buf;
        s.write(full.subarray(0, pos), () => {
          pool.push(full);
          const w = waiter;
          waiter = null;
          w?.();
        });
        while (pool.length === 0) await new Promise<void>((r) => (waiter = r));
        buf = pool.pop()!;
        pos = 0;
      }
      buf[pos] = p;
      pos += 8;
      buf.set(ram.subarray(p * PAGE, p * PAGE + PAGE), pos);
      pos += PAGE;
    }
    s.end(buf.subarray(0, pos), () => server.close());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as { port: number }).port;
}

if (process.argv[2] === "--send") {
  const port = await send();
  console.log(port);
} else {
  const runs = Number(process.argv[2] ?? 2);
  const self = fileURLToPath(import.meta.url);
  for (let r = 0; r < runs; r++) {
    for (const mode of ["events", "reused"]) {
      const sender = spawn(process.execPath, ["--import", "tsx", self, "--send"], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const port = await new Promise<number>((res) =>
        sender.stdout!.once("data", (b: Buffer) => res(Number(b.toString().trim()))),
      );
      await receive(mode, port);
      await new Promise((res) => sender.once("exit", res));
    }
  }
}
