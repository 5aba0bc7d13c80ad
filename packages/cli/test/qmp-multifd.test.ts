/**
 * Multifd between two real `ferry run --realtime` processes driven through QMP: the source opens
 * the main connection plus `multifd-channels` data connections to the destination's one incoming
 * port, which tells them apart by their handshake; the page work (zero-page detection,
 * compression, decompression) runs on one worker thread per channel on each side; the destination
 * finishes the guest like an unmigrated run. Over TLS every data channel is secured with the
 * main channel's credentials, and an untrusted peer is refused.
 */
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { exitWithin, killAll, runFerrySync, startPair, TERMINAL } from "./qmp-helpers";

const CONFIG = "examples/configs/memtouch.yaml";
const GUEST = ["--set", "guest.args=[1MiB, 4096, 120, 64, 0, 20]"];
const PACED = ["--realtime", "--pace", "--set", "machine.mips=5", ...GUEST];
const TLS = resolve("packages/qmp/test/fixtures/tls");
const creds = (dir: string, endpoint: "server" | "client") =>
  `tls-creds-x509,id=tls0,dir=${join(TLS, dir)},endpoint=${endpoint}`;

afterEach(() => killAll());

type Pair = Awaited<ReturnType<typeof startPair>>;

/** Capability multifd and the channel parameters on both sides (QEMU's rule), then `migrate`. */
async function migrate(p: Pair, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { s, d, port } = p;
  const caps = {
    capabilities: [
      { capability: "multifd", state: true },
      { capability: "events", state: true },
    ],
  };
  for (const m of [s, d]) {
    await m.execute("migrate-set-capabilities", caps);
    await m.execute("migrate-set-parameters", params);
  }
  await s.execute("migrate-set-parameters", { "max-bandwidth": 4 << 20, "downtime-limit": 300 });
  await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
  const end = await s.waitEvent("MIGRATION", {
    match: (e) => TERMINAL.includes(String(e.data?.status)),
    timeoutMs: 90_000,
  });
  const info = (await s.execute("query-migrate")) as Record<string, unknown>;
  return { ...info, status: end.data?.status };
}

/** The guest finished on the destination as it does unmigrated; both processes exit 0. */
async function expectFinished(p: Pair, ref: string): Promise<void> {
  await p.d.waitEvent("SHUTDOWN", { timeoutMs: 60_000 });
  expect(await exitWithin(p.dst, 30_000)).toBe(0);
  await p.s.execute("quit");
  expect(await exitWithin(p.src, 30_000)).toBe(0);
  expect(p.src.stdout() + p.dst.stdout()).toBe(ref);
}

/** A TLS destination (server creds `good`) and a source with client creds from `clientDir`. */
async function startTlsPair(args: readonly string[], clientDir: string): Promise<Pair> {
  const pair = await startPair(CONFIG, args, {
    dst: ["--object", creds("good", "server")],
    src: ["--object", creds(clientDir, "client")],
  });
  const { s, d } = pair;
  for (const m of [s, d]) await m.execute("migrate-set-parameters", { "tls-creds": "tls0" });
  return pair;
}

describe("multifd between two ferry processes over QMP", () => {
  it("migrates over TCP with 4 zlib channels; the destination finishes it like an unmigrated run", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const p = await startPair(CONFIG, PACED);
    const info = await migrate(p, { "multifd-channels": 4, "multifd-compression": "zlib" });
    expect(info.status, JSON.stringify(info)).toBe("completed");
    const ram = info.ram as Record<string, number>;
    expect(ram["multifd-bytes"]).toBeGreaterThan(0);
    // the workers sorted every page: zero and normal pages are counted
    expect(ram.duplicate + ram.normal).toBeGreaterThanOrEqual(256);
    const mfd = info["x-multifd"] as Record<string, number>;
    expect(mfd.channels).toBe(4);
    expect(mfd["compression-ratio"]).toBeGreaterThan(2);
    for (let i = 0; i < 4; i++) expect(mfd[`channel-${i}-bytes`]).toBeGreaterThan(0);
    await expectFinished(p, ref.stdout);
  }, 300_000);

  it("migrates over TLS on every channel (zstd, shared RAM the workers read and write in place)", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const p = await startTlsPair([...PACED, "--set", "machine.ram-backend=shared"], "good");
    const info = await migrate(p, { "multifd-channels": 2, "multifd-compression": "zstd" });
    expect(info.status, JSON.stringify(info)).toBe("completed");
    const mfd = info["x-multifd"] as Record<string, number>;
    for (let i = 0; i < 2; i++) expect(mfd[`channel-${i}-bytes`]).toBeGreaterThan(0);
    await expectFinished(p, ref.stdout);
  }, 300_000);

  it("over TLS, a source with a certificate from another CA is refused; its guest keeps running", async () => {
    const p = await startTlsPair(PACED, "rogue");
    const info = await migrate(p, { "multifd-channels": 2, "multifd-compression": "none" });
    expect(info.status).toBe("failed");
    // the destination's reason, told on the main connection's return path
    expect(String(info["error-desc"])).toMatch(/certificate refused/);
    expect((await p.s.execute("query-status")).status).toBe("running");
    expect(await exitWithin(p.dst, 20_000)).toBe(1);
    expect(p.d.received.map((e) => e.event)).not.toContain("RESUME");
    expect(p.dst.stdout()).toBe("");
    await p.s.execute("quit");
    expect(await exitWithin(p.src, 30_000)).toBe(0);
  }, 180_000);

  it("over TLS, a data channel sent in the clear is refused and the destination never starts", async () => {
    const p = await startTlsPair(PACED, "good");
    const caps = { capabilities: [{ capability: "multifd", state: true }] };
    await p.d.execute("migrate-set-capabilities", caps);
    // a peer that speaks multifd without TLS: the MultiFDInit_t magic and version in the clear
    const hello = Buffer.alloc(64);
    hello.writeUInt32BE(0x11223344, 0);
    hello.writeUInt32BE(1, 4);
    await new Promise<void>((done) => {
      const c = connect({ host: "127.0.0.1", port: p.port }, () => c.write(hello));
      c.on("error", () => done());
      c.on("close", () => done());
    });
    expect(await exitWithin(p.dst, 20_000)).toBe(1);
    expect(p.dst.stderr()).toMatch(/TLS on 127\.0\.0\.1:\d+: /);
    expect(p.dst.stdout()).toBe("");
    await p.s.execute("quit");
    expect(await exitWithin(p.src, 30_000)).toBe(0);
  }, 180_000);
});
