/**
 * The post-copy plugin's capability and parameters.
 */
import { z } from "zod";

/** QEMU's capability name. */
export const POSTCOPY_RAM = "postcopy-ram";
/** QEMU's capability: requested pages travel on a channel of their own. */
export const POSTCOPY_PREEMPT = "postcopy-preempt";
/** Switch after this many completed pre-copy passes over RAM (0 = only on request). */
export const POSTCOPY_AFTER_PASSES = "x-postcopy-after-passes";
/** Switch this many ms after the migration started (0 = only on request). */
export const POSTCOPY_AFTER_MS = "x-postcopy-after-ms";

/** The plugin's parameters (ferry's own, hence `x-`). */
export const postcopyParameters = z.object({
  [POSTCOPY_AFTER_PASSES]: z
    .number({ error: "expected an integer from 0 to 1000000 (passes; 0 = only on request)" })
    .int({ error: "expected an integer from 0 to 1000000 (passes; 0 = only on request)" })
    .min(0, { error: "expected an integer from 0 to 1000000 (passes; 0 = only on request)" })
    .max(1_000_000, {
      error: "expected an integer from 0 to 1000000 (passes; 0 = only on request)",
    })
    .default(0),
  [POSTCOPY_AFTER_MS]: z
    .number({ error: "expected a number of ms from 0 to 1e9 (0 = only on request)" })
    .min(0, { error: "expected a number of ms from 0 to 1e9 (0 = only on request)" })
    .max(1e9, { error: "expected a number of ms from 0 to 1e9 (0 = only on request)" })
    .default(0),
});

/** Parsed parameters. */
export interface PostcopyParams {
  /** Completed passes after which to switch (0 = off). */
  readonly afterPasses: number;
  /** Virtual ms after the start at which to switch (0 = off). */
  readonly afterMs: number;
}

/** Read the plugin's parameters from a migration's effective parameters. */
export function readPostcopyParams(p: Readonly<Record<string, unknown>>): PostcopyParams {
  const v = postcopyParameters.parse({
    [POSTCOPY_AFTER_PASSES]: p[POSTCOPY_AFTER_PASSES],
    [POSTCOPY_AFTER_MS]: p[POSTCOPY_AFTER_MS],
  });
  return { afterPasses: v[POSTCOPY_AFTER_PASSES], afterMs: v[POSTCOPY_AFTER_MS] };
}
