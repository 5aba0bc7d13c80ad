/**
 * The pre-copy strategy (QEMU's): setup (dirty logging on, every page dirty, block list), a bulk
 * pass over all RAM, then iterations of dirty-page sends, syncing the dirty log whenever the
 * pending estimate falls to the switchover threshold, until the remaining dirty bytes fit in the
 * downtime limit; then switchover. Plugin sections send a PART chunk after each RAM iteration and
 * their pending bytes count in the switchover decision.
 */
import { PAGE_SIZE } from "@ferry/core";
import type { MigrationSession, MigrationStrategy } from "@ferry/migration";

/** QEMU's MAX_WAIT: an iteration stops after this long (ns), checked every 64 pages. */
export const MAX_WAIT_NS = 50_000_000;

/** Send dirty pages in one RAM section part until none is left, MAX_WAIT passes or the rate limit bites. */
export async function precopyIteration(s: MigrationSession): Promise<number> {
  s.beginRamPart();
  const start = s.now();
  let sent = 0;
  while (!s.rateExceeded()) {
    if (!s.sendNextDirtyPage()) break;
    if ((++sent & 63) === 0) {
      await s.flow();
      if (s.now() - start > MAX_WAIT_NS) break;
    }
  }
  s.endRamPart();
  return sent;
}

/**
 * QEMU's convergence test: the pending estimate (dirty pages × page size); when it is at or below
 * the threshold, sync the dirty log for the exact value. Returns true when it is time to switch
 * over (nothing pending, or pending below the threshold).
 */
export function shouldSwitchover(s: MigrationSession): boolean {
  const threshold = s.thresholdBytes();
  const sections = s.sectionPendingBytes();
  let pending = s.dirtyPages() * PAGE_SIZE + sections;
  if (pending <= threshold) {
    s.syncDirtyLog();
    pending = s.dirtyPages() * PAGE_SIZE + sections;
  }
  return pending === 0 || pending < threshold;
}

/** The pre-copy strategy part (capability-free: the default). */
export const precopyStrategy: MigrationStrategy = {
  name: "precopy",
  async run(s) {
    s.setup();
    for (;;) {
      s.checkpoint();
      if (shouldSwitchover(s)) {
        await s.complete();
        return;
      }
      await precopyIteration(s);
      s.iterateSections();
      await s.rateLimit();
    }
  },
};
