/**
 * The post-copy strategy (capability `postcopy-ram`): QEMU's pre-copy until the switch is asked
 * for (`migrate-start-postcopy`, or `x-postcopy-after-passes` / `x-postcopy-after-ms`), unless
 * pre-copy converges first; then `postcopy_start`: stop, final sync, RAM_DISCARD of every page
 * still dirty, and the package LISTEN + device state + RUN. In post-copy the destination runs the
 * guest; the source serves page requests first and pushes the other pages in the background.
 * A broken connection pauses both sides (`postcopy-paused`) until a recovery.
 */
import { PAGE_SIZE } from "@ferry/core";
import {
  MigrationCancelledError,
  MigrationError,
  type MigrationSession,
  type MigrationStrategy,
  type RpMessage,
  type SourceReturnPath,
} from "@ferry/migration";
import { precopyIteration, shouldSwitchover } from "@ferry/plugin-precopy";
import {
  adviseData,
  discardCommands,
  deviceStateCommand,
  encodeCommands,
  PostcopyCmd,
} from "./commands";
import { type PostcopyParams, POSTCOPY_RAM } from "./params";
import type { PostcopyState } from "./state";

/** Background pages sent between two looks at the page requests. */
const BACKGROUND_BATCH = 16;
/**
 * With `postcopy-preempt`, how often the source looks at page requests while the main channel is
 * backed up (ns): a request is served at most this long after it arrived.
 */
export const PREEMPT_POLL_NS = 100_000;
/** The longest the source polls before it waits on the main channel's drain (ns). */
const PREEMPT_POLL_MAX_NS = 1e9;
/** How long the source waits for a return-path answer (virtual or real ns). */
export const POSTCOPY_RP_TIMEOUT_NS = 30e9;

/** The ADVISE chunk (the `postcopy` section's START). */
export function adviseChunk(): Uint8Array {
  return encodeCommands([{ cmd: PostcopyCmd.ADVISE, data: adviseData() }]);
}

function returnPathOf(s: MigrationSession): SourceReturnPath {
  const rp = s.postcopy.transport.returnPath;
  if (rp === undefined) {
    throw new MigrationError(
      `capability "${POSTCOPY_RAM}" needs a return path for page requests (migrate over link, tcp or unix)`,
    );
  }
  return rp;
}

/** True when the strategy should switch to post-copy now. */
function timeToSwitch(
  s: MigrationSession,
  p: PostcopyParams,
  st: PostcopyState,
  t0: number,
): boolean {
  if (s.postcopy.requested) return true;
  if (p.afterPasses > 0 && st.syncCount - 1 >= p.afterPasses) return true;
  if (p.afterMs > 0 && s.now() - t0 >= p.afterMs * 1e6) return true;
  return false;
}

/** Write every queued chunk of the `postcopy` section (one PART each). */
function sendQueued(s: MigrationSession, st: PostcopyState): void {
  while (st.queue.length > 0) s.iterateSections();
}

/** The switch (QEMU's `postcopy_start`). */
async function switchToPostcopy(s: MigrationSession, st: PostcopyState): Promise<void> {
  returnPathOf(s);
  await s.postcopy.stop();
  st.stopBytes = s.writer.written;
  const blocks = s.blocks;
  for (let i = 0; i < blocks.length; i++) {
    const cmds = discardCommands(blocks[i].name, s.bitmaps[i].words, s.bitmaps[i].pageCount);
    // Several discards per chunk, each chunk well under the 16 MiB section limit.
    for (let j = 0; j < cmds.length; j += 8) st.queue.push(encodeCommands(cmds.slice(j, j + 8)));
  }
  const pkg = encodeCommands([
    { cmd: PostcopyCmd.LISTEN, data: new Uint8Array(0) },
    deviceStateCommand(s.machine.saveState()),
    { cmd: PostcopyCmd.RUN, data: new Uint8Array(0) },
  ]);
  st.queue.push(encodeCommands([{ cmd: PostcopyCmd.PACKAGED, data: pkg }]));
  sendQueued(s, st);
  s.postcopy.started();
  st.startBytes = s.writer.written;
}

/** Serve the page requests that arrived since `from`; returns the new index. */
function serveRequests(
  s: MigrationSession,
  st: PostcopyState,
  received: readonly RpMessage[],
  from: number,
  cursor: { block: number },
): number {
  let i = from;
  for (; i < received.length; i++) {
    const m = received[i];
    if (m.type !== "req-pages") continue;
    if (m.block !== null) {
      const b = s.blocks.findIndex((x) => x.name === m.block);
      if (b < 0) throw new MigrationError(`page request for unknown RAM block "${m.block}"`);
      cursor.block = b;
    } else if (cursor.block < 0) {
      throw new MigrationError("page request without a block before it (REQ_PAGES first)");
    }
    st.requests++;
    const first = Math.floor(m.start / PAGE_SIZE);
    const last = Math.ceil((m.start + m.length) / PAGE_SIZE);
    const pre = st.preemptLive ? st.preempt : null;
    for (let p = first; p < last; p++) {
      if (pre === null) s.postcopy.sendPage(cursor.block, p);
      else if (pre.sendPage(cursor.block, p)) st.preemptPages++;
    }
  }
  // Requested pages on the preempt channel leave at once, not with the main channel's next batch.
  if (i > from && st.preemptLive) st.preempt?.flush();
  return i;
}

/** The recovery handshake on a new connection (QEMU's RECV_BITMAP / RESUME / RESUME_ACK). */
async function recover(s: MigrationSession, st: PostcopyState): Promise<number> {
  const rp = returnPathOf(s);
  s.postcopy.restart();
  // Ask for the destination's bitmap of missing pages: those, and only those, are still to send.
  st.queue.push(encodeCommands([{ cmd: PostcopyCmd.RECV_BITMAP, data: new Uint8Array(0) }]));
  s.beginRamPart();
  s.endRamPart();
  sendQueued(s, st);
  await s.flow();
  const blocks = s.blocks;
  const left = blocks.map((b) => b.size / PAGE_SIZE);
  const fresh = blocks.map(() => false);
  let outstanding = left.reduce((a, b) => a + b, 0);
  while (outstanding > 0) {
    const m = await rp.next(POSTCOPY_RP_TIMEOUT_NS);
    if (m.type === "error") throw new MigrationError(`the destination failed: ${m.message}`);
    if (m.type !== "recv-bitmap") continue;
    const b = blocks.findIndex((x) => x.name === m.block);
    if (b < 0) throw new MigrationError(`RECV_BITMAP for unknown RAM block "${m.block}"`);
    const bm = s.bitmaps[b];
    if (!fresh[b]) {
      bm.clearAll();
      fresh[b] = true;
    }
    for (let i = 0; i < m.pageCount; i++) {
      if ((m.bitmap[i >>> 3] & (1 << (i & 7))) !== 0) bm.set(m.firstPage + i);
    }
    left[b] -= m.pageCount;
    outstanding -= m.pageCount;
  }
  st.queue.push(encodeCommands([{ cmd: PostcopyCmd.RESUME, data: new Uint8Array(0) }]));
  sendQueued(s, st);
  await s.flow();
  let ack: RpMessage;
  for (;;) {
    ack = await rp.next(POSTCOPY_RP_TIMEOUT_NS);
    if (ack.type === "resume-ack") break;
    if (ack.type === "error") throw new MigrationError(`the destination failed: ${ack.message}`);
  }
  s.postcopy.resumed();
  st.recoveries++;
  // The requests the destination sends again follow its RESUME_ACK: serve from there.
  return rp.received.indexOf(ack) + 1;
}

/**
 * Preempt: instead of waiting for the backed-up main channel to drain, keep serving the requests
 * that arrive meanwhile on the preempt channel (QEMU's urgent pages do not queue behind the
 * background pages).
 */
async function flowServing(
  s: MigrationSession,
  st: PostcopyState,
  rp: SourceReturnPath,
  seen: number,
  cursor: { block: number },
): Promise<number> {
  s.writer.flush();
  // Bounded: a transport that reports backpressure until drain() is called (the QMP adapter's
  // realtime guard) gets its drain after PREEMPT_POLL_MAX_NS.
  const until = s.now() + PREEMPT_POLL_MAX_NS;
  while (s.postcopy.transport.backedUp && s.now() < until) {
    s.checkpoint();
    await s.scheduler.sleep(PREEMPT_POLL_NS);
    if (rp.received.length > seen) seen = serveRequests(s, st, rp.received, seen, cursor);
  }
  await s.flow();
  return seen;
}

/** The post-copy phase: requests first, the rest in the background, until every page is sent. */
async function postcopyPhase(
  s: MigrationSession,
  st: PostcopyState,
  preempt: boolean,
): Promise<void> {
  let rp = returnPathOf(s);
  let seen = rp.received.length;
  const cursor = { block: -1 };
  // QEMU's postcopy-preempt: requested pages on a channel of their own.
  if (preempt) usePreempt(s, st);
  for (;;) {
    try {
      while (s.dirtyPages() > 0) {
        s.checkpoint();
        s.beginRamPart();
        seen = serveRequests(s, st, rp.received, seen, cursor);
        for (let i = 0; i < BACKGROUND_BATCH; i++) {
          if (!s.sendNextDirtyPage()) break;
          if (rp.received.length > seen) seen = serveRequests(s, st, rp.received, seen, cursor);
        }
        s.endRamPart();
        if (st.preemptLive) seen = await flowServing(s, st, rp, seen, cursor);
        else await s.flow();
      }
      // Every byte of the preempt channel lands before the main channel's END (the destination
      // checks at the END that no page is missing).
      if (st.preemptLive) await st.preempt?.end();
      await s.postcopy.complete();
      // The destination reports its fault statistics when the last page landed.
      await awaitReport(rp, st);
      // QEMU counts every request it receives, also those for pages already on their way after
      // the last one was sent (they precede the report on the return path).
      for (let i = seen; i < rp.received.length; i++) {
        if (rp.received[i].type === "req-pages") st.requests++;
      }
      return;
    } catch (e) {
      if (e instanceof MigrationCancelledError) throw e;
      const status = s.postcopy.status;
      if (status !== "postcopy-active" && status !== "postcopy-recover") throw e;
      // QEMU's postcopy_pause: neither side has the whole guest; wait for a new connection.
      await s.postcopy.pause(e instanceof Error ? e : new MigrationError(String(e)));
      st.preemptLive = false;
      rp = returnPathOf(s);
      cursor.block = -1;
      seen = await recover(s, st);
      // QEMU re-establishes the preempt channel on the new connection; a resume without data
      // channels (the in-process API's `resume(transport)`) leaves the requests on the main one.
      if (preempt) {
        try {
          usePreempt(s, st);
        } catch {
          st.preemptLive = false;
        }
      }
    }
  }
}

/** Send requested pages on the connection's preempt channel (a new one after a recovery). */
function usePreempt(s: MigrationSession, st: PostcopyState): void {
  const next = s.postcopy.openPreempt();
  if (st.preempt !== null && st.preempt !== next) st.preemptBytesBefore += st.preempt.written;
  st.preempt = next;
  st.preemptLive = true;
}

async function awaitReport(rp: SourceReturnPath, st: PostcopyState): Promise<void> {
  for (;;) {
    for (const m of rp.received) {
      if (m.type === "postcopy-stats") {
        st.report = m;
        return;
      }
    }
    const m = await rp.next(POSTCOPY_RP_TIMEOUT_NS);
    if (m.type === "error") throw new MigrationError(`the destination failed: ${m.message}`);
    if (m.type === "shut") return;
  }
}

/** Make the strategy part for one migration. */
export function createPostcopyStrategy(
  params: PostcopyParams,
  state: PostcopyState,
  preempt = false,
): MigrationStrategy {
  return {
    name: "postcopy",
    capability: POSTCOPY_RAM,
    async run(s) {
      const t0 = s.now();
      s.setup();
      for (;;) {
        s.checkpoint();
        // QEMU: pre-copy completes when it converges; post-copy starts only while a significant
        // amount is left.
        if (shouldSwitchover(s)) {
          await s.complete();
          return;
        }
        if (timeToSwitch(s, params, state, t0)) {
          if (preempt) s.postcopy.openPreempt(); // fail before the switch when there is no channel
          await switchToPostcopy(s, state);
          await postcopyPhase(s, state, preempt);
          return;
        }
        await precopyIteration(s);
        s.iterateSections();
        await s.rateLimit();
      }
    },
  };
}
