/**
 * The `postcopy()` plugin factory: capability `postcopy-ram`, its strategy, the `postcopy`
 * section (source: ADVISE at setup, the switch's commands, END; destination: the loader) and a
 * controller that counts syncs and reports the statistics.
 */
import {
  ConvergenceController,
  type FerryPlugin,
  MigrationContextToken,
  MigrationSection,
  MigrationSessionToken,
  MigrationStrategy,
  type StatsContribution,
} from "@ferry/migration";
import { instancePerContainerCachingFactory } from "tsyringe";
import { createPostcopyLoader, destinationStats } from "./destination";
import {
  POSTCOPY_AFTER_MS,
  POSTCOPY_AFTER_PASSES,
  POSTCOPY_PREEMPT,
  POSTCOPY_RAM,
  postcopyParameters,
  readPostcopyParams,
} from "./params";
import { createPostcopyState, type PostcopyState, PostcopyStateToken } from "./state";
import { adviseChunk, createPostcopyStrategy } from "./strategy";

/** The section's idstr and version. */
export const POSTCOPY_SECTION = { idstr: "postcopy", version: 1 } as const;

/** The post-copy plugin. */
export function postcopy(): FerryPlugin {
  return {
    name: "postcopy",
    capabilities: [
      {
        name: POSTCOPY_RAM,
        description:
          "post-copy: after pre-copy (migrate-start-postcopy, or x-postcopy-after-passes/-ms) the destination runs the guest and faults missing pages in from the source",
        default: false,
      },
      {
        name: POSTCOPY_PREEMPT,
        description:
          "post-copy preempt: requested pages travel on a channel of their own (the migration's first data channel), not behind the background pages queued on the main channel",
        default: false,
        requires: [POSTCOPY_RAM],
      },
    ],
    parameters: postcopyParameters,
    sections: [
      {
        idstr: POSTCOPY_SECTION.idstr,
        versions: [POSTCOPY_SECTION.version],
        create: (machine, env) => createPostcopyLoader(machine, env),
      },
    ],
    register(c) {
      c.register(PostcopyStateToken, {
        useFactory: instancePerContainerCachingFactory<PostcopyState>(() => createPostcopyState()),
      });
      c.register(MigrationStrategy, {
        useFactory: (child) =>
          createPostcopyStrategy(
            readPostcopyParams(child.resolve(MigrationContextToken).parameters),
            child.resolve(PostcopyStateToken),
            child.resolve(MigrationContextToken).capabilities[POSTCOPY_PREEMPT] === true,
          ),
      });
      c.register(MigrationSection, {
        useFactory: (child) => {
          const st = child.resolve(PostcopyStateToken);
          return {
            name: "postcopy",
            capability: POSTCOPY_RAM,
            create: () => ({
              idstr: POSTCOPY_SECTION.idstr,
              version: POSTCOPY_SECTION.version,
              setup: adviseChunk,
              iterate: () => st.queue.shift() ?? null,
              complete: () => new Uint8Array(0),
            }),
          };
        },
      });
      c.register(ConvergenceController, {
        useFactory: (child) => {
          const st = child.resolve(PostcopyStateToken);
          const session = child.resolve(MigrationSessionToken);
          return {
            name: "postcopy-stats",
            capability: POSTCOPY_RAM,
            create: () => ({
              onSync(stats) {
                st.syncCount = stats.syncCount;
              },
              onEnd() {},
              stats: () => sourceStats(st, session.writer.written + st.preemptBytes()),
            }),
          };
        },
      });
    },
  };
}

/** query-migrate's post-copy fields on the source (plus the destination's, once reported). */
export function sourceStats(st: PostcopyState, written: number): StatsContribution {
  if (st.startBytes === null || st.stopBytes === null) return {};
  const r = st.report;
  const dest =
    r === null
      ? {}
      : destinationStats(
          r.blocktimeNs,
          r.vcpuBlocktimeNs,
          r.latencyMeanNs,
          r.latencyP99Ns,
          r.latencyMaxNs,
        );
  return {
    ram: {
      "postcopy-requests": st.requests,
      "postcopy-bytes": written - st.startBytes,
      "downtime-bytes": st.startBytes - st.stopBytes,
    },
    ...(dest as unknown as StatsContribution),
    ...(st.recoveries > 0 ? { "x-postcopy-recoveries": st.recoveries } : {}),
    ...(st.preempt !== null
      ? {
          "x-postcopy-preempt-pages": st.preemptPages,
          "x-postcopy-preempt-bytes": st.preemptBytes(),
        }
      : {}),
  };
}

export { POSTCOPY_AFTER_MS, POSTCOPY_AFTER_PASSES, POSTCOPY_PREEMPT, POSTCOPY_RAM };
