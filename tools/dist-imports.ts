/**
 * Second step of `pnpm build`: make the JavaScript and declarations that `tsc -b` wrote into each
 * package's `dist/` loadable by Node's ESM resolver and by TypeScript's `nodenext` resolution.
 *
 * The sources import each other without extensions (`from "./memory/bitmap"`), which the
 * monorepo's `Bundler` resolution, tsx and vitest accept, but Node and `nodenext` do not. This
 * rewrites every relative specifier in `dist/**\/*.{js,d.ts}` to the file that exists
 * (`./memory/bitmap.js` or `./memory/index.js`). Specifiers that already name a file are left
 * alone, so running it twice changes nothing. The packages come from the references of
 * `tsconfig.build.json`, so a package added there is handled without touching this file.
 *
 * Usage: `tsx tools/dist-imports.ts` (from the repository root).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** `from "./x"`, `import "./x"`, `import("./x")`, `export * from "./x"`. */
const RELATIVE_SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*)\2/g;

/** The specifier with the extension Node needs, or `undefined` when nothing matches on disk. */
export function withExtension(spec: string, fromDir: string): string | undefined {
  if (/\.(m?js|json|cjs)$/.test(spec)) return spec;
  const base = resolve(fromDir, spec);
  if (existsSync(`${base}.js`)) return `${spec}.js`;
  if (existsSync(join(base, "index.js"))) return `${spec.replace(/\/$/, "")}/index.js`;
  return undefined;
}

/** Rewrite the relative specifiers of one emitted file's text. */
export function rewriteSpecifiers(text: string, file: string): string {
  return text.replace(RELATIVE_SPECIFIER, (whole, lead: string, quote: string, spec: string) => {
    const fixed = withExtension(spec, dirname(file));
    if (fixed === undefined) {
      throw new Error(`${file}: cannot resolve ${JSON.stringify(spec)} to a .js file in dist`);
    }
    return fixed === spec ? whole : `${lead}${quote}${fixed}${quote}`;
  });
}

function* emittedFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* emittedFiles(path);
    else if (name.endsWith(".js") || name.endsWith(".d.ts")) yield path;
  }
}

/** The `dist/` folders of the projects `tsconfig.build.json` references. */
export function distFolders(root: string): string[] {
  const config = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as {
    references: { path: string }[];
  };
  return config.references.map((r) => join(root, dirname(r.path), "dist"));
}

function main(): void {
  const root = process.cwd();
  let changed = 0;
  for (const dist of distFolders(root)) {
    if (!existsSync(dist))
      throw new Error(`${dist} does not exist: run tsc -b tsconfig.build.json`);
    for (const file of emittedFiles(dist)) {
      const before = readFileSync(file, "utf8");
      const after = rewriteSpecifiers(before, file);
      if (after !== before) {
        writeFileSync(file, after);
        changed++;
      }
    }
  }
  process.stdout.write(`dist-imports: ${changed} files rewritten\n`);
}

main();
