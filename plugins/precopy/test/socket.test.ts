import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Machine, RealtimeScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { uniformDirtier } from "@ferry/sim";
import {
  connectSocket,
  createMigrationManager,
  incoming,
  listenSocket,
  type SocketAddress,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "ferry-sock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function machine(s: RealtimeScheduler, size = 1024 * 1024): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 50_000, footprintPages: size / 8192, seed: 9 }),
    vcpus: 1,
    memory: { size },
  });
}

const hash = (m: Machine): string =>
  createHash("sha256").update(m.ram.backend.bytes!).digest("hex");

async function migrateOver(
  addr: SocketAddress,
  opts: {
    integrity?: boolean;
    destination?: "off";
    writeBufferBytes?: number;
    memoryBytes?: number;
  } = {},
): Promise<void> {
  const s = new RealtimeScheduler();
  const src = machine(s, opts.memoryBytes);
  const dst = machine(s, opts.memoryBytes);
  src.start();
  await s.sleep(20_000_000);
  const listener = await listenSocket(addr);
  try {
    const accepted = listener.accept();
    const out = await connectSocket(listener.address);
    const inc = incoming({
      machine: dst,
      transport: await accepted,
      resume: false,
      ...(opts.destination !== undefined ? { integrity: opts.destination } : {}),
    });
    const mgr = createMigrationManager({ plugins: [precopy()] });
    if (opts.integrity !== undefined) mgr.setParameters({ "x-integrity": opts.integrity });
    const m = mgr.migrate({
      machine: src,
      transport: out,
      ...(opts.writeBufferBytes !== undefined ? { writeBufferBytes: opts.writeBufferBytes } : {}),
    });
    const [info, r] = await Promise.all([m.done, inc.done]);
    // x-integrity false: the source counts the stream without digesting it (QEMU's stream); the
    // acknowledgement that ended the migration was checked by its byte count.
    expect(out.returnPath?.sent.digested).toBe(
      opts.integrity !== false && opts.destination !== "off",
    );
    expect(r.bytes).toBe(out.returnPath?.sent.bytes);
    expect(r.error).toBeUndefined();
    expect(info.status).toBe("completed");
    expect(r.status).toBe("completed");
    expect(hash(dst)).toBe(hash(src));
    expect(dst.saveState()).toEqual(src.saveState());
    expect(src.state).toBe("paused");
  } finally {
    await listener.close();
    src.stop();
    dst.stop();
  }
}

describe("socket transports (realtime)", () => {
  it("migrates between two machines over loopback TCP", async () => {
    await migrateOver({ host: "127.0.0.1", port: 0 });
  });

  it("x-integrity false, 1 MiB writer buffers given whole to the socket: same result", async () => {
    await migrateOver(
      { host: "127.0.0.1", port: 0 },
      { integrity: false, writeBufferBytes: 1 << 20 },
    );
  });

  it("a destination in QEMU's mode (integrity off): neither side digests, the count is checked", async () => {
    await migrateOver({ host: "127.0.0.1", port: 0 }, { destination: "off" });
  });

  it("migrates between two machines over a unix socket", async () => {
    await migrateOver({ path: join(dir, "mig.sock") });
  });

  it("x-integrity false over a unix socket (pages go to the kernel by reference): same result", async () => {
    await migrateOver({ path: join(dir, "mig-plain.sock") }, { integrity: false });
  });

  it("x-integrity false over a unix socket, 64 MiB dirtied all over during the migration (more than the kernel's buffers: the rest queued by reference, pages in runs): same result", async () => {
    await migrateOver(
      { path: join(dir, "mig-64-plain.sock") },
      { integrity: false, memoryBytes: 64 << 20 },
    );
  });

  it("digested over a unix socket, 64 MiB dirtied all over during the migration (the rest copied, pages in runs): same result", async () => {
    await migrateOver({ path: join(dir, "mig-64.sock") }, { memoryBytes: 64 << 20 });
  });

  it("a connection dropped by the destination fails the migration; the source keeps running", async () => {
    const s = new RealtimeScheduler();
    const src = machine(s);
    src.start();
    const listener = await listenSocket({ port: 0 });
    try {
      const accepted = listener.accept();
      const mgr = createMigrationManager({ plugins: [precopy()] });
      mgr.setParameters({ "max-bandwidth": 1024 * 1024 });
      const m = mgr.migrate({ machine: src, transport: await connectSocket(listener.address) });
      const sock = await accepted;
      sock.receive({ data: () => sock.close(), end: () => {}, error: () => {} });
      const info = await m.done;
      expect(info.status).toBe("failed");
      expect(info["error-desc"]).toMatch(/connection dropped|EPIPE|ECONNRESET/);
      expect(src.state).toBe("running");
      expect(src.ram.dirty.logging).toBe(false);
    } finally {
      await listener.close();
      src.stop();
    }
  });
});
