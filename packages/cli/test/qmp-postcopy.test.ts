/**
 * Post-copy between two real `ferry` processes through QMP: `migrate-start-postcopy` during the
 * migration over TCP, the destination runs the guest before it has every page (faulting the rest
 * in over the socket's return path), and ends it with the output and exit code of an unmigrated
 * run; the connection cut mid-post-copy (a proxy severed, then `migrate-pause`), both sides
 * `postcopy-paused`, `migrate-recover` + `migrate … resume` over a new connection; and
 * `postcopy-preempt` (a second connection, re-established after a recovery). Also QEMU's refusals
 * of `migrate-start-postcopy`, `migrate-pause`, `migrate-recover` and `migrate` resume.
 *
 * The stream crosses a proxy in the test (tcp-proxy.ts). A slow one (40 KiB/s) makes post-copy
 * last seconds, so the guest on the destination faults; before a cut the test holds the proxy
 * (the migration cannot complete while held) and checks both sides, so nothing races the cut.
 */
import { join, resolve } from "node:path";
import type { QmpClient, QmpSpecs } from "@ferry/qmp";
import { afterEach, describe, expect, it } from "vitest";
import {
  exitWithin,
  freePort,
  killAll,
  monitor,
  runFerrySync,
  socketDir,
  spawnFerry,
  startPair,
  TERMINAL,
  waitForSocket,
  waitForStderr,
} from "./qmp-helpers";
import { startProxy, type TcpProxy } from "./tcp-proxy";

const CONFIG = "examples/configs/memtouch.yaml";
/** memtouch: 1 MiB working set, 30 passes, whole pages, print every 10. */
const GUEST = ["--set", "guest.args=[1MiB, 4096, 30, 1024, 0, 10]"];
/** Paced to 5 MIPS so the guest's length does not depend on the machine's load. */
const PACED = ["--realtime", "--pace", "--set", "machine.mips=5", ...GUEST];

/** 2 MiB of RAM: with `x-page-cost-ns` at 8 ms a page the background push lasts 4 s. */
const SMALL = ["--set", "machine.memory=2MiB"];
const TLS = resolve("packages/qmp/test/fixtures/tls");

const proxies: TcpProxy[] = [];
afterEach(async () => {
  killAll();
  for (const p of proxies.splice(0)) await p.close();
});

type Monitor = QmpClient<QmpSpecs>;

const POSTCOPY_CAPS = {
  capabilities: [
    { capability: "postcopy-ram", state: true },
    { capability: "events", state: true },
  ],
};

/** query-migrate's status. */
async function status(m: Monitor): Promise<string> {
  return String(((await m.execute("query-migrate")) as Record<string, unknown>).status);
}

/** Wait for a MIGRATION event with `state` received after event number `since`. */
function migrationEvent(m: Monitor, state: string, since = 0, timeoutMs = 60_000) {
  return m.waitEvent("MIGRATION", {
    match: (e) => e.data?.status === state,
    since,
    timeoutMs,
  });
}

/**
 * A slow proxy in front of `port` (`kib` KiB/s towards the destination, default 40), closed after
 * the test.
 */
async function slowProxy(port: number, kib = 40): Promise<TcpProxy> {
  const p = await startProxy(port, { bytesPerTick: kib * 50, tickMs: 50 });
  proxies.push(p);
  return p;
}

/** A proxy that only forwards (16 MiB/s), for its hold and sever. */
async function fastProxy(port: number): Promise<TcpProxy> {
  const p = await startProxy(port, { bytesPerTick: 160 << 10, tickMs: 10, maxQueued: 1 << 20 });
  proxies.push(p);
  return p;
}

/** Both sides go `postcopy-paused` (events after `sinceS` / `sinceD`, then query-migrate). */
async function bothPaused(s: Monitor, d: Monitor, sinceS: number, sinceD: number): Promise<void> {
  await migrationEvent(s, "postcopy-paused", sinceS);
  await migrationEvent(d, "postcopy-paused", sinceD);
  expect(await status(s)).toBe("postcopy-paused");
  expect(await status(d)).toBe("postcopy-paused");
}

/** The source's migration ends; its query-migrate. */
async function migrationEnd(s: Monitor): Promise<Record<string, unknown>> {
  const end = await s.waitEvent("MIGRATION", {
    match: (e) => TERMINAL.includes(String(e.data?.status)),
    timeoutMs: 120_000,
  });
  const info = (await s.execute("query-migrate")) as Record<string, unknown>;
  expect(end.data?.status, JSON.stringify(info)).toBe("completed");
  return info;
}

/** The destination ends the guest (exit 0), the source quits; outputs as the unmigrated run. */
async function guestEndsOnDestination(
  pair: Awaited<ReturnType<typeof startPair>>,
  ref: { stdout: string },
): Promise<void> {
  const { dst, src, s, d } = pair;
  await d.waitEvent("SHUTDOWN", { timeoutMs: 120_000 });
  expect(await exitWithin(dst, 30_000)).toBe(0);
  await s.execute("quit");
  expect(await exitWithin(src, 30_000)).toBe(0);
  // The source never ran the guest after the switch: its output stops there.
  expect(src.stdout() + dst.stdout()).toBe(ref.stdout);
}

/**
 * The destination's fault figures (query-migrate on the destination; latency in ns, blocktime in
 * ms): mean ≤ p99 ≤ max; with `slow`, faults waited long enough to count whole milliseconds.
 */
function expectFaultFigures(dinfo: Record<string, unknown>, slow: boolean): void {
  const all = JSON.stringify(dinfo);
  const mean = dinfo["postcopy-latency"] as number;
  const p99 = dinfo["x-postcopy-latency-p99"] as number;
  const max = dinfo["x-postcopy-latency-max"] as number;
  expect(mean, all).toBeGreaterThan(0);
  expect(p99, all).toBeGreaterThanOrEqual(mean * 0.999);
  expect(max, all).toBeGreaterThanOrEqual(p99);
  const perVcpu = dinfo["postcopy-vcpu-blocktime"] as number[];
  expect(perVcpu).toHaveLength(1);
  if (slow) expect(perVcpu[0], all).toBeGreaterThan(0);
}

describe("post-copy between two ferry processes (QMP)", () => {
  it("migrate-start-postcopy: the destination faults pages in over TCP and ends the guest like an unmigrated run", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const pair = await startPair(CONFIG, PACED);
    const { port, s, d } = pair;

    // QEMU's refusals.
    await expect(s.execute("migrate-start-postcopy")).rejects.toThrow(
      "Enable postcopy with migrate_set_capability before the start of migration",
    );
    await s.execute("migrate-set-capabilities", POSTCOPY_CAPS);
    await d.execute("migrate-set-capabilities", POSTCOPY_CAPS);
    await expect(s.execute("migrate-start-postcopy")).rejects.toThrow(
      "Postcopy must be started after migration has been started",
    );
    await expect(
      s.execute("migrate", { uri: `tcp:127.0.0.1:${port}`, resume: true }),
    ).rejects.toThrow("Cannot resume if there is no paused migration");
    await expect(
      d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port + 1}` }),
    ).rejects.toThrow("Migrate recover can only be run when postcopy is paused.");
    for (const m of [s, d]) {
      await expect(m.execute("migrate-pause")).rejects.toThrow(
        "migrate-pause is currently only supported during postcopy-active or postcopy-recover state",
      );
    }

    // Slow pre-copy (it cannot converge), then the switch; the stream crosses a 400 KiB/s proxy,
    // so the guest on the destination touches pages before they land: faults are certain.
    const proxy = await slowProxy(port, 400);
    await s.execute("migrate-set-parameters", { "max-bandwidth": 256 << 10 });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy.port}` });
    await s.execute("migrate-start-postcopy");
    const info = await migrationEnd(s);
    const statuses = s.received
      .filter((e) => e.event === "MIGRATION")
      .map((e) => String(e.data?.status));
    expect(statuses).toContain("postcopy-active");
    const ram = info.ram as Record<string, number>;
    expect(ram["postcopy-bytes"]).toBeGreaterThan(0);
    expect(ram["postcopy-requests"], JSON.stringify(info)).toBeGreaterThan(0);
    // The destination reports its fault figures (query-migrate there, and POSTCOPY_STATS to the
    // source): mean ≤ p99 ≤ max, and the vCPU was blocked.
    const dinfo = (await d.execute("query-migrate")) as Record<string, unknown>;
    expect(dinfo.status).toBe("completed");
    expectFaultFigures(dinfo, true);
    expect(info["postcopy-latency"]).toBe(dinfo["postcopy-latency"]);
    const dstates = d.received
      .filter((e) => e.event === "MIGRATION")
      .map((e) => String(e.data?.status));
    expect(dstates).toEqual(expect.arrayContaining(["active", "postcopy-active", "completed"]));

    await guestEndsOnDestination(pair, ref);
  }, 300_000);

  it("connection cut mid-post-copy, then migrate-pause: both sides pause; migrate-recover + migrate resume finish the guest", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const pair = await startPair(CONFIG, PACED);
    const { port, s, d } = pair;
    const proxy = await slowProxy(port);
    await s.execute("migrate-set-capabilities", POSTCOPY_CAPS);
    await d.execute("migrate-set-capabilities", POSTCOPY_CAPS);
    await s.execute("migrate-set-parameters", { "max-bandwidth": 256 << 10 });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy.port}` });
    await s.execute("migrate-start-postcopy");

    // 1. The connection is cut (the proxy severs both directions).
    await migrationEvent(d, "postcopy-active");
    proxy.hold();
    expect(await status(s)).toBe("postcopy-active");
    expect(await status(d)).toBe("postcopy-active");
    proxy.sever();
    await bothPaused(s, d, 0, 0);
    // QEMU: migrate_cancel does not end a paused post-copy migration; the source stays stopped.
    await expect(s.execute("migrate_cancel")).resolves.toEqual({});
    expect(await status(s)).toBe("postcopy-paused");
    expect(((await s.execute("query-status")) as Record<string, unknown>).running).toBe(false);
    await expect(s.execute("migrate-pause")).rejects.toThrow("migrate-pause is currently");

    // Recovery over a new connection, again through a slow proxy.
    const port2 = await freePort();
    const proxy2 = await slowProxy(port2);
    await d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port2}` });
    await expect(d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port2}` })).rejects.toThrow(
      "Migrate recovery is triggered already",
    );
    let sinceS = s.received.length;
    let sinceD = d.received.length;
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy2.port}`, resume: true });
    await migrationEvent(s, "postcopy-active", sinceS);
    await migrationEvent(d, "postcopy-active", sinceD);

    // 2. migrate-pause on the destination (QEMU's: shuts its channel down): both sides pause.
    proxy2.hold();
    sinceS = s.received.length;
    sinceD = d.received.length;
    await d.execute("migrate-pause");
    proxy2.release();
    await bothPaused(s, d, sinceS, sinceD);

    // Recovered again, directly.
    const port3 = await freePort();
    await d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port3}` });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port3}`, resume: true });
    const info = await migrationEnd(s);
    expect(info["x-postcopy-recoveries"]).toBe(2);
    const states = (m: Monitor) =>
      m.received.filter((e) => e.event === "MIGRATION").map((e) => String(e.data?.status));
    expect(states(s).filter((x) => x === "postcopy-paused")).toHaveLength(2);
    expect(states(s).filter((x) => x === "postcopy-recover")).toHaveLength(2);
    expect(states(d).filter((x) => x === "postcopy-recover")).toHaveLength(2);
    // The guest faulted on pages still crossing the slow proxy.
    expect((info.ram as Record<string, number>)["postcopy-requests"]).toBeGreaterThan(0);

    await guestEndsOnDestination(pair, ref);
  }, 300_000);

  it("postcopy-preempt: requested pages on a second connection, re-established after migrate-pause and a recovery", async () => {
    // 2 MiB of RAM (512 pages) and a background push costing 8 ms per page (x-page-cost-ns): it
    // sends 16 pages, then sleeps 128 ms, for 4 s; the guest touches a page every ~2 ms, so it
    // faults on pages not sent yet, which go on the preempt channel.
    const ref = runFerrySync(["run", CONFIG, ...GUEST, ...SMALL]);
    expect(ref.status, ref.stderr).toBe(0);
    const pair = await startPair(CONFIG, [...PACED, ...SMALL]);
    const { port, s, d } = pair;
    const caps = {
      capabilities: [
        ...POSTCOPY_CAPS.capabilities,
        { capability: "postcopy-preempt", state: true },
      ],
    };
    await s.execute("migrate-set-capabilities", caps);
    await d.execute("migrate-set-capabilities", caps);
    await s.execute("migrate-set-parameters", {
      "max-bandwidth": 256 << 10,
      "x-page-cost-ns": 8_000_000,
    });
    const proxy = await fastProxy(port);
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy.port}` });
    await s.execute("migrate-start-postcopy");
    await migrationEvent(d, "postcopy-active");
    // Two connections: the main one and the preempt channel.
    expect(proxy.accepted).toBe(2);
    // (query-migrate may answer from a snapshot a little older than the destination's event)
    const pagesOn = async (): Promise<number> =>
      ((await s.execute("query-migrate")) as Record<string, number>)["x-postcopy-preempt-pages"] ??
      0;
    const until = Date.now() + 60_000;
    while ((await pagesOn()) === 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    const before = await pagesOn();
    expect(before).toBeGreaterThan(0);
    const bytesBefore = ((await s.execute("query-migrate")) as Record<string, number>)[
      "x-postcopy-preempt-bytes"
    ];

    // migrate-pause on the source shuts both connections down.
    proxy.hold();
    const sinceS = s.received.length;
    const sinceD = d.received.length;
    await s.execute("migrate-pause");
    // The held proxy delivers what it holds, then the end of both connections.
    proxy.release();
    await bothPaused(s, d, sinceS, sinceD);
    expect(((await s.execute("query-migrate")) as Record<string, unknown>)["error-desc"]).toBe(
      "Postcopy migration is paused by the user",
    );

    // The recovery opens a new main connection and a new preempt channel.
    const port2 = await freePort();
    const proxy2 = await fastProxy(port2);
    await d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port2}` });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy2.port}`, resume: true });
    const info = await migrationEnd(s);
    expect(proxy2.accepted).toBe(2);
    expect(info["x-postcopy-recoveries"]).toBe(1);
    // The new preempt channel carried its own stream (header, RAM setup, END at least).
    expect(info["x-postcopy-preempt-pages"]).toBeGreaterThanOrEqual(before);
    expect(info["x-postcopy-preempt-bytes"]).toBeGreaterThan(bytesBefore);
    const dinfo = (await d.execute("query-migrate")) as Record<string, unknown>;
    expectFaultFigures(dinfo, false);

    await guestEndsOnDestination(pair, ref);
  }, 300_000);

  it("postcopy-preempt over TLS: both connections secured; migrate-pause on the destination; the recovery over TLS re-establishes the preempt channel", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST, ...SMALL]);
    expect(ref.status, ref.stderr).toBe(0);
    const dir = socketDir();
    const port = await freePort();
    const creds = (sub: string, endpoint: string) =>
      `tls-creds-x509,id=tls0,dir=${join(TLS, sub)},endpoint=${endpoint}`;
    const args = [...PACED, ...SMALL];
    const dst = spawnFerry([
      "run",
      CONFIG,
      ...args,
      "--object",
      creds("good", "server"),
      "--qmp",
      `unix:${join(dir, "dst.sock")}`,
      "--incoming",
      `tcp:127.0.0.1:${port}`,
    ]);
    const src = spawnFerry([
      "run",
      CONFIG,
      ...args,
      "--object",
      creds("good", "client"),
      "--qmp",
      `unix:${join(dir, "src.sock")}`,
    ]);
    await waitForSocket(join(dir, "src.sock"), src);
    await waitForStderr(dst, "waiting for an incoming migration");
    const s = await monitor(join(dir, "src.sock"));
    const d = await monitor(join(dir, "dst.sock"));
    const caps = {
      capabilities: [
        ...POSTCOPY_CAPS.capabilities,
        { capability: "postcopy-preempt", state: true },
      ],
    };
    for (const m of [s, d]) {
      await m.execute("migrate-set-capabilities", caps);
      await m.execute("migrate-set-parameters", { "tls-creds": "tls0" });
    }
    await s.execute("migrate-set-parameters", { "x-page-cost-ns": 8_000_000 });
    // A plain TCP proxy: TLS passes through it untouched (and it can hold and count).
    const proxy = await fastProxy(port);
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy.port}` });
    await s.execute("migrate-start-postcopy");
    await migrationEvent(d, "postcopy-active");
    expect(proxy.accepted).toBe(2);
    const info0 = async () => (await s.execute("query-migrate")) as Record<string, number>;
    const until = Date.now() + 60_000;
    while (((await info0())["x-postcopy-preempt-pages"] ?? 0) === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await info0())["x-postcopy-preempt-pages"]).toBeGreaterThan(0);
    const bytesBefore = (await info0())["x-postcopy-preempt-bytes"];

    proxy.hold();
    expect(await status(s)).toBe("postcopy-active");
    expect(await status(d)).toBe("postcopy-active");
    const sinceS = s.received.length;
    const sinceD = d.received.length;
    await d.execute("migrate-pause");
    proxy.release();
    await bothPaused(s, d, sinceS, sinceD);

    const port2 = await freePort();
    const proxy2 = await fastProxy(port2);
    await d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port2}` });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxy2.port}`, resume: true });
    const info = await migrationEnd(s);
    expect(proxy2.accepted).toBe(2);
    expect(info["x-postcopy-recoveries"]).toBe(1);
    expect(info["x-postcopy-preempt-bytes"]).toBeGreaterThan(bytesBefore);
    await guestEndsOnDestination({ port, dst, src, s, d }, ref);
  }, 300_000);
});
