/**
 * Start a worker thread whose entry module sits next to the caller: `<name>.js` in a built
 * package; from TypeScript sources (vitest, tsx), `<name>.ts` behind a bootstrap that registers
 * tsx's loader in the thread first. Shared by the multifd channel workers and the QMP monitor
 * I/O thread.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Start the worker entry `name` (without extension) that lives beside the module `callerUrl`
 * (the caller's `import.meta.url`).
 */
export function startWorkerEntry(
  callerUrl: string,
  name: string,
  options: WorkerOptions = {},
): Worker {
  if (!callerUrl.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const pkg = createRequire(callerUrl).resolve("tsx/package.json");
  const api = pathToFileURL(pkg.replace(/package\.json$/, "dist/esm/api/index.mjs")).href;
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
