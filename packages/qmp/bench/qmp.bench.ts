/**
 * QMP: the request framer's throughput and a request round trip over a unix socket.
 * Run: npx vitest bench --run packages/qmp/bench/qmp.bench.ts
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, test } from "vitest";
import { z } from "zod";
import { connectQmp, type QmpClient } from "../src/client";
import { commandSpec, defineCommand } from "../src/command";
import { createJsonSplitter } from "../src/framing";
import { createQmpServer, type QmpServer } from "../src/server";

const REQUESTS = 1000;
const text = Array.from(
  { length: REQUESTS },
  (_, i) => `{"execute":"query-migrate","arguments":{"k":"${"x".repeat(64)}"},"id":${i}}\r\n`,
).join("");
const bytes = new TextEncoder().encode(text);

test(`framing: ${REQUESTS} requests (${(bytes.length / 1024).toFixed(0)} KiB) in one chunk and in 1 KiB chunks`, async ({
  bench,
}) => {
  await bench.compare(
    bench("one chunk", () => {
      createJsonSplitter().push(bytes);
    }),
    bench("1 KiB chunks", () => {
      const s = createJsonSplitter();
      for (let o = 0; o < bytes.length; o += 1024) s.push(bytes.subarray(o, o + 1024));
    }),
  );
});

const spec = commandSpec({
  name: "query-status",
  args: z.object({}),
  returns: z.object({ running: z.boolean(), status: z.string() }),
});
let server: QmpServer;
let client: QmpClient<{ "query-status": typeof spec }>;

beforeAll(async () => {
  server = createQmpServer({
    commands: [defineCommand(spec, () => ({ running: true, status: "running" }))] as never,
  });
  const path = join(mkdtempSync(join(tmpdir(), "ferry-qmp-bench-")), "m.sock");
  await server.listen({ kind: "unix", path });
  client = await connectQmp({ kind: "unix", path }, { "query-status": spec });
});

afterAll(async () => {
  client.close();
  await server.close();
});

test("round trip: query-status over a unix socket (client and server in one process)", async ({
  bench,
}) => {
  await bench.compare(
    bench("one request at a time", async () => {
      await client.execute("query-status");
    }),
    bench("8 pipelined (per batch)", async () => {
      await Promise.all(Array.from({ length: 8 }, () => client.execute("query-status")));
    }),
  );
});
