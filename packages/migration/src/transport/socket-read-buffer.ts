/**
 * Reading a socket into one reused buffer. Node's `onread` socket option does this (the data go
 * to a callback, into a buffer the caller supplied, with no allocation per read), but Node offers
 * it only for sockets it is asked to create, not for connections a server accepts — and a
 * migration destination accepts. Without it, Node 20 allocates a 64 KiB buffer for every read;
 * glibc hands the freed heap back to the kernel when the garbage collector releases a batch, so
 * the next batch of reads page-faults again: measured on a 1 GiB migration over loopback, the
 * destination took 123 000–223 000 minor faults and 1.1–2.0 s of system time, and the migration
 * ran at half the rate it reaches with reads into a reused buffer (docs/performance.md).
 *
 * {@link readIntoReusedBuffer} switches an accepted socket to the mechanism behind `onread`: the
 * socket's own read callback, `kBuffer`/`kBufferCb` (own properties of every `net.Socket`) and
 * the handle's `useUserBuffer`. A `TLSSocket` has them too (its handle, the TLS layer, offers the
 * same `useUserBuffer`): the decrypted bytes land in the buffer, where Node would otherwise
 * allocate a `Buffer` per TLS record. Where those are not found (another Node) it changes nothing
 * and says so; {@link deliverReads} then listens for `data` as usual.
 */
import type { Socket } from "node:net";

/** Bytes of the reused buffer: up to this much is read per system call. */
export const SOCKET_READ_BUFFER_BYTES = 1 << 20;

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/** The socket's own symbol named `name`, if it has one. */
function ownSymbol(socket: Socket, name: string): symbol | undefined {
  return Object.getOwnPropertySymbols(socket).find((s) => s.description === name);
}

/**
 * From now on deliver what `socket` reads to `deliver` (in order; each chunk is valid only
 * during the call: the buffer is reused), after the bytes the socket already buffered. Returns
 * false, having changed nothing, when the socket cannot be switched. `end`, `error`, `close`,
 * timeouts, `pause()`/`resume()` and writes behave as before; `data` events stop. Call while the
 * socket is paused; it is left paused (`resume()` starts the reads).
 */
export function readIntoReusedBuffer(
  socket: Socket,
  deliver: (chunk: Uint8Array) => void,
  size = SOCKET_READ_BUFFER_BYTES,
): boolean {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  const kBuffer = ownSymbol(socket, "kBuffer");
  const kBufferCb = ownSymbol(socket, "kBufferCb");
  if (
    handle === null ||
    handle === undefined ||
    typeof handle.useUserBuffer !== "function" ||
    kBuffer === undefined ||
    kBufferCb === undefined
  ) {
    return false;
  }
  // Bytes read before the switch (a peeked magic put back, what came with it) go first.
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read()) {
    deliver(chunk);
  }
  // A plain Uint8Array, not a Buffer: the loader cuts each page out of the chunk with
  // `subarray`, which on a Buffer goes through its JavaScript constructor (~0.1 s per GiB).
  const buffer = new Uint8Array(size);
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[kBuffer] = buffer;
  fields[kBufferCb] = (n: number, b: Uint8Array): void => {
    deliver(b.subarray(0, n));
  };
  handle.useUserBuffer(buffer);
  return true;
}

/**
 * Pause `socket` and have what it reads delivered to `deliver`: into one reused buffer where
 * {@link readIntoReusedBuffer} can switch it, else through `data` events. The caller resumes it
 * once its other listeners are in place.
 */
export function deliverReads(socket: Socket, deliver: (chunk: Uint8Array) => void): void {
  socket.pause();
  if (!readIntoReusedBuffer(socket, deliver)) socket.on("data", deliver);
}
