/**
 * The migration's dirty tracker (token `DirtyTrackerToken`): a read-only view of what the page
 * sender tracks — the RAM blocks, each block's dirty log (bitmap or ring, `DirtyLog.kind`), the
 * migration bitmaps (bit set = page still to send) and the pending count. A part may read it
 * (e.g. a controller that weighs hot blocks); only the thread syncs and clears.
 */
import type { DirtyBitmap, DirtyLog, RamRegion } from "@ferry/core";

/** A read-only view of a migration's dirty tracking. */
export interface DirtyTracker {
  /** The migrated RAM blocks, in map order. */
  readonly blocks: readonly RamRegion[];
  /** Each block's dirty log (KVM's: a bitmap or a dirty ring). */
  readonly logs: readonly DirtyLog[];
  /** Each block's migration bitmap (bit set = page still to send). */
  readonly bitmaps: readonly DirtyBitmap[];
  /** Pages pending in the migration bitmaps. */
  pendingPages(): number;
}
