import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketHigh, bucketLow, bucketOf, LatencyHistogram } from "./histogram.js";

describe("histogram buckets", () => {
  it("place every value inside the bounds of its bucket", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), (ns) => {
        const b = bucketOf(ns);
        expect(bucketLow(b)).toBeLessThanOrEqual(ns);
        expect(ns).toBeLessThan(bucketHigh(b));
      }),
      { numRuns: 5000 },
    );
  });

  it("are at most 1/64 of their value wide above the exact range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 128, max: 2 ** 40 - 1 }), (ns) => {
        const b = bucketOf(ns);
        expect((bucketHigh(b) - bucketLow(b)) / bucketLow(b)).toBeLessThanOrEqual(1 / 64);
      }),
    );
  });

  it("count values below 128 ns exactly and follow each other without gaps", () => {
    for (let ns = 0; ns < 128; ns++) expect(bucketOf(ns)).toBe(ns);
    for (let b = 0; b < 2000; b++) expect(bucketHigh(b)).toBe(bucketLow(b + 1));
  });

  it("handle values next to powers of two, where log2 rounds", () => {
    for (let e = 7; e < 40; e++) {
      for (const ns of [2 ** e - 1, 2 ** e, 2 ** e + 1]) {
        const b = bucketOf(ns);
        expect(bucketLow(b)).toBeLessThanOrEqual(ns);
        expect(ns).toBeLessThan(bucketHigh(b));
      }
    }
  });

  it("put latencies beyond the range in the last bucket instead of growing", () => {
    expect(bucketOf(2 ** 45)).toBe(bucketOf(2 ** 50));
  });
});

describe("LatencyHistogram", () => {
  it("reports zeros when nothing was recorded", () => {
    expect(new LatencyHistogram().summary()).toEqual({ count: 0, meanUs: 0, minUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
  });

  it("gives percentiles within 1/64 of the exact ones", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1_000, max: 50_000_000 }), { minLength: 1, maxLength: 400 }), fc.constantFrom(50, 90, 99, 99.9), (values, p) => {
        const h = new LatencyHistogram();
        for (const v of values) h.recordNs(v);
        const sorted = [...values].sort((a, b) => a - b);
        const exact = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
        expect(Math.abs(h.percentileNs(p) - exact) / exact).toBeLessThanOrEqual(1 / 64);
      }),
    );
  });

  it("keeps the exact mean, minimum and maximum", () => {
    const h = new LatencyHistogram();
    for (const ms of [0.05, 0.1, 0.2, 1.5]) h.recordMs(ms);
    const s = h.summary();
    expect(s.count).toBe(4);
    expect(s.meanUs).toBeCloseTo((50 + 100 + 200 + 1500) / 4, 6);
    expect(s.minUs).toBe(50);
    expect(s.maxUs).toBe(1500);
  });

  it("reads the p50 of a two-valued run as the lower value and the p99 as the upper", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 98; i++) h.recordMs(0.1);
    for (let i = 0; i < 2; i++) h.recordMs(10);
    expect(h.summary().p50Us).toBeCloseTo(100, -1);
    expect(h.summary().p99Us).toBeGreaterThan(9_800);
    expect(h.summary().p99Us).toBeLessThanOrEqual(10_000);
  });

  it("merges to the same summary as recording everything in one", () => {
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
        expect(left.summary()).toEqual(one.summary());
      }),
    );
  });

  it("records a negative difference (a clock that stepped back) as zero", () => {
    const h = new LatencyHistogram();
    h.recordMs(-0.5);
    expect(h.summary().minUs).toBe(0);
    expect(h.count).toBe(1);
  });
});
