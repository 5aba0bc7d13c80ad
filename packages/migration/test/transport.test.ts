import { VirtualScheduler } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { createLink, formatInfoMigrate, type MigrationInfo } from "../src/index";

describe("link transport (virtual time)", () => {
  it("occupies the link for len/bandwidth, delivers latency later, in order; drain waits", async () => {
    const s = new VirtualScheduler();
    const link = createLink({
      scheduler: s,
      bandwidth: 1000,
      latency: 5_000_000,
      bufferBytes: 500,
    });
    const got: Array<[number, number]> = [];
    let endedAt = -1;
    link.destination.receive({
      data: (c) => got.push([s.now(), c[0]]),
      end: () => {
        endedAt = s.now();
      },
      error: () => {},
    });
    const chunk = new Uint8Array(1000);
    chunk[0] = 1;
    link.source.write(chunk);
    chunk[0] = 2; // the link copied the first chunk
    link.source.write(chunk.subarray(0, 500));
    expect(link.source.backedUp).toBe(true);
    let drainedAt = -1;
    let finishedAt = -1;
    const sender = (async () => {
      await link.source.drain();
      drainedAt = s.now();
      await link.source.end();
      finishedAt = s.now();
    })();
    await s.run();
    await sender;
    expect(got).toEqual([
      [1_005_000_000, 1],
      [1_505_000_000, 2],
    ]);
    // drain() waits until at most half the buffer (250 bytes) is untransmitted.
    expect(drainedAt).toBe(1_250_000_000);
    expect(endedAt).toBe(1_505_000_000);
    expect(finishedAt).toBe(1_505_000_000);
    expect(link.delivered).toBe(1500);
  });

  it("a cut link fails the sender and tells the receiver once", async () => {
    const s = new VirtualScheduler();
    const link = createLink({ scheduler: s, bandwidth: 0, latency: 1000 });
    const errors: string[] = [];
    let data = 0;
    link.source.write(new Uint8Array(10));
    link.cut();
    link.destination.receive({
      data: () => data++,
      end: () => {},
      error: (e) => errors.push(e.message),
    });
    await s.run();
    expect(data).toBe(0);
    expect(errors).toEqual(["link connection dropped"]);
    expect(() => link.source.write(new Uint8Array(1))).toThrow(/dropped/);
    await expect(link.source.end()).rejects.toThrow(/dropped/);
    expect(link.source.error?.message).toMatch(/dropped/);
  });

  it("refuses negative bandwidth or latency", () => {
    const s = new VirtualScheduler();
    expect(() => createLink({ scheduler: s, bandwidth: -1, latency: 0 })).toThrow(/non-negative/);
  });
});

describe("formatInfoMigrate", () => {
  it("prints like QEMU's HMP info migrate, with plugin sections", () => {
    const info: MigrationInfo = {
      status: "active",
      "total-time": 1500,
      "setup-time": 3,
      "expected-downtime": 420,
      ram: {
        transferred: 10 * 1024 * 1024,
        remaining: 2048 * 1024,
        total: 64 * 1024 * 1024,
        duplicate: 100,
        normal: 2000,
        "normal-bytes": 2000 * 4096,
        "dirty-pages-rate": 1234,
        mbps: 55.555,
        "dirty-sync-count": 4,
        "page-size": 4096,
        "pages-per-second": 3000,
        "precopy-bytes": 10 * 1024 * 1024,
        "downtime-bytes": 0,
      },
      "xbzrle-cache": {
        "cache-size": 67108864,
        bytes: 4096,
        pages: 3,
        "cache-miss": 7,
        "cache-miss-rate": 0.5,
        "encoding-rate": 2.25,
        overflow: 1,
      },
      "cpu-throttle-percentage": 30,
    };
    expect(formatInfoMigrate(info)).toBe(
      [
        "Migration status: active",
        "total time: 1500 ms",
        "expected downtime: 420 ms",
        "setup: 3 ms",
        "transferred ram: 10240 kbytes",
        "throughput: 55.55 mbps",
        "remaining ram: 2048 kbytes",
        "total ram: 65536 kbytes",
        "duplicate: 100 pages",
        "normal: 2000 pages",
        "normal bytes: 8000 kbytes",
        "dirty sync count: 4",
        "page size: 4 kbytes",
        "pages-per-second: 3000",
        "dirty pages rate: 1234 pages",
        "precopy ram: 10240 kbytes",
        "cache size: 67108864 bytes",
        "xbzrle transferred: 4 kbytes",
        "xbzrle pages: 3 pages",
        "xbzrle cache miss: 7 pages",
        "xbzrle cache miss rate: 0.50",
        "xbzrle encoding rate: 2.25",
        "xbzrle overflow: 1",
        "cpu throttle percentage: 30",
        "",
      ].join("\n"),
    );
  });
});
