/**
 * The zod instance the migration framework uses, re-exported for this plugin's parameter schema.
 *
 * This package does not declare `zod` as a dependency yet (adding one needs `pnpm install`), so
 * it is reached through `@ferry/migration`'s own install. Once `"zod"` is added to this package's
 * dependencies, replace the path below with `"zod"`.
 */
export { z } from "../../../packages/migration/node_modules/zod/index";
