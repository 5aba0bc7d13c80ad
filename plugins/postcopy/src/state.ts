/**
 * The per-migration state the post-copy plugin's parts share (strategy, section, controller),
 * made once per migration by the child container.
 */
import type { PreemptChannel } from "@ferry/migration";
import type { InjectionToken } from "tsyringe";

/** Statistics the destination reported at the end (POSTCOPY_STATS). */
export interface DestinationReport {
  readonly blocktimeNs: number;
  readonly faults: number;
  readonly latencyMeanNs: number;
  readonly latencyP99Ns: number;
  readonly latencyMaxNs: number;
  readonly vcpuBlocktimeNs: readonly number[];
}

/** Shared post-copy state of one migration. */
export interface PostcopyState {
  /** Chunks the `postcopy` section sends as PART chunks, in order. */
  readonly queue: Uint8Array[];
  /** dirty-sync-count so far (the controller keeps it). */
  syncCount: number;
  /** Page requests served (QEMU's `postcopy-requests`). */
  requests: number;
  /** Stream bytes when the switch began (`precopy-bytes`), or null before. */
  stopBytes: number | null;
  /** Stream bytes when post-copy began (after the package), or null before. */
  startBytes: number | null;
  /** The destination's report, once received. */
  report: DestinationReport | null;
  /** Recoveries completed. */
  recoveries: number;
  /** The preempt channel once opened (capability `postcopy-preempt`), else null. */
  preempt: PreemptChannel | null;
  /** True while requests go on the preempt channel (until a connection breaks). */
  preemptLive: boolean;
  /** Pages sent on the preempt channel. */
  preemptPages: number;
  /** Stream bytes written on preempt channels of connections before a recovery. */
  preemptBytesBefore: number;
  /** Stream bytes written on the preempt channels (every connection). */
  preemptBytes(): number;
}

/** Token of the per-migration {@link PostcopyState}. */
export const PostcopyStateToken: InjectionToken<PostcopyState> = "ferry:postcopy:state";

/** A fresh state. */
export function createPostcopyState(): PostcopyState {
  return {
    queue: [],
    syncCount: 0,
    requests: 0,
    stopBytes: null,
    startBytes: null,
    report: null,
    recoveries: 0,
    preempt: null,
    preemptLive: false,
    preemptPages: 0,
    preemptBytesBefore: 0,
    preemptBytes() {
      return this.preemptBytesBefore + (this.preempt?.written ?? 0);
    },
  };
}
