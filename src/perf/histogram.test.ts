import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUCKET_COUNT, bucketOf, bucketRange, LatencyHistogram } from "./histogram.js";

/** The exact percentile of sorted samples by the same nearest-rank rule. */
function exactPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? 0;
}

function populationStddev(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

describe("histogram buckets", () => {
  it("give each value below 256 a bucket of its own", () => {
    for (let v = 0; v < 256; v++) {
      expect(bucketOf(v)).toBe(v);
      expect(bucketRange(v)).toEqual([v, v]);
    }
  });

  it("put every value inside the range of its bucket, in value order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
        const [low, high] = bucketRange(bucketOf(v));
        expect(low).toBeLessThanOrEqual(v);
        expect(high).toBeGreaterThanOrEqual(v);
        expect(bucketOf(low)).toBe(bucketOf(v));
        expect(bucketOf(high)).toBe(bucketOf(v));
        if (v > 0) expect(bucketOf(v - 1)).toBeLessThanOrEqual(bucketOf(v));
      }),
      { numRuns: 5000 },
    );
  });

  it("follow each other without gaps or overlaps up to the last one", () => {
    for (let b = 0; b + 1 < BUCKET_COUNT; b++) expect(bucketRange(b)[1] + 1).toBe(bucketRange(b + 1)[0]);
    expect(bucketOf(Number.MAX_SAFE_INTEGER)).toBe(BUCKET_COUNT - 1);
    expect(bucketRange(BUCKET_COUNT - 1)[1]).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("are at most 1/128 of their lowest value wide above the exact range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: Number.MAX_SAFE_INTEGER }), (v) => {
        const [low, high] = bucketRange(bucketOf(v));
        expect((high - low + 1) / low).toBeLessThanOrEqual(1 / 128);
      }),
    );
  });

  it("place values next to every power of two correctly, where a float log2 would round", () => {
    for (let e = 8; e <= 53; e++) {
      for (const v of [2 ** e - 1, 2 ** e, 2 ** e + 1]) {
        if (v > Number.MAX_SAFE_INTEGER) continue;
        const [low, high] = bucketRange(bucketOf(v));
        expect(low).toBeLessThanOrEqual(v);
        expect(v).toBeLessThanOrEqual(high);
      }
    }
  });
});

describe("LatencyHistogram", () => {
  it("reports zeros when nothing was recorded", () => {
    expect(new LatencyHistogram().summary()).toEqual({ count: 0, minUs: 0, meanUs: 0, stddevUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
  });

  it("keeps the exact count, minimum, maximum and mean", () => {
    const h = new LatencyHistogram();
    for (const ms of [0.05, 0.1, 0.2, 1.5]) h.recordMs(ms);
    const s = h.summary();
    expect(s.count).toBe(4);
    expect(s.minUs).toBe(50);
    expect(s.maxUs).toBe(1500);
    expect(s.meanUs).toBeCloseTo((50 + 100 + 200 + 1500) / 4, 9);
  });

  it("gives percentiles within 1/256 of the exact ones from sorted samples", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1e12 }), { minLength: 1, maxLength: 400 }),
        fc.constantFrom(0, 50, 90, 99, 99.9, 100),
        (samples, p) => {
          const h = new LatencyHistogram();
          for (const s of samples) h.recordNs(s);
          const exact = exactPercentile([...samples].sort((a, b) => a - b), p);
          expect(Math.abs(h.percentileNs(p) - exact)).toBeLessThanOrEqual(exact / 256);
        },
      ),
    );
  });

  it("gives the standard deviation of the samples", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e10 }), { minLength: 1, maxLength: 300 }), (samples) => {
        const h = new LatencyHistogram();
        for (const s of samples) h.recordNs(s);
        const exact = populationStddev(samples);
        expect(Math.abs(h.stddevNs - exact)).toBeLessThanOrEqual(exact * 1e-9 + 1e-6);
      }),
    );
  });

  it("keeps a small spread exact next to a large mean, where sums of squares would cancel", () => {
    const h = new LatencyHistogram();
    const values = [1e12 - 1, 1e12, 1e12 + 1];
    for (let i = 0; i < 1000; i++) for (const v of values) h.recordNs(v);
    expect(h.stddevNs).toBeCloseTo(Math.sqrt(2 / 3), 3);
  });

  it("finds the tail of a skewed distribution", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 990; i++) h.recordNs(100_000);
    for (let i = 0; i < 10; i++) h.recordNs(50_000_000);
    const near = (value: number, exact: number): void => expect(Math.abs(value - exact)).toBeLessThanOrEqual(exact / 256);
    near(h.percentileNs(50), 100_000);
    near(h.percentileNs(99), 100_000);
    near(h.percentileNs(99.9), 50_000_000);
    expect(h.percentileNs(99.9)).toBeGreaterThan(h.percentileNs(99) * 400);
  });

  it("reports the one value of a run that recorded only that value exactly", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 50; i++) h.recordNs(123_456_789);
    expect([h.percentileNs(0), h.percentileNs(50), h.percentileNs(99.9), h.percentileNs(100)]).toEqual([123_456_789, 123_456_789, 123_456_789, 123_456_789]);
  });

  it("reads the p50 of a two-valued run as the lower value and the p99 as the upper", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 98; i++) h.recordMs(0.1);
    for (let i = 0; i < 2; i++) h.recordMs(10);
    const { p50Us, p99Us } = h.summary();
    expect(Math.abs(p50Us - 100)).toBeLessThanOrEqual(100 / 256);
    expect(Math.abs(p99Us - 10_000)).toBeLessThanOrEqual(10_000 / 256);
  });

  it("merges to the same figures as recording everything in one", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e9 })), fc.array(fc.integer({ min: 0, max: 1e9 })), (a, b) => {
        const one = new LatencyHistogram();
        const left = new LatencyHistogram();
        const right = new LatencyHistogram();
        for (const v of a) {
          one.recordNs(v);
          left.recordNs(v);
        }
        for (const v of b) {
          one.recordNs(v);
          right.recordNs(v);
        }
        left.merge(right);
        const { stddevUs, ...rest } = left.summary();
        const { stddevUs: expected, ...wanted } = one.summary();
        expect(rest).toEqual(wanted);
        expect(Math.abs(stddevUs - expected)).toBeLessThanOrEqual(expected * 1e-9 + 1e-9);
      }),
    );
  });

  it("records a negative difference (a clock that stepped back) as zero and clamps huge ones", () => {
    const h = new LatencyHistogram();
    h.recordMs(-0.5);
    h.recordNs(2 ** 60);
    h.recordNs(Number.NaN);
    expect(h.count).toBe(3);
    expect(h.minNs).toBe(0);
    expect(h.maxNs).toBe(Number.MAX_SAFE_INTEGER);
    expect(h.percentileNs(100)).toBeGreaterThan(Number.MAX_SAFE_INTEGER * (1 - 1 / 256));
  });
});

describe("log2BucketsUs", () => {
  it("counts every value in the power-of-two range of microseconds that holds it, exactly", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2e10 }), { minLength: 1, maxLength: 200 }), (values) => {
        const h = new LatencyHistogram();
        for (const v of values) h.recordNs(v);
        const buckets = h.log2BucketsUs();
        for (const b of buckets) {
          const inside = values.filter((v) => v / 1000 >= b.fromUs && v / 1000 < b.toUs).length;
          expect(b.count, `[${b.fromUs}, ${b.toUs}) µs`).toBe(inside);
        }
        expect(buckets.reduce((a, b) => a + b.count, 0)).toBe(values.length);
      }),
    );
  });

  it("never splits a fine bucket across a power of two of a microsecond, so the fold is exact", () => {
    // The range's index is the bit length of the whole microseconds (exact, where a float log2 is not).
    const rangeOf = (ns: number): number => (ns < 1000 ? 0 : Math.floor(ns / 1000).toString(2).length);
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const [low, high] = bucketRange(i);
      expect(rangeOf(high), `bucket ${i}: ${low}..${high} ns`).toBe(rangeOf(low));
    }
  });

  it("runs without gaps from the lowest range holding a value to the highest, [0, 1 µs) first", () => {
    const h = new LatencyHistogram();
    h.recordNs(999);
    h.recordNs(5_000);
    h.recordNs(5_500);
    expect(h.log2BucketsUs()).toEqual([
      { fromUs: 0, toUs: 1, count: 1 },
      { fromUs: 1, toUs: 2, count: 0 },
      { fromUs: 2, toUs: 4, count: 0 },
      { fromUs: 4, toUs: 8, count: 2 },
    ]);
    const later = new LatencyHistogram();
    later.recordMs(1.5);
    expect(later.log2BucketsUs()).toEqual([{ fromUs: 1024, toUs: 2048, count: 1 }]);
    expect(new LatencyHistogram().log2BucketsUs()).toEqual([]);
  });
});

describe("reset", () => {
  it("forgets every sample, so the next interval's figures are its own", () => {
    const h = new LatencyHistogram();
    for (const ms of [1, 2, 30]) h.recordMs(ms);
    h.reset();
    expect(h.summary()).toEqual(new LatencyHistogram().summary());
    h.recordMs(0.25);
    expect(h.summary()).toMatchObject({ count: 1, minUs: 250, maxUs: 250, p50Us: 250, p99Us: 250, meanUs: 250, stddevUs: 0 });
    expect(h.log2BucketsUs()).toEqual([{ fromUs: 128, toUs: 256, count: 1 }]);
  });
});
