/**
 * Entry of a multifd channel's worker thread (started by `worker-pool.ts`): waits for its
 * {@link WorkerInit}, loads the compression method's module, then builds (source) or applies
 * (destination) one packet per job, in order, replying to each.
 */
import { parentPort } from "node:worker_threads";
import type { MultifdCompression, MultifdDecompressor } from "./compression";
import { applyPacket, buildPacket, createPacketBuilder, type PacketBuilder } from "./work";
import type { FromWorker, RecvJob, SendJob, ToWorker, WorkerInit } from "./worker-protocol";

interface State {
  readonly init: WorkerInit;
  readonly blocks: (Uint8Array | null)[];
  readonly builder: PacketBuilder | null;
  readonly decompressor: MultifdDecompressor | null;
}

const port = parentPort;
if (port === null) throw new Error("multifd worker: not started as a worker thread");

async function load(init: WorkerInit): Promise<State> {
  let method: MultifdCompression | null = null;
  if (init.compression !== null) {
    const mod = (await import(init.compression.url)) as Record<string, unknown>;
    const m = mod[init.compression.exportName] as MultifdCompression | undefined;
    if (m === undefined || typeof m.createCompressor !== "function") {
      throw new Error(
        `${init.compression.url} has no multifd compression export "${init.compression.exportName}"`,
      );
    }
    method = m;
  }
  const level = init.compression?.level ?? 0;
  return {
    init,
    blocks: init.blocks.map((b) =>
      b.shared === null ? null : new Uint8Array(b.shared, b.byteOffset, b.size),
    ),
    builder:
      init.role === "send"
        ? createPacketBuilder(method === null ? null : method.createCompressor(level))
        : null,
    decompressor: init.role === "recv" && method !== null ? method.createDecompressor() : null,
  };
}

function send(s: State, job: SendJob): void {
  const ram = job.count > 0 ? s.blocks[job.block] : null;
  const copied = job.pages === null ? null : new Uint8Array(job.pages);
  const source = ram ?? copied ?? new Uint8Array(0);
  const built = buildPacket(s.builder!, {
    flags: job.flags,
    packetNum: job.packetNum,
    name: job.count > 0 ? s.init.blocks[job.block].name : new Uint8Array(0),
    count: job.count,
    offsets: job.offsets,
    source,
    sourceIsBlock: ram !== null,
  });
  const packet = built.packet.buffer as ArrayBuffer;
  const reply: FromWorker = {
    kind: "sent",
    seq: job.seq,
    packet,
    normal: built.normal,
    zero: built.zero,
    dataBytes: built.dataBytes,
    pages: job.pages,
  };
  port!.postMessage(reply, job.pages === null ? [packet] : [packet, job.pages]);
}

function recv(s: State, job: RecvJob): void {
  const ram = s.blocks[job.block];
  const out = job.out === null ? null : new Uint8Array(job.out);
  applyPacket(s.decompressor, {
    normal: job.normal,
    zero: job.zero,
    offsets: job.offsets,
    data: new Uint8Array(job.data, 0, job.dataBytes),
    target: ram ?? out!,
    targetIsBlock: ram !== null,
  });
  const reply: FromWorker = { kind: "applied", seq: job.seq, data: job.data, out: job.out };
  port!.postMessage(reply, job.out === null ? [job.data] : [job.data, job.out]);
}

let state: Promise<State> | null = null;
port.on("message", (msg: ToWorker) => {
  if (msg.kind === "init") {
    state = load(msg);
    state.then(
      () => port.postMessage({ kind: "ready" } satisfies FromWorker),
      (e: Error) => port.postMessage({ kind: "failed", seq: -1, message: e.message }),
    );
    return;
  }
  const seq = msg.seq;
  // jobs run in arrival order: each waits for the (once) loaded state, then runs synchronously
  void state!.then((s) => {
    try {
      if (msg.kind === "send") send(s, msg);
      else recv(s, msg);
    } catch (e) {
      port.postMessage({
        kind: "failed",
        seq,
        message: e instanceof Error ? e.message : String(e),
      } satisfies FromWorker);
    }
  }, noop);
});

/** A failed load was already reported (seq -1): the jobs after it are never run. */
function noop(): void {}
