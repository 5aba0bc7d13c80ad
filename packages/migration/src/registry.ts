/**
 * The capability & parameter registry: the union of the loaded plugins' capabilities and
 * parameter schemas plus the framework's core parameters. Requests are validated as a whole;
 * nothing changes when one is refused.
 */
import { z } from "zod";
import { MigrationConfigError } from "./errors";
import type { CapabilityDef, FerryPlugin, ParameterSchema } from "./plugin";

/** Core parameters owned by the framework (QEMU names and defaults). */
export const coreParameters = z.object({
  /** Source rate limit in bytes/s (0 = unlimited). */
  "max-bandwidth": z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(134217728),
  /** Maximum tolerated downtime in ms. */
  "downtime-limit": z.number().int().min(0).max(2000000).default(300),
  /** Bandwidth (bytes/s) assumed for the switchover decision instead of the measured one (0 = measure). */
  "avail-switchover-bandwidth": z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  /**
   * Host cost model (not QEMU's): virtual CPU ns the source's migration thread spends per page it
   * sends (bitmap scan, zero check, copy), paid as a sleep every 64 pages. 0 = free (default).
   */
  "x-page-cost-ns": z.number().min(0).max(1e9).default(0),
  /**
   * The rate limiter's output-buffer model (not a QEMU parameter; QEMU's value is fixed): raw
   * pages per QEMUFile flush (`MAX_IOV_SIZE` / 2 = 32). The 100 ms window counts bytes only when
   * the buffer flushes, so it ends on the first batch past `max-bandwidth / 10`. 0 = count every
   * byte at once (no buffer).
   */
  "x-flush-pages": z.number().int().min(0).max(4096).default(32),
  /**
   * Stream integrity framing (not QEMU's; docs/stream-format.md): `auto` frames the stream on a
   * one-way transport (a file) and not on the wire; `true` (`on`) frames it on a file, and on the
   * wire when the destination announces it reads framing; `false` (`off`, QEMU-compatible) never.
   */
  "x-integrity": z.union([z.boolean(), z.literal("auto")]).default("auto"),
});

/** A read-only view of a capability with its current state. */
export interface CapabilityInfo extends CapabilityDef {
  /** Current state. */
  readonly state: boolean;
  /** Plugin that added it. */
  readonly plugin: string;
}

/**
 * The capabilities of the migration framework itself (plugin `"core"`), QEMU's names: the
 * return path, and the switchover acknowledgement that needs it. A one-way transport (a file)
 * refuses both when a migration starts.
 */
export const coreCapabilities: readonly CapabilityDef[] = [
  {
    name: "return-path",
    description:
      "the destination answers on the transport's return path (needs a two-way transport: link, tcp, unix)",
    default: false,
  },
  {
    name: "switchover-ack",
    description:
      "the migration completes only when the destination acknowledges having loaded every byte the source sent (count and digest)",
    default: false,
    requires: ["return-path"],
  },
];

/** The registry (one per migration manager). */
export interface MigrationRegistry {
  /** Every capability with its state (QEMU `query-migrate-capabilities`). */
  queryCapabilities(): CapabilityInfo[];
  /** Capability states as a record. */
  capabilities(): Record<string, boolean>;
  /** Every parameter with its value (QEMU `query-migrate-parameters`). */
  queryParameters(): Record<string, unknown>;
  /** Set capabilities; validates the whole request (names, types, requires/conflicts) first. */
  setCapabilities(request: Readonly<Record<string, unknown>>): void;
  /** Set parameters; validates the whole request (names, types, ranges) first. */
  setParameters(request: Readonly<Record<string, unknown>>): void;
}

/** Build a registry over `plugins`; `isActive()` tells whether a migration is running (changes refused). */
export function createRegistry(
  plugins: readonly FerryPlugin[],
  isActive: () => boolean = () => false,
): MigrationRegistry {
  const caps = new Map<string, CapabilityInfo & { state: boolean }>();
  for (const c of coreCapabilities) caps.set(c.name, { ...c, plugin: "core", state: c.default });
  for (const p of plugins) {
    for (const c of p.capabilities) {
      if (caps.has(c.name)) {
        throw new MigrationConfigError(
          c.name,
          `capability declared twice (by "${caps.get(c.name)!.plugin}" and "${p.name}")`,
        );
      }
      caps.set(c.name, { ...c, plugin: p.name, state: c.default });
    }
  }
  // A requirement on a capability no loaded plugin provides can never be met: refuse the plugin
  // set. A conflict with an absent capability is vacuous (it can never be on), so plugins may
  // declare conflicts with capabilities of plugins that are not loaded.
  for (const c of caps.values()) {
    for (const other of c.requires ?? []) {
      if (!caps.has(other)) {
        throw new MigrationConfigError(
          c.name,
          `requires capability "${other}", which no loaded plugin provides (unknown capability "${other}")`,
        );
      }
    }
  }

  const fields = new Map<string, { schema: z.ZodType; plugin: string }>();
  const addSchema = (schema: ParameterSchema, plugin: string): void => {
    for (const [key, schema2] of Object.entries(schema.shape)) {
      if (fields.has(key)) {
        throw new MigrationConfigError(
          key,
          `parameter declared twice (by "${fields.get(key)!.plugin}" and "${plugin}")`,
        );
      }
      fields.set(key, { schema: schema2 as z.ZodType, plugin });
    }
  };
  addSchema(coreParameters, "core");
  for (const p of plugins) if (p.parameters) addSchema(p.parameters, p.name);

  const values = new Map<string, unknown>();
  for (const [key, f] of fields) {
    const r = f.schema.safeParse(undefined);
    if (!r.success) {
      throw new MigrationConfigError(key, `parameter from "${f.plugin}" has no default value`);
    }
    values.set(key, r.data);
  }

  const refuseIfActive = (what: string): void => {
    if (isActive()) {
      throw new MigrationConfigError("", `cannot change ${what} while a migration is active`);
    }
  };

  return {
    queryCapabilities: () =>
      [...caps.values()].map((c) => ({ ...c, requires: c.requires, conflicts: c.conflicts })),
    capabilities: () => Object.fromEntries([...caps.values()].map((c) => [c.name, c.state])),
    queryParameters: () => Object.fromEntries(values),

    setCapabilities(request) {
      refuseIfActive("capabilities");
      const next = new Map<string, boolean>();
      for (const c of caps.values()) next.set(c.name, c.state);
      for (const [name, value] of Object.entries(request)) {
        if (!caps.has(name)) {
          const known = [...caps.keys()].join(", ") || "none";
          throw new MigrationConfigError(name, `unknown capability (known: ${known})`);
        }
        if (typeof value !== "boolean") {
          throw new MigrationConfigError(name, `expected a boolean, got ${describe(value)}`);
        }
        next.set(name, value);
      }
      for (const c of caps.values()) {
        if (!next.get(c.name)) continue;
        for (const r of c.requires ?? []) {
          if (!next.get(r)) {
            throw new MigrationConfigError(c.name, `requires capability "${r}" to be on`);
          }
        }
        for (const x of c.conflicts ?? []) {
          if (next.get(x)) {
            throw new MigrationConfigError(c.name, `conflicts with capability "${x}"`);
          }
        }
      }
      for (const [name, value] of next) caps.get(name)!.state = value;
    },

    setParameters(request) {
      refuseIfActive("parameters");
      const parsed = new Map<string, unknown>();
      for (const [key, value] of Object.entries(request)) {
        const f = fields.get(key);
        if (f === undefined) {
          const known = [...fields.keys()].join(", ");
          throw new MigrationConfigError(key, `unknown parameter (known: ${known})`);
        }
        if (value === undefined) {
          throw new MigrationConfigError(key, "expected a value, got undefined");
        }
        const r = f.schema.safeParse(value);
        if (!r.success) {
          const msg = r.error.issues.map((i) => i.message).join("; ");
          throw new MigrationConfigError(key, `${msg} (got ${describe(value)})`);
        }
        parsed.set(key, r.data);
      }
      for (const [key, value] of parsed) values.set(key, value);
    },
  };
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
