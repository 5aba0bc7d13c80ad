/**
 * ferry outside its repository: build every publishable package, `pnpm pack` it, install the
 * tarballs with plain `npm` into an empty directory under the system temp folder, then
 *
 * - compile an external plugin package (`ferry-plugin-fixed-throttle`) with the tsconfig that
 *   `tsc --init` writes (`nodenext`) against the published `.d.ts` files,
 * - `npx ferry run` a RISC-V guest whose config names the ELF relative to the config file,
 * - `ferry migrate` (from another directory) a config that loads that plugin by package name.
 *
 * npm fetches third-party dependencies (zod, vega, …) through its cache (`--prefer-offline`),
 * from the registry on a fresh machine.
 */
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const FIXTURE = join(ROOT, "packages/cli/test/fixtures/fixed-throttle-plugin/index.ts");
/** Workspace folders whose packages are published (the `pnpm -r pack` filter). */
const PUBLISHED_FOLDERS = ["packages", "plugins"];

function sh(cmd: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const p = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout: 240_000,
    env: { ...process.env, npm_config_update_notifier: "false", NO_COLOR: "1" },
  });
  if (p.error) throw p.error;
  return p;
}

function ok(p: SpawnSyncReturns<string>, what: string): string {
  if (p.status !== 0) {
    throw new Error(
      `${what} exited ${p.status}\n${p.stdout.slice(-3000)}\n${p.stderr.slice(-3000)}`,
    );
  }
  return p.stdout;
}

/** name → tarball file name, for every non-private package of the published folders. */
function publishedPackages(): Map<string, string> {
  const out = new Map<string, string>();
  for (const folder of PUBLISHED_FOLDERS) {
    for (const dir of readdirSync(join(ROOT, folder))) {
      let pkg: { name: string; version: string; private?: boolean };
      try {
        pkg = JSON.parse(readFileSync(join(ROOT, folder, dir, "package.json"), "utf8"));
      } catch {
        continue;
      }
      if (pkg.private) continue;
      out.set(pkg.name, `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`);
    }
  }
  return out;
}

const PLUGIN_PACKAGE = {
  name: "ferry-plugin-fixed-throttle",
  version: "1.0.0",
  type: "module",
  exports: { ".": { types: "./dist/index.d.ts", import: "./dist/index.js" } },
  peerDependencies: { "@ferry/core": "^0.1.0", "@ferry/migration": "^0.1.0", zod: "^4.0.0" },
};

/** Checks that the published types are real types (an `any` would make these lines compile). */
const TYPE_PROBES = `import { createCpuThrottle } from "@ferry/core";
import type { FerryPlugin } from "@ferry/migration";
// @ts-expect-error the first argument is a list of vCPUs
createCpuThrottle("not vcpus", () => 0);
// @ts-expect-error a plugin's name is a string
export const wrong: FerryPlugin = { name: 1, capabilities: [], register() {} };
`;

const HELLO_YAML = `name: hello
machine: { vcpus: 1, memory: 16MiB, mips: 100, ram-backend: array }
guest: { elf: guests/hello.elf, args: [] }
run: { time-limit: 1s, seed: 1 }
`;

const THROTTLED_YAML = `name: throttled
machine: { vcpus: 2, memory: 16MiB, ram-backend: array, slice: 1ms }
workload:
  seed: 42
  writes-per-second: 1200
  distribution: { kind: uniform, footprint-bytes: 2MiB }
run: { time-limit: 10s, seed: 1 }
plugins: [ferry-plugin-fixed-throttle]
migration:
  start-after: 200ms
  link: { bandwidth: 8MiB/s, latency: 1ms }
  capabilities: { fixed-throttle: true }
  parameters: { fixed-throttle-pct: 60, downtime-limit: 300ms }
`;

/** Starts a multifd channel worker with zlib from the installed packages and builds a packet. */
const WORKER_PROBE = `import { startChannelWorker } from "@ferry/migration";
import { zlibCompression } from "@ferry/plugin-multifd";
const w = startChannelWorker({
  init: { role: "send", channel: 0, blocks: [], compression: { ...zlibCompression.worker, level: 1 } },
  onError: (e) => { console.error(e.message); process.exit(1); },
});
await w.ready;
const job = { kind: "send", seq: 0, flags: zlibCompression.flag | 1, packetNum: 0, block: 0, count: 0, offsets: new Float64Array(0), pages: null };
w.submit(job, [], (r) => console.log("worker:", r.kind, r.packet.byteLength));
await w.idle();
await w.close();
`;

/** Serves a QMP monitor from its I/O thread (dist/io-thread/worker.js) and queries it. */
const IO_THREAD_PROBE = `import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectQmp, createQmpServer, defineCommand, qmpSpecs } from "@ferry/qmp";
const server = createQmpServer({
  commands: [defineCommand(qmpSpecs["query-migrate"], () => ({ status: "none" }))],
});
const path = join(mkdtempSync(join(tmpdir(), "io-")), "m.sock");
await server.listen({ kind: "unix", path }, { ioThread: true });
const c = await connectQmp({ kind: "unix", path }, qmpSpecs);
console.log("io-thread:", JSON.stringify(await c.execute("query-migrate")));
c.close();
await server.close();
`;

describe("published packages", () => {
  const tmp = mkdtempSync(join(tmpdir(), "ferry-pack-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("build, pack, install with npm outside the workspace; a plugin type-checks and ferry runs it", () => {
    ok(sh(process.execPath, [TSC, "-b", "tsconfig.build.json"], ROOT), "tsc -b");
    ok(sh(process.execPath, ["--import", "tsx", "tools/dist-imports.ts"], ROOT), "dist-imports");
    const tarballs = join(tmp, "tarballs");
    const filters = PUBLISHED_FOLDERS.flatMap((f) => ["--filter", `./${f}/*`]);
    ok(sh("pnpm", ["-r", ...filters, "pack", "--pack-destination", tarballs], ROOT), "pnpm pack");

    const app = join(tmp, "app");
    const plugin = join(app, "fixed-throttle");
    mkdirSync(join(plugin, "src"), { recursive: true });
    mkdirSync(join(app, "guests"));
    const dependencies: Record<string, string> = {};
    for (const [name, file] of publishedPackages()) {
      expect(readdirSync(tarballs)).toContain(file);
      dependencies[name] = `file:${join(tarballs, file)}`;
    }
    const appPackage = {
      name: "app",
      private: true,
      type: "module",
      workspaces: ["fixed-throttle"],
    };
    writeFileSync(join(app, "package.json"), JSON.stringify({ ...appPackage, dependencies }));
    writeFileSync(join(plugin, "package.json"), JSON.stringify(PLUGIN_PACKAGE));
    copyFileSync(FIXTURE, join(plugin, "src/index.ts"));
    writeFileSync(join(plugin, "src/type-probes.ts"), TYPE_PROBES);
    copyFileSync(join(ROOT, "examples/guests/hello.elf"), join(app, "guests/hello.elf"));
    writeFileSync(join(app, "hello.yaml"), HELLO_YAML);
    writeFileSync(join(app, "throttled.yaml"), THROTTLED_YAML);

    ok(sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], app), "npm install");

    // The plugin package: the tsconfig `tsc --init` writes, built against the published types.
    ok(sh(process.execPath, [TSC, "--init"], plugin), "tsc --init");
    ok(
      sh(process.execPath, [TSC, "-p", ".", "--rootDir", "src", "--outDir", "dist"], plugin),
      "tsc",
    );

    const run = sh("npx", ["ferry", "run", "hello.yaml"], app);
    expect(run.stderr).toContain("hello: pass");
    expect(run.stdout).toContain("Hello from ferry guest on hart 0!");
    expect(run.status).toBe(0);

    // A multifd channel's worker thread starts from the built entry (dist/multifd/worker.js) and
    // loads the installed zlib method by its module URL.
    writeFileSync(join(app, "worker-probe.mjs"), WORKER_PROBE);
    const probe = sh(process.execPath, ["worker-probe.mjs"], app);
    expect(probe.stderr).toBe("");
    expect(probe.stdout.trim()).toBe("worker: sent 1344");
    expect(probe.status).toBe(0);

    // The QMP monitor's I/O thread starts from the built entry (dist/io-thread/worker.js).
    writeFileSync(join(app, "io-thread-probe.mjs"), IO_THREAD_PROBE);
    const io = sh(process.execPath, ["io-thread-probe.mjs"], app);
    expect(io.stderr).toBe("");
    expect(io.stdout.trim()).toBe('io-thread: {"status":"none"}');
    expect(io.status).toBe(0);

    // From another directory: the config's plugin is resolved from the config file's folder.
    const bin = join(app, "node_modules/.bin/ferry");
    const migrate = sh(bin, ["migrate", join(app, "throttled.yaml"), "--json"], tmp);
    expect(migrate.status, migrate.stderr).toBe(0);
    const result = JSON.parse(migrate.stdout) as {
      status: string;
      capabilities: Record<string, boolean>;
      stats: Record<string, Record<string, number>>;
      verification: { verified: boolean };
    };
    expect(result.status).toBe("completed");
    expect(result.capabilities["fixed-throttle"]).toBe(true);
    expect(result.stats["fixed-throttle"]?.["throttle-percentage"]).toBe(60);
    expect(result.stats["fixed-throttle"]?.["throttled-ns"]).toBeGreaterThan(0);
    expect(result.verification.verified).toBe(true);
  }, 420_000);
});
