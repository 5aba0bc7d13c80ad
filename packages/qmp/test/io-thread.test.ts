import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectQmp, type QmpClient } from "../src/client";
import { commandSpec, defineCommand } from "../src/command";
import { createQmpServer, type QmpServer } from "../src/server";

const queryMigrate = commandSpec({
  name: "query-migrate",
  args: z.object({}),
  returns: z.record(z.string(), z.unknown()),
});
const slow = commandSpec({
  name: "x-slow",
  args: z.object({ ms: z.number().int() }),
  returns: z.object({ slept: z.number() }),
});
const specs = { "query-migrate": queryMigrate, "x-slow": slow } as const;

let server: QmpServer | null = null;
const clients: QmpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
});

/** A server whose `query-migrate` reports `state` (and counts the clients' requests it ran). */
async function start(state: { status: string; ran: number }): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), "ferry-qmp-io-")), "qmp.sock");
  server = createQmpServer({
    commands: [
      defineCommand(queryMigrate, (_a, ctx) => {
        // Session 0 is the snapshot taken for the I/O thread; a client's request has its own.
        if (ctx.session !== 0) state.ran++;
        return { status: state.status };
      }),
      defineCommand(slow, async (a) => {
        await new Promise((r) => setTimeout(r, a.ms));
        return { slept: a.ms };
      }),
    ] as never,
  });
  await server.listen({ kind: "unix", path }, { ioThread: true });
  return path;
}

/** Block this thread's event loop for `ms` (what a migration holding the loop does). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

describe("QMP monitor I/O thread", () => {
  it("answers query-migrate while the main thread's event loop is blocked", async () => {
    const state = { status: "active", ran: 0 };
    const path = await start(state);
    // The client is another process: it negotiates, then on "go" times one query-migrate.
    const script = `
      const s = require("node:net").createConnection(${JSON.stringify(path)});
      let buf = "", t0 = 0, phase = 0;
      s.on("data", (d) => {
        buf += d;
        const lines = buf.split("\\r\\n"); buf = lines.pop();
        for (const l of lines) {
          if (phase === 0) { phase = 1; s.write('{"execute":"qmp_capabilities"}'); }
          else if (phase === 1) { phase = 2; process.stdout.write("ready\\n"); }
          else if (!l.includes('"event"')) { process.stdout.write(JSON.stringify({ ms: performance.now() - t0, line: l }) + "\\n"); process.exit(0); }
        }
      });
      process.stdin.on("data", () => { t0 = performance.now(); s.write('{"execute":"query-migrate","id":7}'); });
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    const line = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`client: ${out}`)), 10_000);
        const on = (d: Buffer): void => {
          out += d.toString();
          const nl = out.indexOf("\n");
          if (nl < 0) return;
          const first = out.slice(0, nl);
          out = out.slice(nl + 1);
          clearTimeout(t);
          child.stdout!.off("data", on);
          resolve(first);
        };
        child.stdout!.on("data", on);
      });
    expect(await line()).toBe("ready");
    const ranBefore = state.ran;
    // An event written to the clients refreshes the thread's snapshot first (a slow machine may
    // have taken longer than its 250 ms age limit since the negotiation).
    server!.emit("MIGRATION", { status: "active" });
    child.stdin!.write("go\n");
    busy(1500);
    const answer = JSON.parse(await line()) as { ms: number; line: string };
    expect(JSON.parse(answer.line)).toEqual({ return: { status: "active" }, id: 7 });
    // Answered during the 1.5 s the main thread spun, not after it.
    expect(answer.ms).toBeLessThan(1000);
    // From the snapshot: the main thread did not run the command for it.
    expect(state.ran).toBe(ranBefore);
    child.kill();
  }, 30_000);

  it("keeps each client's answers in request order, refreshes the snapshot, answers a settled migration on the main thread", async () => {
    const state = { status: "setup", ran: 0 };
    const path = await start(state);
    const c = await connectQmp({ kind: "unix", path }, specs);
    clients.push(c);
    // Behind a slow command of its own, query-migrate waits its turn (main thread answers it).
    const first = c.nextMessage(5000);
    const second = c.nextMessage(5000);
    c.sendRaw(
      '{"execute":"x-slow","arguments":{"ms":150},"id":1}{"execute":"query-migrate","id":2}',
    );
    expect(await first).toEqual({ return: { slept: 150 }, id: 1 });
    expect(await second).toEqual({ return: { status: "setup" }, id: 2 });
    // A state change announced by an event is seen by the next query (the snapshot goes first).
    state.status = "completed";
    server!.emit("MIGRATION", { status: "completed" });
    await c.waitEvent("MIGRATION", { timeoutMs: 5000 });
    const ran = state.ran;
    expect((await c.execute("query-migrate")).status).toBe("completed");
    // A settled migration is answered by the main thread, exactly (not from a snapshot).
    expect(state.ran).toBeGreaterThan(ran);
  });

  it("refuses query-migrate before negotiation and with arguments, as the main thread does", async () => {
    const state = { status: "active", ran: 0 };
    const path = await start(state);
    // Before qmp_capabilities: QEMU's CommandNotFound, not the snapshot.
    const lines = await new Promise<string[]>((resolve, reject) => {
      const sock = createConnection({ path });
      let buf = "";
      const t = setTimeout(() => reject(new Error(buf)), 5000);
      sock.on("data", (d) => {
        buf += d.toString();
        const got = buf.split("\r\n").filter((l) => l !== "");
        if (got.length === 1 && buf.endsWith("\r\n")) sock.write('{"execute":"query-migrate"}');
        if (got.length === 2) {
          clearTimeout(t);
          sock.destroy();
          resolve(got);
        }
      });
    });
    expect(JSON.parse(lines[1]!)).toEqual({
      error: {
        class: "CommandNotFound",
        desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
      },
    });
    const c = await connectQmp({ kind: "unix", path }, specs);
    clients.push(c);
    const next = c.nextMessage(5000);
    c.sendRaw('{"execute":"query-migrate","arguments":{"x":1}}');
    expect(await next).toEqual({
      error: { class: "GenericError", desc: "Parameter 'x' is unexpected" },
    });
  });

  it("a TLS monitor cannot have an I/O thread", async () => {
    server = createQmpServer({ commands: [] });
    await expect(
      server.listen(
        { kind: "tcp", host: "127.0.0.1", port: 0 },
        { ioThread: true, tls: () => ({}) as never },
      ),
    ).rejects.toThrow("a TLS monitor has no I/O thread");
  });
});
