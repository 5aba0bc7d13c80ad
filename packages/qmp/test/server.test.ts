import { mkdtempSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectQmp, type QmpClient } from "../src/client";
import { commandSpec, defineCommand } from "../src/command";
import { QmpError } from "../src/errors";
import { createQmpServer, type QmpServer } from "../src/server";

const echoSpec = commandSpec({
  name: "x-echo",
  args: z.object({
    text: z.string(),
    times: z
      .number()
      .int()
      .min(1, "an integer in the range of 1 to 5")
      .max(5, "an integer in the range of 1 to 5")
      .optional(),
    mode: z.enum(["upper", "lower"]).optional(),
    list: z.array(z.object({ n: z.number().int() })).optional(),
  }),
  returns: z.object({ text: z.string() }),
});
const specs = { "x-echo": echoSpec } as const;

let server: QmpServer | null = null;
const clients: QmpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
});

async function start(ioThread = false): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-qmp-"));
  const path = join(dir, "qmp.sock");
  server = createQmpServer({
    commands: [
      defineCommand(echoSpec, (a) => {
        const t = a.text.repeat(a.times ?? 1);
        return { text: a.mode === "upper" ? t.toUpperCase() : t };
      }),
      defineCommand(
        commandSpec({ name: "x-fail", args: z.object({}), returns: z.object({}) }),
        () => {
          throw new QmpError("it failed", "DeviceNotActive");
        },
      ),
    ] as never,
  });
  await server.listen({ kind: "unix", path }, { ioThread });
  return path;
}

/** A raw line-oriented conversation (what socat shows). */
async function raw(path: string, lines: string[], expectCount: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ path });
    let buf = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout; got ${JSON.stringify(buf)}`));
    }, 5000);
    s.on("data", (d) => {
      buf += d.toString();
      const got = buf.split("\r\n").filter((l) => l !== "");
      if (got.length >= expectCount && buf.endsWith("\r\n")) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on("connect", () => {
      for (const l of lines) s.write(l);
    });
  });
}

// Every behaviour holds whether the sockets are served here or by a monitor I/O thread.
for (const ioThread of [false, true]) {
  describe(`QMP server: QEMU's wire behaviour${ioThread ? " (monitor I/O thread)" : ""}`, () => {
    it("greets, refuses commands before negotiation, negotiates once, echoes ids, ends lines in CRLF", async () => {
      const path = await start(ioThread);
      const got = await raw(
        path,
        [
          '{"execute":"x-echo","arguments":{"text":"a"},"id":1}\n',
          '{"execute":"qmp_capabilities","id":"neg"}\n',
          '{"execute":"qmp_capabilities"}\n',
          '{"execute":"x-echo","arguments":{"text":"ab","times":2,"mode":"upper"},"id":{"k":[1]}}\n',
        ],
        5,
      );
      const msgs = got.map((l) => JSON.parse(l));
      expect(msgs[0]).toEqual({
        QMP: {
          version: { qemu: { major: 9, minor: 2, micro: 0 }, package: "ferry 0.1.0" },
          capabilities: ["oob"],
        },
      });
      expect(msgs[1]).toEqual({
        error: {
          class: "CommandNotFound",
          desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
        },
        id: 1,
      });
      expect(msgs[2]).toEqual({ return: {}, id: "neg" });
      expect(msgs[3]).toEqual({
        error: {
          class: "CommandNotFound",
          desc: "Capabilities negotiation is already complete, command ignored",
        },
      });
      expect(msgs[4]).toEqual({ return: { text: "ABAB" }, id: { k: [1] } });
      // QEMU's spacing
      expect(got[2]).toBe('{"return": {}, "id": "neg"}');
    });

    it("answers malformed requests and bad arguments with QEMU's classes and messages", async () => {
      const path = await start(ioThread);
      const cases: Array<[string, string, string]> = [
        ["[1]", "GenericError", "QMP input must be a JSON object"],
        ["5", "GenericError", "QMP input must be a JSON object"],
        ['{"id":3}', "GenericError", "QMP input lacks member 'execute'"],
        ['{"execute":1}', "GenericError", "QMP input member 'execute' must be a string"],
        [
          '{"execute":"x-echo","arguments":[]}',
          "GenericError",
          "QMP input member 'arguments' must be an object",
        ],
        ['{"execute":"x-echo","foo":1}', "GenericError", "QMP input member 'foo' is unexpected"],
        [
          '{"execute":"x-echo","exec-oob":"x-echo"}',
          "GenericError",
          "QMP input member 'exec-oob' is unexpected",
        ],
        ['{"execute":"nope"}', "CommandNotFound", "The command nope has not been found"],
        ['{"execute":"x-echo"}', "GenericError", "Parameter 'text' is missing"],
        [
          '{"execute":"x-echo","arguments":{"text":1}}',
          "GenericError",
          "Invalid parameter type for 'text', expected: string",
        ],
        [
          '{"execute":"x-echo","arguments":{"text":"a","times":1.5}}',
          "GenericError",
          "Invalid parameter type for 'times', expected: integer",
        ],
        [
          '{"execute":"x-echo","arguments":{"text":"a","bogus":1}}',
          "GenericError",
          "Parameter 'bogus' is unexpected",
        ],
        [
          '{"execute":"x-echo","arguments":{"text":"a","mode":"odd"}}',
          "GenericError",
          "Parameter 'mode' does not accept value 'odd'",
        ],
        [
          '{"execute":"x-echo","arguments":{"text":"a","list":[{"n":1},{"m":2}]}}',
          "GenericError",
          "Parameter 'list[1].n' is missing",
        ],
        [
          '{"execute":"x-echo","arguments":{"text":"a","times":9}}',
          "GenericError",
          "Parameter 'times' expects an integer in the range of 1 to 5",
        ],
        ['{"execute":"x-fail"}', "DeviceNotActive", "it failed"],
        ["}", "GenericError", "JSON parse error, stray '}'"],
      ];
      const got = await raw(
        path,
        ['{"execute":"qmp_capabilities"}', ...cases.map((c) => c[0])],
        2 + cases.length,
      );
      const msgs = got.slice(2).map((l) => JSON.parse(l));
      cases.forEach(([, cls, desc], i) => {
        expect(msgs[i], cases[i][0]).toEqual({
          error: { class: cls, desc },
          ...(cases[i][0].includes('"id":3') ? { id: 3 } : {}),
        });
      });
    });

    it("oob: enabled on request; exec-oob of a command without allow-oob is refused; unknown capability refused", async () => {
      const path = await start(ioThread);
      const got = await raw(
        path,
        [
          '{"execute":"qmp_capabilities","arguments":{"enable":["bogus"]}}',
          '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}',
          '{"exec-oob":"x-echo","arguments":{"text":"a"},"id":"o1"}',
          '{"execute":"x-echo","exec-oob":"x-echo"}',
        ],
        5,
      );
      const msgs = got.map((l) => JSON.parse(l));
      expect(msgs[1]).toEqual({
        error: {
          class: "GenericError",
          desc: "Parameter 'enable[0]' does not accept value 'bogus'",
        },
      });
      expect(msgs[2]).toEqual({ return: {} });
      expect(msgs[3]).toEqual({
        error: { class: "GenericError", desc: "The command x-echo does not support OOB" },
        id: "o1",
      });
      expect(msgs[4].error.desc).toBe("QMP input member 'exec-oob' clashes with 'execute'");
    });

    it("events reach negotiated sessions only, with a timestamp", async () => {
      const path = await start(ioThread);
      const c = await connectQmp({ kind: "unix", path }, specs);
      clients.push(c);
      // A second, un-negotiated connection gets nothing but the greeting.
      const quiet: string[] = [];
      const s = createConnection({ path });
      s.on("data", (d) => quiet.push(d.toString()));
      await new Promise((r) => s.once("data", r));
      server!.emit("STOP");
      server!.emit("MIGRATION", { status: "active" });
      const e = await c.waitEvent("MIGRATION", { timeoutMs: 2000 });
      expect(e.data).toEqual({ status: "active" });
      expect(c.received.map((x) => x.event)).toEqual(["STOP", "MIGRATION"]);
      expect(
        Number.isInteger(e.timestamp.seconds) && Number.isInteger(e.timestamp.microseconds),
      ).toBe(true);
      expect(e.timestamp.microseconds).toBeLessThan(1e6);
      expect(Math.abs(e.timestamp.seconds - Date.now() / 1000)).toBeLessThan(10);
      await new Promise((r) => setTimeout(r, 50));
      expect(
        quiet
          .join("")
          .split("\r\n")
          .filter((l) => l !== ""),
      ).toHaveLength(1);
      s.destroy();
    });

    it("typed client: results validated, errors carry the class; query-commands lists everything", async () => {
      const path = await start(ioThread);
      const c = await connectQmp({ kind: "unix", path }, specs);
      clients.push(c);
      const r = await c.execute("x-echo", { text: "hi", times: 2 });
      expect(r.text).toBe("hihi");
      await expect(c.executeRaw("x-fail")).rejects.toMatchObject({ errorClass: "DeviceNotActive" });
      const cmds = (await c.executeRaw("query-commands")) as Array<{ name: string }>;
      expect(cmds.map((x) => x.name).sort()).toEqual([
        "qmp_capabilities",
        "query-commands",
        "x-echo",
        "x-fail",
      ]);
    });

    it("a request larger than the limit is refused and the session continues", async () => {
      const path = await start(ioThread);
      const c = await connectQmp({ kind: "unix", path }, specs);
      clients.push(c);
      const next = c.nextMessage(5000);
      c.sendRaw(`{"execute":"x-echo","arguments":{"text":"${"a".repeat(2 << 20)}"}}`);
      expect(await next).toEqual({
        error: { class: "GenericError", desc: "JSON parse error, JSON token size limit exceeded" },
      });
      expect((await c.execute("x-echo", { text: "ok" })).text).toBe("ok");
    });

    it("several monitors (unix and TCP on loopback) each negotiate on their own and all get events", async () => {
      const path = await start(ioThread);
      const tcp = await server!.listen({ kind: "tcp", host: "127.0.0.1", port: 0 }, { ioThread });
      expect(tcp.endpoint.kind === "tcp" && tcp.endpoint.port > 0).toBe(true);
      const a = await connectQmp({ kind: "unix", path }, specs);
      const b = await connectQmp(tcp.endpoint, specs);
      clients.push(a, b);
      expect(server!.sessionCount).toBe(2);
      server!.emit("RESUME");
      await a.waitEvent("RESUME", { timeoutMs: 2000 });
      await b.waitEvent("RESUME", { timeoutMs: 2000 });
      expect((await b.execute("x-echo", { text: "t" })).text).toBe("t");
    });
  });
}
