/**
 * TLS building blocks in one process: `--object` parsing, the object store (QEMU's messages),
 * authz lists, distinguished names, TLS sessions between trusted and untrusted peers (fixtures
 * from fixtures/tls/generate.sh), monitor options, object-add/object-del and a TLS monitor.
 */
import { readFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { RealtimeScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { precopy } from "@ferry/plugin-precopy";
import { loadElf, riscvBackend } from "@ferry/riscv";
import { afterEach, describe, expect, it } from "vitest";
import { connectQmp } from "../src/client";
import { createFerryMigrationControl } from "../src/migration-adapter";
import { createQmpServer } from "../src/server";
import { createAuthzList, createAuthzSimple } from "../src/tls/authz";
import { parseMonitorOption } from "../src/tls/monitor-option";
import { objectCommands, objectSpecs } from "../src/tls/object-commands";
import { parseObjectSpec } from "../src/tls/object-spec";
import { createObjectStore, type ObjectStore } from "../src/tls/objects";
import { distinguishedName, tlsClient, tlsServer } from "../src/tls/session";

const TLS = join(import.meta.dirname, "fixtures", "tls");
const CLIENT_DN = "CN=ferry-client,O=Ferry Test";

function storeWithAll(): ObjectStore {
  const store = createObjectStore();
  store.addText(`tls-creds-x509,id=srv,dir=${TLS}/good,endpoint=server`);
  store.addText(`tls-creds-x509,id=rogue-srv,dir=${TLS}/rogue,endpoint=server`);
  for (const d of ["good", "rogue", "other"]) {
    store.addText(`tls-creds-x509,id=${d},dir=${TLS}/${d},endpoint=client`);
  }
  store.addText(`authz-simple,id=only,identity=${CLIENT_DN.replace(",", ",,")}`);
  return store;
}

describe("--object syntax", () => {
  it("parses keyval with ,, escapes and dotted list keys, and the JSON form", () => {
    expect(
      parseObjectSpec(
        "authz-list,id=a0,policy=deny,rules.0.match=CN=x,,O=y,rules.0.policy=allow,rules.1.match=CN=*,rules.1.format=glob",
      ),
    ).toEqual({
      qomType: "authz-list",
      id: "a0",
      props: {
        policy: "deny",
        rules: [
          { match: "CN=x,O=y", policy: "allow" },
          { match: "CN=*", format: "glob" },
        ],
      },
    });
    expect(parseObjectSpec('{"qom-type":"authz-simple","id":"s","identity":"CN=a"}')).toEqual({
      qomType: "authz-simple",
      id: "s",
      props: { identity: "CN=a" },
    });
  });

  it.each([
    ["tls-creds-x509,dir=/x", "Parameter 'id' is missing"],
    ["id=x", "Parameter 'qom-type' is missing"],
    ["authz-list,id=a,rules.1.match=x", "Parameter 'rules.0' is missing"],
    ["authz-list,id=a,novalue", "Expected '=' after parameter 'novalue'"],
    ["authz-list,id=a,policy=allow,policy=deny", "Parameter 'policy' is set more than once"],
    ["{bad json", "JSON parse error"],
  ])("refuses %s", (text, message) => {
    expect(() => parseObjectSpec(text)).toThrow(message);
  });
});

describe("the object store", () => {
  it("creates credentials, refuses duplicates, unknown types and properties (QEMU's messages)", () => {
    const store = storeWithAll();
    const srv = store.tlsCreds("srv", "server");
    expect(srv).toMatchObject({ endpoint: "server", verifyPeer: true });
    expect(srv.cert?.toString()).toContain("BEGIN CERTIFICATE");
    expect(() => store.addText(`authz-simple,id=srv,identity=x`)).toThrow(
      "attempt to add duplicate property 'srv' to object (type 'container')",
    );
    expect(() => store.addText("memory-backend-ram,id=m0,size=1M")).toThrow(
      "invalid object type: memory-backend-ram",
    );
    expect(() => store.addText(`tls-creds-x509,id=z,dir=${TLS}/good,priority=x`)).toThrow(
      "Property 'tls-creds-x509.priority' not found",
    );
    expect(() => store.tlsCreds("nope", "client")).toThrow("No TLS credentials with id 'nope'");
    expect(() => store.tlsCreds("only", "client")).toThrow("No TLS credentials with id 'only'");
    expect(() => store.tlsCreds("srv", "client")).toThrow(
      "Expected TLS credentials for a client endpoint",
    );
    expect(() => store.authz("srv")).toThrow("Cannot find QAuthZ object ID srv");
    store.del("srv");
    expect(() => store.del("srv")).toThrow("object 'srv' not found");
  });

  it("names a missing credentials file and its directory", () => {
    const store = createObjectStore();
    expect(() => store.addText(`tls-creds-x509,id=t,dir=${TLS}/none,endpoint=server`)).toThrow(
      `Unable to access credentials ${TLS}/none/ca-cert.pem: No such file or directory`,
    );
    expect(() =>
      store.addText(`tls-creds-x509,id=t,dir=${TLS}/none,endpoint=server,verify-peer=off`),
    ).toThrow(`${TLS}/none/server-cert.pem`);
    expect(() => store.addText(`tls-creds-x509,id=t,dir=${TLS}/good,verify-peer=maybe`)).toThrow(
      "Parameter 'verify-peer' expects 'on' or 'off'",
    );
  });
});

describe("authz", () => {
  it("authz-list: first matching rule, exact or glob, else the default policy", () => {
    const a = createAuthzList("a", {
      policy: "deny",
      rules: [
        { match: "CN=bad.example,O=X", policy: "deny" },
        { match: "CN=*.example,O=X", policy: "allow", format: "glob" },
      ],
    });
    expect(a.isAllowed("CN=good.example,O=X")).toBe(true);
    expect(a.isAllowed("CN=bad.example,O=X")).toBe(false);
    expect(a.isAllowed("CN=good.example,O=Y")).toBe(false);
    expect(createAuthzList("b", { policy: "allow" }).isAllowed("anything")).toBe(true);
    expect(() => createAuthzList("c", { rules: [{ match: "x", policy: "maybe" }] })).toThrow(
      "Parameter 'rules.0.policy'",
    );
  });

  it("authz-simple allows exactly its identity", () => {
    const a = createAuthzSimple("s", { identity: CLIENT_DN });
    expect(a.isAllowed(CLIENT_DN)).toBe(true);
    expect(a.isAllowed(`${CLIENT_DN},C=GB`)).toBe(false);
  });

  it("a certificate's DN is RFC 4514, most specific first", () => {
    const pem = readFileSync(join(TLS, "good", "client-cert.pem"));
    const der = Buffer.from(
      pem
        .toString()
        .replace(/-----[A-Z ]+-----/g, "")
        .replace(/\s/g, ""),
      "base64",
    );
    expect(distinguishedName(der)).toBe(CLIENT_DN);
  });
});

describe("TLS sessions", () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  /** Serve once with `serverId` creds and `authzId`; resolve with both sides' outcomes. */
  async function handshake(
    store: ObjectStore,
    serverId: string,
    clientId: string,
    hostname: string,
    authzId?: string,
  ): Promise<{ server: string; client: string }> {
    let serverResult: (r: string) => void = () => {};
    const serverDone = new Promise<string>((r) => {
      serverResult = r;
    });
    const srv = createServer((s) => {
      tlsServer(
        s,
        {
          creds: store.tlsCreds(serverId, "server"),
          ...(authzId !== undefined ? { authz: store.authz(authzId) } : {}),
        },
        5000,
      ).then(
        (t) => {
          serverResult("ok");
          t.end();
        },
        (e: Error) => serverResult(e.message),
      );
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as { port: number }).port;
    const raw: Socket = createConnection({ host: "127.0.0.1", port });
    await new Promise((r) => raw.once("connect", r));
    // The client keeps the connection until the server has decided (TLS 1.3 finishes the
    // client's side of the handshake first).
    const client = await tlsClient(
      raw,
      { creds: store.tlsCreds(clientId, "client"), hostname },
      5000,
    ).then(
      async (t) => {
        await serverDone;
        t.destroy();
        return "ok";
      },
      (e: Error) => e.message,
    );
    return { server: await serverDone, client };
  }

  it("trusted peers with an allowed DN complete the handshake (hostname or IP)", async () => {
    const store = storeWithAll();
    expect(await handshake(store, "srv", "good", "127.0.0.1", "only")).toEqual({
      server: "ok",
      client: "ok",
    });
    expect((await handshake(store, "srv", "good", "localhost")).client).toBe("ok");
  });

  it("the server refuses a client from another CA, and one whose DN is not allowed", async () => {
    const store = storeWithAll();
    const rogue = await handshake(store, "srv", "rogue", "127.0.0.1");
    expect(rogue.server).toMatch(/^TLS peer certificate refused: /);
    const other = await handshake(store, "srv", "other", "127.0.0.1", "only");
    expect(other.server).toBe("TLS x509 authz check for CN=intruder.example,O=Elsewhere is denied");
  });

  it("the client refuses a server from another CA, and a certificate for another hostname", async () => {
    const store = storeWithAll();
    const rogue = await handshake(store, "rogue-srv", "good", "127.0.0.1");
    expect(rogue.client).toMatch(/^TLS peer certificate refused: /);
    const wrong = await handshake(store, "srv", "good", "migration.example");
    expect(wrong.client).toBe("Certificate does not match the hostname migration.example");
  });

  it("a handshake with a silent peer times out", async () => {
    const store = storeWithAll();
    const srv = createServer(() => {});
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const raw = createConnection({
      host: "127.0.0.1",
      port: (srv.address() as { port: number }).port,
    });
    await new Promise((r) => raw.once("connect", r));
    await expect(
      tlsClient(raw, { creds: store.tlsCreds("good", "client"), hostname: "127.0.0.1" }, 200),
    ).rejects.toThrow("TLS handshake with 127.0.0.1 timed out after 200 ms");
  });
});

describe("TLS monitors", () => {
  it("--qmp options: tls-creds and tls-authz on TCP only", () => {
    expect(parseMonitorOption("tcp:127.0.0.1:4445,tls-creds=t0,tls-authz=a0")).toEqual({
      endpoint: { kind: "tcp", host: "127.0.0.1", port: 4445 },
      tlsCreds: "t0",
      tlsAuthz: "a0",
    });
    expect(() => parseMonitorOption("tcp::1,server=on")).toThrow('unknown option "server"');
    expect(() => parseMonitorOption("tcp::1,tls-authz=a")).toThrow("tls-authz needs tls-creds");
    expect(() => parseMonitorOption("unix:/tmp/x,tls-creds=t")).not.toThrow(); // a path may hold commas
  });

  it("object-add / object-del over QMP, and a TLS monitor refusing an untrusted client", async () => {
    const store = storeWithAll();
    const server = createQmpServer({ commands: objectCommands(store) });
    const refused: string[] = [];
    const l = await server.listen(
      { kind: "tcp", host: "127.0.0.1", port: 0 },
      {
        tls: () => ({ creds: store.tlsCreds("srv", "server"), authz: store.authz("only") }),
        onRefused: (r) => refused.push(r),
      },
    );
    const endpoint = l.endpoint;
    const q = await connectQmp(endpoint, objectSpecs, {
      tls: { creds: store.tlsCreds("good", "client"), hostname: "localhost" },
    });
    await q.execute("object-add", { "qom-type": "authz-simple", id: "x", identity: "CN=x" });
    expect(store.authz("x").isAllowed("CN=x")).toBe(true);
    await expect(
      q.execute("object-add", { "qom-type": "authz-simple", id: "x", identity: "CN=y" }),
    ).rejects.toThrow("attempt to add duplicate property 'x'");
    await q.execute("object-del", { id: "x" });
    await expect(q.execute("object-del", { id: "x" })).rejects.toThrow("object 'x' not found");
    await expect(
      connectQmp(endpoint, objectSpecs, {
        timeoutMs: 3000,
        tls: { creds: store.tlsCreds("other", "client"), hostname: "localhost" },
      }),
    ).rejects.toThrow();
    expect(refused).toContain("TLS x509 authz check for CN=intruder.example,O=Elsewhere is denied");
    q.close();
    await server.close();
  });
});

describe("the net parameters of a monitor's migration control", () => {
  it("are listed with QEMU's empty defaults, range-checked, and a unix URI needs tls-hostname", async () => {
    const scheduler = new RealtimeScheduler();
    const machine = createMachine({
      scheduler,
      cpu: riscvBackend({ mips: 1_000_000 }),
      vcpus: 1,
      memory: { size: 1 << 20, backend: "array" },
      sliceNs: 5,
      bootArgs: [20, 1000],
    });
    const image = loadElf(machine.memory, readFileSync("examples/guests/idle.elf"));
    machine.reset(image.entry);
    const store = storeWithAll();
    const control = createFerryMigrationControl({
      machine,
      plugins: [precopy()],
      objects: store,
      peerTimeoutMs: 5000,
    });
    expect(control.parameters()).toMatchObject({
      "tls-creds": "",
      "tls-hostname": "",
      "tls-authz": "",
      "x-peer-timeout": 5000,
    });
    expect(() => control.setParameters({ "tls-creds": 1 })).toThrow(
      "Invalid parameter type for 'tls-creds', expected: string",
    );
    expect(() => control.setParameters({ "x-peer-timeout": 50 })).toThrow("x-peer-timeout");
    machine.start();
    try {
      control.setParameters({ "tls-creds": "good" });
      control.migrate({ transport: "socket", type: "unix", path: "/nonexistent/x.sock" });
      for (let i = 0; i < 100 && control.status === "setup"; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(control.info()).toMatchObject({
        status: "failed",
        "error-desc": "No hostname available for TLS",
      });
      expect(machine.state).toBe("running");
    } finally {
      machine.stop();
      control.dispose();
      scheduler.dispose();
    }
  });
});
