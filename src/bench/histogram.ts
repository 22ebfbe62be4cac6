/**
 * A bounded latency histogram: log-linear buckets over nanoseconds, 64 per power of two, so any
 * percentile it reports is within 1/64 (1.6 %) of a recorded value, and its memory is fixed
 * (about 2,300 counters) however long a run lasts. Recording is a few integer operations, cheap
 * enough to do for every I/O of a closed-loop benchmark without disturbing it.
 */

/** log2 of the linear sub-buckets per power of two. */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** Values below this are counted exactly, one bucket per nanosecond. */
const EXACT_LIMIT = 2 * SUB;
/** Highest power of two tracked: 2^40 ns is about 18 minutes; longer latencies land in the last bucket. */
const MAX_EXPONENT = 40;
const BUCKETS = (MAX_EXPONENT - SUB_BITS + 2) * SUB;

export interface LatencySummary {
  readonly count: number;
  readonly meanUs: number;
  readonly minUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/** The bucket holding `ns` (a non-negative integer). */
export function bucketOf(ns: number): number {
  if (ns < EXACT_LIMIT) return ns;
  const exponent = Math.min(Math.floor(Math.log2(ns)), MAX_EXPONENT);
  // Math.log2 can round up just below a power of two; the mantissa check corrects it.
  let shift = exponent - SUB_BITS;
  let mantissa = Math.floor(ns / 2 ** shift);
  if (mantissa < SUB) {
    shift -= 1;
    mantissa = Math.floor(ns / 2 ** shift);
  }
  if (mantissa >= 2 * SUB) {
    if (exponent >= MAX_EXPONENT) return BUCKETS - 1;
    shift += 1;
    mantissa = Math.floor(ns / 2 ** shift);
  }
  return Math.min((shift + 1) * SUB + (mantissa - SUB), BUCKETS - 1);
}

/** The lowest value (ns) that falls in `bucket`. */
export function bucketLow(bucket: number): number {
  if (bucket < EXACT_LIMIT) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  return ((bucket % SUB) + SUB) * 2 ** shift;
}

/** One past the highest value (ns) that falls in `bucket`. */
export function bucketHigh(bucket: number): number {
  if (bucket < EXACT_LIMIT) return bucket + 1;
  const shift = Math.floor(bucket / SUB) - 1;
  return ((bucket % SUB) + SUB + 1) * 2 ** shift;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sumNs = 0;
  private minNs = Number.POSITIVE_INFINITY;
  private maxNs = 0;

  get count(): number {
    return this.total;
  }

  /** Records one latency given in milliseconds (as performance.now() differences are). */
  recordMs(ms: number): void {
    this.recordNs(Math.round(ms * 1e6));
  }

  recordNs(ns: number): void {
    const value = ns > 0 ? ns : 0;
    this.counts[bucketOf(value)]! += 1;
    this.total += 1;
    this.sumNs += value;
    if (value < this.minNs) this.minNs = value;
    if (value > this.maxNs) this.maxNs = value;
  }

  /** Adds another histogram's counts to this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sumNs += other.sumNs;
    this.minNs = Math.min(this.minNs, other.minNs);
    this.maxNs = Math.max(this.maxNs, other.maxNs);
  }

  /**
   * The value (ns) at or below which `percent` of the recorded values lie: the middle of the
   * bucket holding that rank, kept within the exact minimum and maximum.
   */
  percentileNs(percent: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(Math.max(percent, 0), 100) / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const middle = (bucketLow(i) + bucketHigh(i) - 1) / 2;
        return Math.min(Math.max(middle, this.minNs), this.maxNs);
      }
    }
    return this.maxNs;
  }

  meanNs(): number {
    return this.total === 0 ? 0 : this.sumNs / this.total;
  }

  summary(): LatencySummary {
    const us = (ns: number): number => ns / 1000;
    return {
      count: this.total,
      meanUs: us(this.meanNs()),
      minUs: us(this.total === 0 ? 0 : this.minNs),
      p50Us: us(this.percentileNs(50)),
      p90Us: us(this.percentileNs(90)),
      p99Us: us(this.percentileNs(99)),
      p999Us: us(this.percentileNs(99.9)),
      maxUs: us(this.maxNs),
    };
  }
}
