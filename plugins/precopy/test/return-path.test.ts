import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Machine, RealtimeScheduler, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  connectSocket,
  listenSocket,
  createLink,
  createMigrationManager,
  encodeRpMessage,
  fileSink,
  incoming,
  isTerminalStatus,
} from "@ferry/migration";
import { uniformDirtier } from "@ferry/sim";
import { afterAll, describe, expect, it } from "vitest";
import { precopy } from "../src/index";

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "ferry-rp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function machine(s: VirtualScheduler | RealtimeScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 20_000, footprintPages: 100, seed: 3 }),
    vcpus: 1,
    memory: { size: 1 * MiB },
  });
}

function manager(caps: Record<string, boolean>) {
  const mgr = createMigrationManager({ plugins: [precopy()] });
  mgr.setCapabilities(caps);
  return mgr;
}

describe("return path in migrations", () => {
  /**
   * A pre-copy migration with switchover-ack over an 8 MiB/s link, both ends completed; `older`
   * makes the source an older ferry's (see below), `integrity` sets the destination's mode.
   */
  async function migrateWithAck(opts: { older?: boolean; integrity?: "off" } = {}) {
    const s = new VirtualScheduler();
    const src = machine(s);
    const dst = machine(s);
    src.start();
    const link = createLink({ scheduler: s, bandwidth: 8 * MiB, latency: 2e6 });
    // What an older source sends: the same format with version 1 in the header. Its first write
    // (the header and what follows it) goes out with byte 7 changed, before the link's tally.
    let first: Uint8Array | null = null;
    const older = new Proxy(link.source, {
      get(target, prop) {
        if (prop === "writeOwned") return undefined;
        if (prop === "write") {
          return (chunk: Uint8Array, accounted?: number) => {
            if (first !== null) return target.write(chunk, accounted);
            first = chunk.slice();
            const v1 = chunk.slice();
            v1[7] = 1;
            return target.write(v1, accounted);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const inc = incoming({
      machine: dst,
      transport: link.destination,
      resume: false,
      ...(opts.integrity !== undefined ? { integrity: opts.integrity } : {}),
    });
    const m = manager({ "return-path": true, "switchover-ack": true }).migrate({
      machine: src,
      transport: opts.older === true ? older : link.source,
    });
    await s.run({ untilNs: 60e9, stopWhen: () => isTerminalStatus(m.status) });
    const [info, r] = await Promise.all([m.done, inc.done]);
    expect([info.status, r.status]).toEqual(["completed", "completed"]);
    if (opts.older === true) {
      // The header the source wrote, before it was changed: this ferry's version 3.
      expect([...first!.subarray(0, 8)]).toEqual([0x46, 0x52, 0x52, 0x59, 0, 0, 0, 3]);
    }
    const acks = link.source.returnPath!.received.filter((x) => x.type === "switchover-ack");
    return { src, dst, link, sent: link.source.returnPath!.sent, acks };
  }

  it("switchover-ack over the link: completes after the destination acknowledged every byte", async () => {
    const { link, sent, acks } = await migrateWithAck();
    expect(acks).toEqual([{ type: "switchover-ack", bytes: sent.bytes, digest: sent.digest }]);
    // INTEGRITY announcement (4 + 1), SWITCHOVER_ACK (4 + 8 + 16: Fletcher-64 of a version-2 or
    // later stream); SHUT follows once loaded.
    expect(acks[0]!.digest).toHaveLength(32);
    expect(link.stats().reverse.bytes).toBe(33);
  });

  it("an older ferry's source (a version-1 stream) migrates to this destination, acknowledged with CRC-32", async () => {
    const { link, sent, acks } = await migrateWithAck({ older: true });
    expect(acks).toEqual([{ type: "switchover-ack", bytes: sent.bytes, digest: sent.digest }]);
    expect(acks[0]!.digest).toHaveLength(8);
    // INTEGRITY (4 + 1) and a CRC-32 SWITCHOVER_ACK (4 + 12), as before version 2.
    expect(link.stats().reverse.bytes).toBe(21);
  });

  it("a destination in QEMU's mode (integrity off) does not digest; the source checks the byte count", async () => {
    const { src, dst, link, sent, acks } = await migrateWithAck({ integrity: "off" });
    expect(acks).toEqual([{ type: "switchover-ack", bytes: sent.bytes, digest: "00000000" }]);
    expect(sent.digested).toBe(false);
    expect(link.destination.returnPath!.received.digested).toBe(false);
    expect(dst.saveState()).toEqual(src.saveState());
  });

  it("a fake destination that acknowledges without loading everything is not completed", async () => {
    const s = new VirtualScheduler();
    const src = machine(s);
    src.start();
    const link = createLink({ scheduler: s, bandwidth: 8 * MiB, latency: 2e6 });
    const rp = link.destination.returnPath!;
    let acked = false;
    link.destination.receive({
      data: () => {
        // Acknowledges what it has seen so far after the first chunk, then ignores the rest.
        if (!acked) {
          acked = true;
          rp.send({ type: "switchover-ack", bytes: rp.received.bytes, digest: rp.received.digest });
        }
      },
      end: () => {},
      error: () => {},
    });
    const m = manager({ "return-path": true, "switchover-ack": true }).migrate({
      machine: src,
      transport: link.source,
    });
    await s.run({ untilNs: 60e9, stopWhen: () => isTerminalStatus(m.status) });
    const info = await m.done;
    expect(info.status).toBe("failed");
    expect(info["error-desc"]).toMatch(
      /link: switchover acknowledgement refused: the destination acknowledged \d+ stream bytes, the source sent \d+/,
    );
  });

  it("a file is one-way: return-path and switchover-ack are refused with a clear error", async () => {
    const sets: Record<string, boolean>[] = [
      { "return-path": true },
      { "return-path": true, "switchover-ack": true },
    ];
    for (const caps of sets) {
      const s = new VirtualScheduler();
      const src = machine(s);
      src.start();
      const path = join(dir, "snap.bin");
      const m = manager(caps).migrate({ machine: src, transport: fileSink(path) });
      await s.run({ untilNs: 10e9, stopWhen: () => isTerminalStatus(m.status) });
      const info = await m.done;
      expect(info.status).toBe("failed");
      const cap = "return-path";
      expect(info["error-desc"]).toContain(
        `capability "${cap}" needs a return path, and file:${path} is one-way`,
      );
      expect(src.state).toBe("running");
      src.stop();
    }
  });

  it("switchover-ack requires return-path (QEMU's rule)", () => {
    const mgr = createMigrationManager({ plugins: [precopy()] });
    expect(() => mgr.setCapabilities({ "switchover-ack": true })).toThrow(/return-path/);
  });

  for (const [kind, addr] of [
    ["tcp", { host: "127.0.0.1", port: 0 }],
    ["unix", { path: join(dir, "rp.sock") }],
  ] as const) {
    it(`${kind}: two-way — switchover-ack and SHUT come back; the thread verifies them`, async () => {
      const s = new RealtimeScheduler();
      const src = machine(s);
      const dst = machine(s);
      src.start();
      const listener = await listenSocket(addr);
      try {
        const accepted = listener.accept();
        const out = await connectSocket(listener.address);
        const inc = incoming({ machine: dst, transport: await accepted, resume: false });
        const m = manager({ "return-path": true, "switchover-ack": true }).migrate({
          machine: src,
          transport: out,
        });
        const [info, r] = await Promise.all([m.done, inc.done]);
        expect(r.status).toBe("completed");
        expect(info.status).toBe("completed");
        const sent = out.returnPath!.sent;
        expect(out.returnPath!.received).toEqual([
          { type: "integrity", mode: "accept" },
          { type: "switchover-ack", bytes: sent.bytes, digest: sent.digest },
          { type: "shut", status: 0 },
        ]);
        expect(sent.bytes).toBe(r.bytes);
      } finally {
        await listener.close();
        src.stop();
        dst.stop();
      }
    });
  }

  it("tcp: a fake destination whose acknowledgement misses bytes fails the migration", async () => {
    const s = new RealtimeScheduler();
    const src = machine(s);
    src.start();
    let received = 0;
    const server = createServer((sock: Socket) => {
      sock.on("data", (b: Buffer) => {
        received += b.length;
      });
      sock.on("end", () => {
        // Claims one byte fewer than it read.
        sock.write(
          encodeRpMessage({ type: "switchover-ack", bytes: received - 1, digest: "00000000" }),
        );
        sock.write(encodeRpMessage({ type: "shut", status: 0 }));
        sock.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      const out = await connectSocket({ host: "127.0.0.1", port });
      const m = createMigrationManager({ plugins: [precopy()] }).migrate({
        machine: src,
        transport: out,
      });
      const info = await m.done;
      expect(info.status).toBe("failed");
      expect(info["error-desc"]).toMatch(
        /switchover acknowledgement refused: the destination acknowledged/,
      );
      // The destination may have started: the source must not resume (no split brain).
      expect(src.state).toBe("paused");
    } finally {
      src.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
