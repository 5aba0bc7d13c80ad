/**
 * The NVRAM's migration section, both halves. Iterative, like RAM: the START chunk carries every
 * key, a PART chunk after each RAM iteration carries the keys changed since they were last sent,
 * and the END chunk (vCPUs stopped) the rest. A chunk body is UTF-8 JSON `{ key: value, … }`.
 */
import type {
  MigrationContext,
  MigrationSection,
  SectionLoader,
  SectionLoaderDef,
  SectionSaver,
} from "@ferry/migration";
import { type Nvram, nvramOf } from "./device";

/** The section's idstr on the stream. */
export const NVRAM_SECTION = "nvram";
/** The section's version. */
export const NVRAM_SECTION_VERSION = 1;
/** The key that counts migrations of this machine (set by the saver at setup). */
export const MIGRATIONS_KEY = "migrations";

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** Make the saver of one migration of `nvram`. */
export function createNvramSaver(nvram: Nvram): SectionSaver {
  const sent = new Map<string, number>();
  let chunks = 0;
  let bytes = 0;
  let keysSent = 0;
  const dirty = (): string[] => nvram.keys().filter((k) => nvram.version(k) !== sent.get(k));
  const chunk = (keys: readonly string[]): Uint8Array => {
    const body: Record<string, string> = {};
    for (const k of keys) {
      body[k] = nvram.get(k)!;
      sent.set(k, nvram.version(k));
    }
    const out = enc.encode(JSON.stringify(body));
    chunks++;
    bytes += out.length;
    keysSent += keys.length;
    return out;
  };
  return {
    idstr: NVRAM_SECTION,
    version: NVRAM_SECTION_VERSION,
    setup() {
      nvram.set(MIGRATIONS_KEY, String(Number(nvram.get(MIGRATIONS_KEY) ?? "0") + 1));
      return chunk(nvram.keys());
    },
    iterate() {
      const keys = dirty();
      return keys.length === 0 ? null : chunk(keys);
    },
    pendingBytes() {
      let n = 0;
      for (const k of dirty()) n += k.length + nvram.get(k)!.length + 6;
      return n;
    },
    complete: () => chunk(dirty()),
    stats: () => ({ [NVRAM_SECTION]: { chunks, bytes, "keys-sent": keysSent } }),
  };
}

/** Make the loader that applies chunks to `nvram`. */
export function createNvramLoader(nvram: Nvram): SectionLoader {
  return {
    load(chunk) {
      let body: unknown;
      try {
        body = JSON.parse(dec.decode(chunk));
      } catch (e) {
        throw new Error(`NVRAM chunk is not UTF-8 JSON: ${(e as Error).message}`);
      }
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new Error("NVRAM chunk must be a JSON object of strings");
      }
      const entries = Object.entries(body as Record<string, unknown>);
      for (const [k, v] of entries) {
        if (typeof v !== "string") throw new Error(`NVRAM key "${k}" must hold a string`);
      }
      for (const [k, v] of entries) nvram.set(k, v as string);
    },
  };
}

/** The section part (source side): the NVRAM of the migrated machine. */
export const nvramSection: MigrationSection = {
  name: "nvram",
  create: (ctx: MigrationContext) => createNvramSaver(nvramOf(ctx.machine)),
};

/** The destination half, declared in the plugin's `sections`. */
export const nvramLoaderDef: SectionLoaderDef = {
  idstr: NVRAM_SECTION,
  versions: [NVRAM_SECTION_VERSION],
  create: (machine) => createNvramLoader(nvramOf(machine)),
};
