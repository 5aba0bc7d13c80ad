/**
 * `pnpm ferry …` in this repository: run the CLI from its TypeScript sources in the directory
 * pnpm was started from. pnpm runs scripts in the workspace root and passes the caller's
 * directory as `INIT_CWD`; moving back there makes `pnpm ferry run hello.yaml` inside
 * `examples/configs/` mean that folder's `hello.yaml`, as an installed `ferry` would.
 */
const from = process.env.INIT_CWD;
if (from !== undefined && from !== "") process.chdir(from);
await import("../packages/cli/src/bin");
export {};
