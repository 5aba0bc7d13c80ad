/**
 * TLS between real `ferry run --realtime` processes: a migration over TLS completes with the
 * unmigrated run's output; an untrusted peer is refused on both sides (the destination refusing a
 * client whose certificate is from another CA or whose DN is not in tls-authz, the source refusing
 * a destination whose certificate does not match tls-hostname), the source guest running; and a
 * TCP QMP monitor over TLS. Credentials: packages/qmp/test/fixtures/tls (generate.sh).
 */
import { join, resolve } from "node:path";
import { connectQmp, createObjectStore, qmpSpecs } from "@ferry/qmp";
import { afterEach, describe, expect, it } from "vitest";
import { captureIo } from "../src/io";
import { main } from "../src/main";
import {
  exitWithin,
  freePort,
  killAll,
  runFerrySync,
  spawnFerry,
  startPair,
  TERMINAL,
  waitForStderr,
} from "./qmp-helpers";

const CONFIG = "examples/configs/memtouch.yaml";
const TLS = resolve("packages/qmp/test/fixtures/tls");
/** ~9 s at 5 MIPS: long enough to set both monitors up on a loaded machine. */
const GUEST = ["--set", "guest.args=[1MiB, 4096, 300, 64, 0, 50]"];
const PACED = ["--realtime", "--pace", "--set", "machine.mips=5", ...GUEST];
const LONG = [
  "--realtime",
  "--pace",
  "--set",
  "machine.mips=5",
  "--set",
  "guest.args=[1MiB, 4096, 100000, 64, 0, 0]",
];
/** The client DN of good/client-cert.pem, as tls-authz compares it. */
const CLIENT_DN = "CN=ferry-client,O=Ferry Test";

const creds = (id: string, dir: string, endpoint: "server" | "client") =>
  `tls-creds-x509,id=${id},dir=${join(TLS, dir)},endpoint=${endpoint}`;
const authz = `authz-list,id=auth0,policy=deny,rules.0.match=${CLIENT_DN.replace(/,/g, ",,")},rules.0.policy=allow`;

afterEach(() => killAll());

/** A TLS destination (server creds `good`, authz auth0) and a source with client creds `dir`. */
async function startTlsPair(args: readonly string[], clientDir: string) {
  const pair = await startPair(CONFIG, args, {
    dst: ["--object", creds("tls0", "good", "server"), "--object", authz],
    src: ["--object", creds("tls0", clientDir, "client")],
  });
  const { s, d } = pair;
  const events = { capabilities: [{ capability: "events", state: true }] };
  await s.execute("migrate-set-capabilities", events);
  await d.execute("migrate-set-capabilities", events);
  await d.execute("migrate-set-parameters", { "tls-creds": "tls0", "tls-authz": "auth0" });
  await s.execute("migrate-set-parameters", { "tls-creds": "tls0" });
  return pair;
}

describe("migration over TLS between two ferry processes", () => {
  it("completes with the same guest output as an unmigrated run", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const { port, dst, src, s, d } = await startTlsPair(PACED, "good");
    expect((await s.execute("query-migrate-parameters"))["tls-creds"]).toBe("tls0");
    await s.execute("migrate-set-parameters", { "max-bandwidth": 4 << 20 });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 60_000,
    });
    expect(end.data?.status, JSON.stringify(await s.execute("query-migrate"))).toBe("completed");
    await d.waitEvent("SHUTDOWN", { timeoutMs: 60_000 });
    expect(await exitWithin(dst, 30_000)).toBe(0);
    await s.execute("quit");
    expect(await exitWithin(src, 30_000)).toBe(0);
    expect(src.stdout() + dst.stdout()).toBe(ref.stdout);
  }, 240_000);

  it.each([
    ["a client certificate from another CA", "rogue", /certificate refused: .*(verify|issuer)/],
    [
      "a client DN not in tls-authz",
      "other",
      /TLS x509 authz check for CN=intruder\.example,O=Elsewhere is denied/,
    ],
  ])(
    "the destination refuses %s; the source is told why and keeps running",
    async (_what, dir, why) => {
      const { port, dst, src, s, d } = await startTlsPair(LONG, dir);
      await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
      const end = await s.waitEvent("MIGRATION", {
        match: (e) => TERMINAL.includes(String(e.data?.status)),
        timeoutMs: 30_000,
      });
      expect(end.data?.status).toBe("failed");
      const info = await s.execute("query-migrate");
      expect(info["error-desc"]).toMatch(why);
      expect((await s.execute("query-status")).status).toBe("running");
      // The destination fails the incoming migration (MIGRATION failed), never starts, exits 1.
      expect(await exitWithin(dst, 20_000)).toBe(1);
      expect(d.received.map((e) => `${e.event}:${String(e.data?.status)}`)).toContain(
        "MIGRATION:failed",
      );
      expect(d.received.map((e) => e.event)).not.toContain("RESUME");
      expect(dst.stderr()).toMatch(why);
      expect(dst.stdout()).toBe("");
      await s.execute("quit");
      expect(await exitWithin(src, 30_000)).toBe(0);
    },
    180_000,
  );

  it("the source refuses a destination whose certificate does not match tls-hostname", async () => {
    const { port, dst, src, s, d } = await startTlsPair(LONG, "good");
    await s.execute("migrate-set-parameters", { "tls-hostname": "migration.example" });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 30_000,
    });
    expect(end.data?.status).toBe("failed");
    expect((await s.execute("query-migrate"))["error-desc"]).toMatch(
      /Certificate does not match the hostname migration\.example/,
    );
    expect((await s.execute("query-status")).status).toBe("running");
    // The destination never got a stream: it fails the handshake and never starts the guest.
    expect(await exitWithin(dst, 20_000)).toBe(1);
    expect(d.received.map((e) => e.event)).not.toContain("RESUME");
    await s.execute("quit");
    expect(await exitWithin(src, 30_000)).toBe(0);
  }, 180_000);
});

describe("a TCP QMP monitor over TLS", () => {
  it("serves a verified client in the authz list and refuses others before the greeting", async () => {
    const port = await freePort();
    const proc = spawnFerry([
      "run",
      CONFIG,
      ...LONG,
      "--object",
      creds("tls0", "good", "server"),
      "--object",
      authz,
      "--qmp",
      `tcp:127.0.0.1:${port},tls-creds=tls0,tls-authz=auth0`,
    ]);
    await waitForStderr(proc, "(TLS)");
    const local = createObjectStore();
    local.addText(creds("good", "good", "client"));
    local.addText(creds("rogue", "rogue", "client"));
    local.addText(creds("other", "other", "client"));
    const endpoint = { kind: "tcp" as const, host: "127.0.0.1", port };
    const q = await connectQmp(endpoint, qmpSpecs, {
      timeoutMs: 15_000,
      tls: { creds: local.tlsCreds("good", "client"), hostname: "127.0.0.1" },
    });
    expect((await q.execute("query-status")).status).toBe("running");
    for (const id of ["rogue", "other"]) {
      await expect(
        connectQmp(endpoint, qmpSpecs, {
          timeoutMs: 5000,
          tls: { creds: local.tlsCreds(id, "client"), hostname: "127.0.0.1" },
        }),
      ).rejects.toThrow();
    }
    // Plain TCP gets no greeting either.
    await expect(connectQmp(endpoint, qmpSpecs, { timeoutMs: 3000 })).rejects.toThrow();
    expect(proc.stderr()).toMatch(/QMP connection refused: .*certificate refused/);
    expect(proc.stderr()).toMatch(/QMP connection refused: TLS x509 authz check for CN=intruder/);
    await q.execute("quit");
    expect(await exitWithin(proc, 30_000)).toBe(0);
  }, 120_000);
});

describe("--object and TLS monitor options on the command line", () => {
  it.each([
    [
      ["--object", "tls-creds-x509,id=t,dir=/nonexistent-dir"],
      /--object "tls-creds-x509,id=t,dir=\/nonexistent-dir": Unable to access credentials \/nonexistent-dir\/ca-cert.pem/,
    ],
    [["--object", "secret,id=s,data=x"], /invalid object type: secret/],
    [
      ["--qmp", "tcp:127.0.0.1:0,tls-creds=none"],
      /--qmp "tcp:127.0.0.1:0,tls-creds=none": No TLS credentials with id 'none'/,
    ],
    [
      ["--object", creds("c", "good", "client"), "--qmp", "tcp::0,tls-creds=c"],
      /Expected TLS credentials for a server endpoint/,
    ],
  ])("%j exits 2 with one line naming the problem", async (argv, why) => {
    const io = captureIo();
    expect(await main(["run", CONFIG, "--realtime", ...argv], io)).toBe(2);
    expect(io.stderr().split("\n")[0]).toMatch(why);
  });
});
