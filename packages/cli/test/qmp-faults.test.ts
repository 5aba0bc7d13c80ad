/**
 * Network faults with real `ferry run --realtime` processes, each bounded in time: a frozen
 * (SIGSTOPped) destination, an idle half-sent connection, a stream of the wrong version, a
 * truncated stream and a connection reset mid-migration (a proxy between source and destination
 * cuts the stream). In every case: the source keeps its guest running, the destination never
 * starts the guest and exits 1, both report the error (query-migrate `failed` + `error-desc`,
 * the MIGRATION event, stderr).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { STREAM_MAGIC, STREAM_VERSION } from "@ferry/migration";
import { afterEach, describe, expect, it } from "vitest";
import { captureIo } from "../src/io";
import { main } from "../src/main";
import {
  exitWithin,
  type FerryProcess,
  freePort,
  killAll,
  monitor,
  socketDir,
  spawnFerry,
  TERMINAL,
  waitForSocket,
  waitForStderr,
} from "./qmp-helpers";

const CONFIG = "examples/configs/memtouch.yaml";
/** A guest that runs long and dirties faster than the rate limit: the migration never ends by itself. */
const LONG = [
  "--realtime",
  "--pace",
  "--set",
  "machine.mips=5",
  "--set",
  "guest.args=[1MiB, 4096, 100000, 64, 0, 0]",
];
/**
 * An unpaced guest rewriting whole pages of a 32 MiB working set: it dirties faster than any
 * link, and its bulk pass is larger than every buffer between the two processes
 * (the kernel's socket buffers, the source's 4 MiB send queue), so a destination that stops
 * reading stalls the source before the end of the stream, however fast the link was until then.
 */
const FAST_BIG = [
  "--realtime",
  "--set",
  "machine.memory=64MiB",
  "--set",
  "guest.args=[32MiB, 4096, 100000000, 1024, 0, 1]",
];
const EVENTS = { capabilities: [{ capability: "events", state: true }] };

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  killAll();
});

/** A destination listening on TCP with a monitor; resolves once it waits. */
async function startDestination(port: number, args: readonly string[] = LONG) {
  const dstSock = join(socketDir(), "dst.sock");
  const dst = spawnFerry([
    "run",
    CONFIG,
    ...args,
    "--qmp",
    `unix:${dstSock}`,
    "--incoming",
    `tcp:127.0.0.1:${port}`,
  ]);
  await waitForStderr(dst, "waiting for an incoming migration");
  const d = await monitor(dstSock);
  await d.execute("migrate-set-capabilities", EVENTS);
  return { dst, d };
}

/** A source with a slow, never-converging migration set up (64 KiB/s; switchover assumed at 1 B/s). */
async function startSource(args: readonly string[] = LONG) {
  const srcSock = join(socketDir(), "src.sock");
  const src = spawnFerry(["run", CONFIG, ...args, "--qmp", `unix:${srcSock}`]);
  await waitForSocket(srcSock, src);
  const s = await monitor(srcSock);
  await s.execute("migrate-set-capabilities", EVENTS);
  await s.execute("migrate-set-parameters", {
    "max-bandwidth": 64 << 10,
    "avail-switchover-bandwidth": 1,
  });
  return { src, s };
}

/** The destination failed cleanly: MIGRATION failed, never RESUME, no guest output, exit 1. */
async function expectDestinationFailed(
  dst: FerryProcess,
  d: Awaited<ReturnType<typeof monitor>>,
  why: RegExp,
): Promise<void> {
  expect(await exitWithin(dst, 30_000)).toBe(1);
  expect(dst.stderr()).toMatch(why);
  expect(d.received.map((e) => `${e.event}:${String(e.data?.status ?? "")}`)).toContain(
    "MIGRATION:failed",
  );
  expect(d.received.map((e) => e.event)).not.toContain("RESUME");
  expect(dst.stdout()).toBe("");
}

/** The source failed the migration naming `why` and still runs its guest. */
async function expectSourceFailedRunning(
  s: Awaited<ReturnType<typeof monitor>>,
  src: FerryProcess,
  why: RegExp,
): Promise<void> {
  const end = await s.waitEvent("MIGRATION", {
    match: (e) => TERMINAL.includes(String(e.data?.status)),
    timeoutMs: 60_000,
  });
  expect(end.data?.status).toBe("failed");
  const info = await s.execute("query-migrate");
  expect(info.status).toBe("failed");
  expect(info["error-desc"]).toMatch(why);
  expect((await s.execute("query-status")).status).toBe("running");
  await s.execute("quit");
  expect(await exitWithin(src, 30_000)).toBe(0);
}

/**
 * A proxy on a free port forwarding to `target` in both directions until `cutAfter` bytes of the
 * stream went through, then `cut(client, upstream)`.
 */
async function proxy(
  target: number,
  cutAfter: number,
  cut: (client: Socket, upstream: Socket) => void,
): Promise<number> {
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: target });
    let forwarded = 0;
    let done = false;
    client.on("data", (b: Buffer) => {
      if (done) return;
      const room = cutAfter - forwarded;
      upstream.write(b.length > room ? b.subarray(0, room) : b);
      forwarded += Math.min(b.length, room);
      if (forwarded >= cutAfter) {
        done = true;
        cut(client, upstream);
      }
    });
    upstream.on("data", (b: Buffer) => {
      if (!done) client.write(b);
    });
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => server.close());
  return (server.address() as { port: number }).port;
}

describe("peer timeouts (x-peer-timeout)", () => {
  it("a frozen (SIGSTOPped) destination: the source fails after the timeout and keeps running; the destination never starts", async () => {
    const port = await freePort();
    const { dst, d } = await startDestination(port, FAST_BIG);
    const { src, s } = await startSource(FAST_BIG);
    expect((await s.execute("query-migrate-parameters"))["x-peer-timeout"]).toBe(30_000);
    // Unlimited bandwidth, and a switchover bandwidth (1 B/s) no pass can meet: the stream does
    // not end while the guest dirties, and the socket buffers fill at once when the destination
    // stops reading (its bulk pass alone is larger than they are).
    await s.execute("migrate-set-parameters", {
      "x-peer-timeout": 2000,
      "max-bandwidth": 0,
      "avail-switchover-bandwidth": 1,
    });
    // Let the guest dirty its whole working set first (it prints every pass).
    for (let i = 0; i < 600 && !src.stdout().includes("pass 2 "); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(src.stdout()).toContain("pass 2 ");
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    await d.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "active",
      timeoutMs: 30_000,
    });
    dst.kill("SIGSTOP");
    cleanups.push(() => dst.kill("SIGCONT"));
    const started = Date.now();
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 60_000,
    });
    expect(end.data?.status, JSON.stringify(await s.execute("query-migrate"))).toBe("failed");
    // The socket buffers fill first, then 2 s of silence: far less than the 30 s default.
    expect(Date.now() - started).toBeLessThan(25_000);
    expect((await s.execute("query-migrate"))["error-desc"]).toMatch(
      /no progress from the destination for 2000 ms \(x-peer-timeout\)/,
    );
    expect(
      (await s.execute("query-status")).status,
      JSON.stringify(await s.execute("query-migrate")),
    ).toBe("running");
    // Thawed, the destination finds the connection gone and fails without starting the guest.
    dst.kill("SIGCONT");
    await expectDestinationFailed(
      dst,
      d,
      /incoming migration failed: .*(connection|closed|reset|truncated)/i,
    );
    await s.execute("quit");
    expect(await exitWithin(src, 30_000)).toBe(0);
  }, 240_000);

  it("an idle half-sent connection: the destination fails after its timeout and exits 1", async () => {
    const port = await freePort();
    // The destination's timeout from the command line (`--peer-timeout`).
    const { dst, d } = await startDestination(port, [...LONG, "--peer-timeout", "1.5s"]);
    expect((await d.execute("query-migrate-parameters"))["x-peer-timeout"]).toBe(1500);
    const sock = createConnection({ host: "127.0.0.1", port });
    cleanups.push(() => sock.destroy());
    sock.on("error", () => {});
    await new Promise((r) => sock.once("connect", r));
    // A valid stream header, then nothing.
    const header = Buffer.alloc(8);
    header.writeUInt32BE(STREAM_MAGIC, 0);
    header.writeUInt32BE(STREAM_VERSION, 4);
    sock.write(header);
    await expectDestinationFailed(dst, d, /no data from the source for 1500 ms \(x-peer-timeout\)/);
  }, 120_000);
});

describe("--peer-timeout", () => {
  it.each([
    ["0.05s", /--peer-timeout "0.05s": expected a duration from 100ms to 24h, found 50 ms/],
    ["soon", /--peer-timeout "soon": expected a duration/],
  ])("%s exits 2 naming the problem", async (value, why) => {
    const io = captureIo();
    expect(await main(["run", CONFIG, "--realtime", "--peer-timeout", value], io)).toBe(2);
    expect(io.stderr().split("\n")[0]).toMatch(why);
  });
});

describe("bad streams and broken connections", () => {
  it("a stream of the wrong version: refused at its version field, exit 1", async () => {
    const port = await freePort();
    const { dst, d } = await startDestination(port);
    const sock = createConnection({ host: "127.0.0.1", port });
    cleanups.push(() => sock.destroy());
    sock.on("error", () => {});
    await new Promise((r) => sock.once("connect", r));
    const header = Buffer.alloc(8);
    header.writeUInt32BE(STREAM_MAGIC, 0);
    header.writeUInt32BE(0x7fff, 4);
    sock.write(header);
    await expectDestinationFailed(
      dst,
      d,
      /incoming migration failed: migration stream error at byte 4: unsupported stream version 32767/,
    );
  }, 120_000);

  it("a truncated stream (the connection ends cleanly mid-stream): the destination refuses it, the source keeps running", async () => {
    const port = await freePort();
    const { dst, d } = await startDestination(port);
    const { src, s } = await startSource();
    const via = await proxy(port, 16 << 10, (client, upstream) => {
      upstream.end();
      client.destroy();
    });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${via}` });
    await expectDestinationFailed(
      dst,
      d,
      /incoming migration failed: .*(truncated|closed before end of stream)/,
    );
    await expectSourceFailedRunning(s, src, /connection dropped|closed|reset/);
  }, 240_000);

  it("a connection reset mid-migration: both sides fail, the source keeps running", async () => {
    const port = await freePort();
    const { dst, d } = await startDestination(port);
    const { src, s } = await startSource();
    const via = await proxy(port, 16 << 10, (client, upstream) => {
      upstream.resetAndDestroy();
      client.resetAndDestroy();
    });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${via}` });
    await expectDestinationFailed(
      dst,
      d,
      /incoming migration failed: .*(reset|closed|dropped|truncated)/i,
    );
    await expectSourceFailedRunning(s, src, /connection dropped|reset/);
  }, 240_000);
});
