/**
 * The statistics registry (token `StatsRegistryToken`): one per migration; a part contributes
 * query-migrate fields by adding a source (a function returning a `StatsContribution`), which
 * `info()` calls and merges after the built-in parts' contributions, in the order added.
 */
import type { StatsContribution } from "./plugin";

/** A source of query-migrate fields, asked at every `info()`. */
export type StatsSource = () => StatsContribution | undefined;

/** Where parts contribute statistics. */
export interface StatsRegistry {
  /** Add a source; returns its remover. */
  contribute(source: StatsSource): () => void;
}

/** The registry plus the reading side (the migration thread's). */
export interface StatsRegistryFeed extends StatsRegistry {
  /** Every source's contribution now, in the order the sources were added. */
  collect(into: (c: StatsContribution | undefined) => void): void;
}

/** Make a registry. */
export function createStatsRegistry(): StatsRegistryFeed {
  const sources: StatsSource[] = [];
  return {
    contribute(source) {
      sources.push(source);
      return () => {
        const i = sources.indexOf(source);
        if (i >= 0) sources.splice(i, 1);
      };
    },
    collect(into) {
      for (const s of sources) into(s());
    },
  };
}
