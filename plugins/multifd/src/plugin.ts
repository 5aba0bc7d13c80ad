/**
 * The `multifd()` plugin factory: capability `multifd` (conflicts with `xbzrle`, as in QEMU), the
 * parameters `multifd-channels`, `multifd-compression`, `multifd-zlib-level`, `multifd-zstd-level`,
 * the page-channels part that routes every page through the framework's multi-channel page sender,
 * and the zlib and zstd methods (destinations decode them whatever their capabilities).
 */
import {
  type FerryPlugin,
  type MigrationContext,
  type MultifdCompression,
  type PageChannelPlan,
  PageChannels,
} from "@ferry/migration";
import { type MultifdCompressionMethod, multifdParameters } from "./parameters";
import { zlibCompression } from "./zlib";
import { zstdCompression } from "./zstd";

/** The capability name (QEMU's). */
export const MULTIFD_CAPABILITY = "multifd";

/** The compression methods by `multifd-compression` value. */
export const MULTIFD_COMPRESSIONS: Readonly<
  Record<Exclude<MultifdCompressionMethod, "none">, MultifdCompression>
> = {
  zlib: zlibCompression,
  zstd: zstdCompression,
};

/** The plan of one migration from its parameters. */
export function multifdPlan(parameters: Readonly<Record<string, unknown>>): PageChannelPlan {
  const method = parameters["multifd-compression"] as MultifdCompressionMethod;
  const compression = method === "none" ? null : MULTIFD_COMPRESSIONS[method];
  return {
    channels: parameters["multifd-channels"] as number,
    compression,
    level: (method === "zstd"
      ? parameters["multifd-zstd-level"]
      : parameters["multifd-zlib-level"]) as number,
  };
}

/** The page-channels part, enabled by the `multifd` capability. */
export const multifdChannels: PageChannels = {
  name: "multifd",
  capability: MULTIFD_CAPABILITY,
  create: (ctx: MigrationContext) => multifdPlan(ctx.parameters),
};

/**
 * The multifd plugin. Off by default (QEMU's default); turn it on with capability `multifd`. Both
 * sides need it loaded (the destination to decode compressed packets) and the destination must be
 * told the channel count (`incoming({ multifdChannels })`; `ferry migrate` does it).
 */
export function multifd(): FerryPlugin {
  return {
    name: "multifd",
    capabilities: [
      {
        name: MULTIFD_CAPABILITY,
        description: "send pages in packets over several data channels (multifd-channels)",
        default: false,
        conflicts: ["xbzrle"],
      },
    ],
    parameters: multifdParameters,
    compressions: [zlibCompression, zstdCompression],
    register(container) {
      container.register(PageChannels, { useValue: multifdChannels });
    },
  };
}
