/**
 * Tiny deterministic 32-bit hashing and PRNG helpers for the synthetic RAM backend and the
 * `workload` CPU backend. All inline-friendly integer arithmetic: no allocation, never
 * `Math.random()`.
 */

/** The 32-bit golden-ratio increment (2^32 / φ), used as a Weyl-sequence step. */
export const GOLDEN32 = 0x9e3779b9;

/** 2^32 as a number (to turn a uint32 into a float in [0, 1)). */
export const TWO_POW_32 = 4294967296;

/**
 * A strong 32-bit integer finalizer (Chris Wellons' "lowbias32"): every input bit affects every
 * output bit. Returns an unsigned 32-bit integer.
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Next output of a splitmix32-style generator whose whole state is one uint32 Weyl counter:
 * `state' = state + GOLDEN32`, output `mix32(state')`. Callers keep the state themselves (in a
 * field) and advance it with {@link splitmixAdvance}, so the generator never allocates.
 */
export function splitmixOutput(state: number): number {
  return mix32(state);
}

/** Advance a splitmix32 Weyl counter by one step (returns the new uint32 state). */
export function splitmixAdvance(state: number): number {
  return (state + GOLDEN32) >>> 0;
}

/** Derive an independent 32-bit stream seed from a seed and a stream index (e.g. a hart id). */
export function deriveSeed(seed: number, stream: number): number {
  return mix32(mix32(seed ^ 0x3c6ef372) + Math.imul(stream + 1, 0x85ebca6b));
}
