/**
 * The owners of a dirty log (QEMU's `global_dirty_tracking` bit mask): which of a migration, a
 * dirty-rate measurement and the dirty-limit throttle hold logging on. Both trackers keep one and
 * turn logging on for the first owner and off after the last.
 */
import { InvalidArgumentError } from "../errors";
import { DIRTY_LOG_OWNERS, type DirtyLogOwner } from "./types";

/** The owner's bit; throws on anything that is not a {@link DirtyLogOwner}. */
function ownerBit(owner: DirtyLogOwner): number {
  const i = DIRTY_LOG_OWNERS.indexOf(owner);
  if (i < 0) {
    throw new InvalidArgumentError(
      `dirty-log owner must be one of ${DIRTY_LOG_OWNERS.map((o) => `"${o}"`).join(", ")}, got ${JSON.stringify(owner)}`,
    );
  }
  return 1 << i;
}

/** Who holds a dirty log on. */
export class DirtyOwnerSet {
  private mask = 0;

  /** `owner` takes hold (idempotent); true when it is the first: logging turns on, clean. */
  take(owner: DirtyLogOwner): boolean {
    const bit = ownerBit(owner);
    const first = this.mask === 0;
    this.mask |= bit;
    return first;
  }

  /** `owner` lets go; true when it held and was the last: logging turns off. */
  release(owner: DirtyLogOwner): boolean {
    const bit = ownerBit(owner);
    if ((this.mask & bit) === 0) return false;
    this.mask &= ~bit;
    return this.mask === 0;
  }

  /** The owners, in {@link DIRTY_LOG_OWNERS} order. */
  list(): DirtyLogOwner[] {
    return DIRTY_LOG_OWNERS.filter((_, i) => (this.mask & (1 << i)) !== 0);
  }
}
