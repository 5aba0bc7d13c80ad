import { describe, expect, it } from "vitest";
import { formatEndpoint, parseEndpoint } from "../src/address";
import { addressOf, parseMigrationUri } from "../src/migration-uri";

describe("monitor and migration addresses", () => {
  it("parses monitor endpoints; an empty TCP host is loopback", () => {
    expect(parseEndpoint("unix:/tmp/a.sock")).toEqual({ kind: "unix", path: "/tmp/a.sock" });
    expect(parseEndpoint("tcp::4444")).toEqual({ kind: "tcp", host: "127.0.0.1", port: 4444 });
    expect(parseEndpoint("tcp:0.0.0.0:1")).toEqual({ kind: "tcp", host: "0.0.0.0", port: 1 });
    expect(parseEndpoint("tcp:[::1]:5")).toEqual({ kind: "tcp", host: "::1", port: 5 });
    expect(formatEndpoint({ kind: "tcp", host: "::1", port: 5 })).toBe("tcp:[::1]:5");
    expect(() => parseEndpoint("tcp:host:99999", "--qmp")).toThrow(
      '--qmp "tcp:host:99999": port must be an integer 0..65535, found "99999"',
    );
    expect(() => parseEndpoint("stdio")).toThrow("expected unix:<path> or tcp:<host>:<port>");
    expect(() => parseEndpoint("unix:")).toThrow("expected unix:<path>");
  });

  it("parses migration URIs and channels as QEMU does", () => {
    expect(parseMigrationUri("tcp:127.0.0.1:4444")).toEqual({
      transport: "socket",
      type: "inet",
      host: "127.0.0.1",
      port: 4444,
    });
    expect(parseMigrationUri("unix:/x.sock")).toEqual({
      transport: "socket",
      type: "unix",
      path: "/x.sock",
    });
    expect(parseMigrationUri("file:/tmp/s.bin,offset=0x1000")).toEqual({
      transport: "file",
      filename: "/tmp/s.bin",
      offset: 4096,
    });
    expect(() => parseMigrationUri("tcp:host")).toThrow(
      "address resolution failed for host: missing port",
    );
    expect(() => parseMigrationUri("rdma:1.2.3.4:5")).toThrow(
      "protocol 'rdma' is not supported by ferry",
    );
    expect(
      addressOf(
        {
          channels: [
            {
              "channel-type": "main",
              addr: { transport: "socket", type: "inet", host: "h", port: "7" },
            },
          ],
        },
        "migrate",
      ),
    ).toEqual({ transport: "socket", type: "inet", host: "h", port: 7 });
    expect(() =>
      addressOf(
        {
          channels: [
            { "channel-type": "main", addr: { transport: "socket", type: "unix", path: "/a" } },
            { "channel-type": "main", addr: { transport: "socket", type: "unix", path: "/b" } },
          ],
        },
        "migrate",
      ),
    ).toThrow("Channel list has more than one entries");
    expect(() =>
      addressOf(
        {
          channels: [
            { "channel-type": "main", addr: { transport: "socket", type: "inet", host: "h" } },
          ],
        },
        "m",
      ),
    ).toThrow("Parameter 'channels[0].addr.port' is missing");
  });
});
