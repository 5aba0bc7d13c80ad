/**
 * Page-fault latency samples (ns): mean, p99 and max, kept in a growable typed array.
 */

/** A set of latency samples. */
export class LatencySamples {
  private data = new Float64Array(256);
  private n = 0;
  private sum = 0;
  private maxNs = 0;

  /** Add one sample (ns). */
  add(ns: number): void {
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = ns;
    this.sum += ns;
    if (ns > this.maxNs) this.maxNs = ns;
  }

  /** Samples so far. */
  get count(): number {
    return this.n;
  }

  /** Mean (ns); 0 without samples. */
  get mean(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }

  /** Largest sample (ns). */
  get max(): number {
    return this.maxNs;
  }

  /** The 99th percentile (nearest rank, ns); 0 without samples. */
  get p99(): number {
    if (this.n === 0) return 0;
    const sorted = this.data.slice(0, this.n).sort();
    return sorted[Math.max(0, Math.ceil(0.99 * this.n) - 1)];
  }
}
