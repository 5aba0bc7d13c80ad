/**
 * The README's two-process demo, run as written: its shell block is taken out of README.md and run
 * with bash from the repository root — two `pnpm ferry run --realtime` processes, QMP through
 * `socat`, a live migration over TCP, the destination finishing the guest. Only the socket paths
 * and the TCP port are swapped for private ones (tests run side by side). Where `socat` is not
 * installed (a fresh CI machine), a small Node program that does what the demo asks of it
 * (`socat - UNIX-CONNECT:<path>`: stdin to the socket, the socket to stdout, half a second for
 * the answers after stdin ends, as socat's `-t 0.5`) stands in for it on PATH.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, runFerrySync, socketDir } from "./qmp-helpers";

const ROOT = resolve(import.meta.dirname, "../../..");

/** The shell block under the README's "Two processes, driven through QMP" heading. */
export function readmeDemo(readme: string): string {
  const from = readme.indexOf("## Two processes, driven through QMP");
  if (from < 0) throw new Error("README.md: no 'Two processes, driven through QMP' section");
  const open = readme.indexOf("```sh\n", from);
  const close = readme.indexOf("\n```\n", open);
  if (open < 0 || close < 0) throw new Error("README.md: no sh block in the two-process section");
  return readme.slice(open + "```sh\n".length, close + 1);
}

const hasSocat = spawnSync("sh", ["-c", "command -v socat"]).status === 0;

/** What the demo uses of socat, in Node (only where socat is missing). */
const SOCAT_STAND_IN = `#!/usr/bin/env node
const net = require("node:net");
const addr = process.argv.slice(2).find((a) => a.startsWith("UNIX-CONNECT:"));
if (addr === undefined || !process.argv.includes("-")) {
  console.error("socat stand-in: only 'socat - UNIX-CONNECT:<path>'");
  process.exit(2);
}
const sock = net.createConnection(addr.slice("UNIX-CONNECT:".length));
sock.on("error", (e) => {
  console.error("socat stand-in: " + e.message);
  process.exit(1);
});
sock.on("connect", () => process.stdin.pipe(sock));
sock.on("data", (d) => process.stdout.write(d));
sock.on("close", () => process.exit(0));
process.stdin.on("end", () => setTimeout(() => process.exit(0), 500));
`;

describe("README: the two-process demo", () => {
  it(`runs as written (${hasSocat ? "socat" : "a Node stand-in for socat"}): the destination finishes the guest with an unmigrated run's output`, async () => {
    const dir = socketDir();
    const port = await freePort();
    const script = readmeDemo(readFileSync(join(ROOT, "README.md"), "utf8"))
      .replaceAll("/tmp/src.sock", join(dir, "src.sock"))
      .replaceAll("/tmp/dst.sock", join(dir, "dst.sock"))
      .replaceAll("127.0.0.1:4444", `127.0.0.1:${port}`);
    // The demo's shape: both processes paced, a wait for both monitors, the migration, the end.
    expect(script).toContain("--incoming tcp:127.0.0.1:");
    expect(script).toContain('"execute":"migrate"');
    expect(script).toContain("wait %1");
    let path = process.env.PATH ?? "";
    if (!hasSocat) {
      writeFileSync(join(dir, "socat"), SOCAT_STAND_IN);
      chmodSync(join(dir, "socat"), 0o755);
      path = `${dir}:${path}`;
    }

    const demo = spawn("bash", ["-c", script], {
      cwd: ROOT,
      env: { ...process.env, PATH: path },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a demo that hangs is ended with both ferry processes.
      detached: true,
    });
    const killGroup = (): void => {
      try {
        process.kill(-demo.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    let out = "";
    let err = "";
    demo.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    demo.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | string>((res) => {
      const t = setTimeout(() => {
        killGroup();
        res("timeout");
      }, 150_000);
      demo.on("exit", (c) => {
        clearTimeout(t);
        res(c ?? "signal");
      });
    });
    // The source ends on the demo's last `quit`; anything still running of the demo goes too.
    setTimeout(killGroup, 5_000).unref();
    expect(code, `stdout:\n${out}\nstderr:\n${err}`).toBe(0);

    // The QMP answers and events (socat prints them) and the guest's lines share stdout.
    const lines = out.split("\n");
    const qmp = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    expect(
      qmp.filter((m) => "error" in m),
      out,
    ).toEqual([]);
    // The migration started with events on: its `setup` event comes before `migrate`'s answer.
    // (Later ones, `active` included, reach socat only if they come before the monitor has
    // answered everything and closed the session that socat half-closed — as QEMU's does.)
    const seen = `stdout:\n${out}\nstderr:\n${err}`;
    expect(
      qmp.some((m) => m.event === "MIGRATION" && m.data.status === "setup"),
      seen,
    ).toBe(true);
    expect(
      qmp.some((m) => m.event === "SHUTDOWN" && m.data.reason === "host-qmp-quit"),
      seen,
    ).toBe(true);
    expect(err).toContain("ferry: incoming migration completed");
    expect(err).toContain("memtouch: pass (guest code 0)");

    // The source's lines before the switchover, then the destination's: an unmigrated run's.
    const guest = lines.filter((l) => l !== "" && !l.startsWith("{"));
    const ref = runFerrySync(["run", "examples/configs/memtouch.yaml"]);
    expect(ref.status, ref.stderr).toBe(0);
    expect(guest.join("\n")).toBe(ref.stdout.trimEnd());
  }, 200_000);
});
