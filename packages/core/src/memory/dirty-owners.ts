/**
 * The owner set of a dirty log (QEMU's `global_dirty_tracking` bit mask): which of a migration, a
 * dirty-rate measurement and the dirty-limit throttle hold logging on. Shared by both trackers.
 */
import { InvalidArgumentError } from "../errors";
import { DIRTY_LOG_OWNERS, type DirtyLogOwner } from "./types";

/** The owner's bit in an owner mask; throws on anything that is not a {@link DirtyLogOwner}. */
export function dirtyOwnerBit(owner: DirtyLogOwner): number {
  const i = DIRTY_LOG_OWNERS.indexOf(owner);
  if (i < 0) {
    throw new InvalidArgumentError(
      `dirty-log owner must be one of ${DIRTY_LOG_OWNERS.map((o) => `"${o}"`).join(", ")}, got ${JSON.stringify(owner)}`,
    );
  }
  return 1 << i;
}

/** The owners in `mask`, in {@link DIRTY_LOG_OWNERS} order. */
export function dirtyOwnersOf(mask: number): DirtyLogOwner[] {
  return DIRTY_LOG_OWNERS.filter((_, i) => (mask & (1 << i)) !== 0);
}
