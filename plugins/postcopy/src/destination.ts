/**
 * The destination half of post-copy: the `postcopy` section's loader. It checks ADVISE, marks the
 * discarded pages missing (LISTEN arms the fault handler), loads the device state and runs the
 * guest at RUN; each guest fault becomes a page request on the return path (QEMU's
 * `MIG_RP_MSG_REQ_PAGES`); it measures fault latency and vCPU blocktime; at the END it checks
 * that no page is missing and sends its statistics. After a broken connection it answers the
 * recovery handshake (RECV_BITMAP, RESUME) and asks again for the pages vCPUs wait on.
 */
import type { MissingPages, RamRegion } from "@ferry/core";
import {
  type IncomingEnv,
  type MigratableMachine,
  MigrationError,
  type SectionLoader,
  type SectionPhase,
} from "@ferry/migration";
import {
  checkAdvise,
  decodeCommands,
  decodeDeviceState,
  decodeDiscard,
  type PostcopyCommand,
  PostcopyCmd,
} from "./commands";
import { LatencySamples } from "./latency";

/** Bitmap bytes per RECV_BITMAP message. */
const BITMAP_CHUNK_PAGES = 60000 * 8;

interface Block {
  readonly region: RamRegion;
  readonly missing: MissingPages;
  /** First-fault time of each requested page not yet arrived (page → ns). */
  readonly requested: Map<number, number>;
}

/** Make the loader of the `postcopy` section for one incoming migration. */
export function createPostcopyLoader(machine: MigratableMachine, env: IncomingEnv): SectionLoader {
  const blocks = new Map<string, Block>();
  for (const r of machine.memory.ramRegions) {
    if (r.readonly || r.missing === undefined) continue;
    blocks.set(r.name, { region: r, missing: r.missing, requested: new Map() });
  }
  const nvcpus = machine.vcpus.length;
  const parkedPage = new Float64Array(nvcpus).fill(-1);
  const parkedBlock: (Block | null)[] = new Array(nvcpus).fill(null);
  const parkedSince = new Float64Array(nvcpus);
  const vcpuBlockNs = new Float64Array(nvcpus);
  const latency = new LatencySamples();
  let blocked = 0;
  let allSince = 0;
  let allBlockedNs = 0;
  let faults = 0;
  let lastRequestBlock: Block | null = null;
  let listening = false;
  let running = false;
  let finished = false;
  const now = (fallback: number): number => env.scheduler?.now() ?? fallback;

  const request = (b: Block, page: number): void => {
    const rp = env.returnPath;
    if (rp === undefined) return;
    rp.send({
      type: "req-pages",
      block: lastRequestBlock === b ? null : b.region.name,
      start: page * 4096,
      length: 4096,
    });
    lastRequestBlock = b;
  };

  const arm = (b: Block): void => {
    if (b.missing.armed) return;
    b.missing.arm(
      (page, vcpu, atNs) => {
        if (vcpu >= 0 && vcpu < nvcpus) {
          parkedPage[vcpu] = page;
          parkedBlock[vcpu] = b;
          parkedSince[vcpu] = atNs;
          if (++blocked === nvcpus) allSince = atNs;
        }
        if (!b.requested.has(page)) {
          b.requested.set(page, atNs);
          faults++;
          request(b, page);
        }
      },
      (page) => {
        const t = now(0);
        const first = b.requested.get(page);
        if (first !== undefined) {
          latency.add(t - first);
          b.requested.delete(page);
        }
        for (let v = 0; v < nvcpus; v++) {
          if (parkedPage[v] !== page || parkedBlock[v] !== b) continue;
          vcpuBlockNs[v] += t - parkedSince[v];
          if (blocked === nvcpus) allBlockedNs += t - allSince;
          blocked--;
          parkedPage[v] = -1;
          parkedBlock[v] = null;
        }
      },
    );
  };

  const blockOf = (name: string, what: string): Block => {
    const b = blocks.get(name);
    if (b === undefined) throw new MigrationError(`${what}: unknown RAM block "${name}"`);
    return b;
  };

  const sendBitmaps = (): void => {
    const rp = env.returnPath;
    if (rp === undefined) throw new MigrationError("post-copy recovery needs a return path");
    for (const b of blocks.values()) {
      const total = b.missing.pageCount;
      for (let first = 0; first < total; first += BITMAP_CHUNK_PAGES) {
        const count = Math.min(BITMAP_CHUNK_PAGES, total - first);
        const bitmap = new Uint8Array(Math.ceil(count / 8));
        if (b.missing.count > 0) {
          for (let i = 0; i < count; i++) {
            if (b.missing.has(first + i)) bitmap[i >>> 3] |= 1 << (i & 7);
          }
        }
        rp.send({
          type: "recv-bitmap",
          block: b.region.name,
          firstPage: first,
          pageCount: count,
          bitmap,
        });
      }
    }
  };

  const apply = (cmds: readonly PostcopyCommand[], phase: SectionPhase): void => {
    for (const c of cmds) {
      switch (c.cmd) {
        case PostcopyCmd.ADVISE:
          checkAdvise(c.data);
          break;
        case PostcopyCmd.RAM_DISCARD: {
          if (running) throw new MigrationError("POSTCOPY_RAM_DISCARD after POSTCOPY_RUN");
          const d = decodeDiscard(c.data);
          const b = blockOf(d.block, "POSTCOPY_RAM_DISCARD");
          arm(b);
          for (let i = 0; i < d.runs.length; i += 2) {
            const start = d.runs[i];
            const end = start + d.runs[i + 1];
            if (end > b.missing.pageCount) {
              throw new MigrationError(
                `POSTCOPY_RAM_DISCARD: pages ${start}..${end} beyond block "${d.block}"`,
              );
            }
            for (let p = start; p < end; p++) b.missing.markMissing(p);
          }
          break;
        }
        case PostcopyCmd.LISTEN:
          for (const b of blocks.values()) arm(b);
          listening = true;
          break;
        case PostcopyCmd.DEVICE_STATE:
          if (!listening) throw new MigrationError("post-copy device state before POSTCOPY_LISTEN");
          env.startGuest(decodeDeviceState(c.data));
          break;
        case PostcopyCmd.RUN:
          if (!listening) throw new MigrationError("POSTCOPY_RUN before POSTCOPY_LISTEN");
          running = true;
          break;
        case PostcopyCmd.PACKAGED:
          apply(decodeCommands(c.data), phase);
          break;
        case PostcopyCmd.RECV_BITMAP:
          if (!running)
            throw new MigrationError("MIG_CMD_RECV_BITMAP outside a post-copy recovery");
          sendBitmaps();
          break;
        case PostcopyCmd.RESUME: {
          if (!running) throw new MigrationError("POSTCOPY_RESUME outside a post-copy recovery");
          env.returnPath?.send({ type: "resume-ack", value: 1 });
          env.resumed();
          // Requests lost with the old connection: ask again for every page a vCPU waits on.
          lastRequestBlock = null;
          for (const b of blocks.values()) for (const page of b.requested.keys()) request(b, page);
          break;
        }
        default:
          throw new MigrationError(`unknown post-copy command ${c.cmd}`);
      }
    }
  };

  const finish = (): void => {
    if (finished) return;
    for (const b of blocks.values()) {
      if (b.missing.count > 0) {
        throw new MigrationError(
          `post-copy ended with ${b.missing.count} page(s) of "${b.region.name}" still missing`,
        );
      }
      b.missing.disarm();
    }
    finished = true;
    env.returnPath?.send({
      type: "postcopy-stats",
      blocktimeNs: allBlockedNs,
      faults,
      latencyMeanNs: latency.mean,
      latencyP99Ns: latency.p99,
      latencyMaxNs: latency.max,
      vcpuBlocktimeNs: [...vcpuBlockNs],
    });
  };

  return {
    load(chunk, phase) {
      apply(decodeCommands(chunk), phase);
      if (phase === "end" && running) finish();
    },
    stats() {
      if (!running) return {};
      return destinationStats(
        allBlockedNs,
        [...vcpuBlockNs],
        latency.mean,
        latency.p99,
        latency.max,
      );
    },
  };
}

/** query-migrate's destination fields (QEMU's names, ms for blocktime, ns for latency). */
export function destinationStats(
  blocktimeNs: number,
  vcpuBlocktimeNs: readonly number[],
  meanNs: number,
  p99Ns: number,
  maxNs: number,
): Record<string, number | number[]> {
  return {
    "postcopy-blocktime": Math.round(blocktimeNs / 1e6),
    "postcopy-vcpu-blocktime": vcpuBlocktimeNs.map((ns) => Math.round(ns / 1e6)),
    "postcopy-latency": Math.round(meanNs),
    "x-postcopy-latency-p99": Math.round(p99Ns),
    "x-postcopy-latency-max": Math.round(maxNs),
  };
}
