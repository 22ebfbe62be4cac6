/**
 * A latency histogram in the manner of HdrHistogram: fixed memory, constant-time recording, and
 * percentiles within a known relative error whatever the number of samples.
 *
 * Values are non-negative integers (nanoseconds here). Below 2^SIGNIFICANT_BITS each value has
 * its own bucket; above, each power of two is split into 2^(SIGNIFICANT_BITS - 1) equal buckets,
 * so a bucket's width is at most 1/128 of its values: a reported percentile is within 0.8% of a
 * recorded value. Up to 2^53 ns (104 days) fits in under 6,000 buckets (47 KiB).
 */

export const SIGNIFICANT_BITS = 8;
const LINEAR = 1 << SIGNIFICANT_BITS; // values below this are exact
const HALF = LINEAR >> 1; // buckets per power of two above
const MAX_EXPONENT = 53;
const BUCKETS = LINEAR + (MAX_EXPONENT - SIGNIFICANT_BITS + 1) * HALF;

function log2Floor(v: number): number {
  return v < 2 ** 31 ? 31 - Math.clz32(v) : Math.floor(Math.log2(v));
}

/** The bucket of a value (exported for tests). */
export function bucketOf(value: number): number {
  if (value < LINEAR) return value;
  const shift = log2Floor(value) - (SIGNIFICANT_BITS - 1);
  const sub = Math.floor(value / 2 ** shift); // in [HALF, LINEAR)
  return LINEAR + (shift - 1) * HALF + (sub - HALF);
}

/** The lowest and highest value a bucket holds. */
export function bucketRange(index: number): readonly [number, number] {
  if (index < LINEAR) return [index, index];
  const shift = Math.floor((index - LINEAR) / HALF) + 1;
  const sub = ((index - LINEAR) % HALF) + HALF;
  const low = sub * 2 ** shift;
  return [low, low + 2 ** shift - 1];
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private sumSquares = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = 0;

  /** Records one value (rounded to an integer, clamped to [0, 2^53)). */
  record(value: number): void {
    const v = Math.min(Math.max(0, Math.round(value)), Number.MAX_SAFE_INTEGER);
    this.counts[bucketOf(v)] = (this.counts[bucketOf(v)] ?? 0) + 1;
    this.n++;
    this.sum += v;
    this.sumSquares += v * v;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
  }

  /** Adds another histogram's samples (one per worker, merged at the end). */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.n += other.n;
    this.sum += other.sum;
    this.sumSquares += other.sumSquares;
    this.lo = Math.min(this.lo, other.lo);
    this.hi = Math.max(this.hi, other.hi);
  }

  get count(): number {
    return this.n;
  }
  get min(): number {
    return this.n === 0 ? 0 : this.lo;
  }
  get max(): number {
    return this.hi;
  }
  get mean(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }
  /** Population standard deviation. */
  get stddev(): number {
    if (this.n === 0) return 0;
    const m = this.mean;
    return Math.sqrt(Math.max(0, this.sumSquares / this.n - m * m));
  }

  /**
   * The value at percentile `p` (0-100): the smallest recorded value such that at least p% of
   * the samples are at or below it, given as its bucket's midpoint (clamped to min and max).
   */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) {
        const [low, high] = bucketRange(i);
        return Math.min(this.hi, Math.max(this.lo, (low + high) / 2));
      }
    }
    return this.hi;
  }
}
