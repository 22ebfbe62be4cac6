/**
 * A bounded latency histogram in the manner of HdrHistogram: fixed memory, constant-time
 * recording, and percentiles within a known relative error however many samples a run records.
 *
 * Values are nanoseconds (non-negative integers). Below 2^SIGNIFICANT_BITS each value has a
 * bucket of its own; above, each power of two is split into 2^(SIGNIFICANT_BITS - 1) equal
 * buckets, so a bucket is at most 1/128 of its lowest value wide, and a percentile reported as
 * its bucket's midpoint is within 1/256 (0.4 %) of a recorded value. Everything up to 2^53 ns
 * (104 days) fits in under 6,000 counters (47 KiB), so no latency is ever folded into an
 * overflow bucket.
 *
 * Mean and standard deviation are kept exactly beside the buckets (a running sum, and Welford's
 * sum of squared deviations, which does not cancel catastrophically when the spread is small
 * next to the mean, as it is for I/O latencies).
 *
 * For people, the buckets fold into powers of two of a microsecond (`log2BucketsUs`), as fio's
 * and iostat's latency tables do: every such edge (1000 * 2^k ns) is also the edge of a fine
 * bucket, so the fold is exact, not an estimate.
 */

export const SIGNIFICANT_BITS = 8;
/** Values below this are counted exactly, one bucket each. */
const LINEAR = 1 << SIGNIFICANT_BITS;
/** Buckets per power of two above LINEAR. */
const HALF = LINEAR >> 1;
/** Values stay below 2^MAX_EXPONENT: the powers of two from 2^SIGNIFICANT_BITS to 2^52 get a row each. */
const MAX_EXPONENT = 53;
export const BUCKET_COUNT = LINEAR + (MAX_EXPONENT - SIGNIFICANT_BITS) * HALF;
const TWO_32 = 0x1_0000_0000;

/** A run's latencies in microseconds, as the benchmark's results have always recorded them. */
export interface LatencySummary {
  readonly count: number;
  readonly minUs: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/** The summary with the spread, which `iscsi perf` shows as well. */
export interface LatencyStats extends LatencySummary {
  /** Population standard deviation. */
  readonly stddevUs: number;
}

/** One power-of-two range of latencies and how many fell in it: [fromUs, toUs). */
export interface Log2Bucket {
  readonly fromUs: number;
  readonly toUs: number;
  readonly count: number;
}

/** floor(log2(v)) for an integer v >= 1 up to 2^53, exact (Math.log2 can round up just below a power of two). */
function log2Floor(v: number): number {
  if (v < TWO_32) return 31 - Math.clz32(v);
  return 63 - Math.clz32(Math.floor(v / TWO_32));
}

/** The bucket of a value (an integer in [0, 2^53)). */
export function bucketOf(value: number): number {
  if (value < LINEAR) return value;
  const shift = log2Floor(value) - (SIGNIFICANT_BITS - 1);
  const sub = Math.floor(value / 2 ** shift); // in [HALF, LINEAR)
  return LINEAR + (shift - 1) * HALF + (sub - HALF);
}

/** The lowest and highest value a bucket holds (both inclusive). */
export function bucketRange(index: number): readonly [number, number] {
  if (index < LINEAR) return [index, index];
  const shift = Math.floor((index - LINEAR) / HALF) + 1;
  const sub = ((index - LINEAR) % HALF) + HALF;
  const low = sub * 2 ** shift;
  return [low, low + 2 ** shift - 1];
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private n = 0;
  private sum = 0;
  /** Welford's running mean and sum of squared deviations, for the standard deviation. */
  private runningMean = 0;
  private m2 = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = 0;

  /** Records one latency in milliseconds (as differences of performance.now() are). */
  recordMs(ms: number): void {
    this.recordNs(ms * 1e6);
  }

  /**
   * Records one latency in nanoseconds, rounded to an integer and clamped to [0, 2^53): a
   * negative one (a clock that stepped back) counts as 0 rather than failing the run.
   */
  recordNs(ns: number): void {
    const v = ns > 0 ? Math.min(Math.round(ns), Number.MAX_SAFE_INTEGER) : 0;
    this.counts[bucketOf(v)]! += 1;
    this.n += 1;
    this.sum += v;
    const delta = v - this.runningMean;
    this.runningMean += delta / this.n;
    this.m2 += delta * (v - this.runningMean);
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
  }

  /** Forgets every sample, keeping the memory (an interval's histogram is reused for the next). */
  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.runningMean = 0;
    this.m2 = 0;
    this.lo = Number.POSITIVE_INFINITY;
    this.hi = 0;
  }

  /** Adds another histogram's samples to this one (Chan et al.'s rule combines the deviations). */
  merge(other: LatencyHistogram): void {
    if (other.n === 0) return;
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    const n = this.n + other.n;
    const delta = other.runningMean - this.runningMean;
    this.m2 += other.m2 + (delta * delta * this.n * other.n) / n;
    this.runningMean += (delta * other.n) / n;
    this.n = n;
    this.sum += other.sum;
    this.lo = Math.min(this.lo, other.lo);
    this.hi = Math.max(this.hi, other.hi);
  }

  get count(): number {
    return this.n;
  }
  get minNs(): number {
    return this.n === 0 ? 0 : this.lo;
  }
  get maxNs(): number {
    return this.hi;
  }
  get meanNs(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }
  /** Population standard deviation. */
  get stddevNs(): number {
    return this.n === 0 ? 0 : Math.sqrt(Math.max(0, this.m2 / this.n));
  }

  /**
   * The value (ns) at percentile `p` (0-100) by the nearest-rank rule: the smallest recorded value
   * with at least p% of the samples at or below it, given as its bucket's midpoint (within 1/256
   * of that value).
   */
  percentileNs(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        // The middle of the part of the bucket the samples can occupy: exact when they all
        // hold one value, and never outside the recorded minimum and maximum.
        const [low, high] = bucketRange(i);
        return (Math.max(low, this.lo) + Math.min(high, this.hi)) / 2;
      }
    }
    return this.hi;
  }

  /**
   * The samples by power of two of a microsecond: [0, 1 µs), [1, 2), [2, 4), ... from the lowest
   * range that holds a sample to the highest, the empty ones between included (a gap in a
   * latency distribution is worth seeing). Empty when nothing was recorded.
   */
  log2BucketsUs(): Log2Bucket[] {
    const counts: number[] = [];
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const count = this.counts[i]!;
      if (count === 0) continue;
      // Compared in whole microseconds, so an edge 1000 * 2^k ns is never lost to a float log2.
      const whole = Math.floor(bucketRange(i)[0] / 1000);
      const k = whole === 0 ? 0 : log2Floor(whole) + 1;
      counts[k] = (counts[k] ?? 0) + count;
    }
    const first = counts.findIndex((c) => c !== undefined);
    if (first < 0) return [];
    const buckets: Log2Bucket[] = [];
    for (let k = first; k < counts.length; k++) {
      buckets.push({ fromUs: k === 0 ? 0 : 2 ** (k - 1), toUs: 2 ** k, count: counts[k] ?? 0 });
    }
    return buckets;
  }

  summary(): LatencyStats {
    const us = (ns: number): number => ns / 1000;
    return {
      count: this.n,
      minUs: us(this.minNs),
      meanUs: us(this.meanNs),
      stddevUs: us(this.stddevNs),
      p50Us: us(this.percentileNs(50)),
      p90Us: us(this.percentileNs(90)),
      p99Us: us(this.percentileNs(99)),
      p999Us: us(this.percentileNs(99.9)),
      maxUs: us(this.maxNs),
    };
  }
}
