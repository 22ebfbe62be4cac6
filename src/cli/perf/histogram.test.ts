import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketOf, bucketRange, LatencyHistogram } from "./histogram.js";

/** The exact percentile of sorted samples, by the same rank rule (nearest rank). */
function exactPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? 0;
}

describe("bucketOf and bucketRange", () => {
  it("gives each value below 256 a bucket of its own", () => {
    for (const v of [0, 1, 100, 255]) expect(bucketRange(bucketOf(v))).toEqual([v, v]);
  });

  it("puts every value inside the range of its bucket, and buckets in value order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
        const [low, high] = bucketRange(bucketOf(v));
        expect(low).toBeLessThanOrEqual(v);
        expect(high).toBeGreaterThanOrEqual(v);
        expect(bucketOf(low)).toBe(bucketOf(v));
        if (v > 0) expect(bucketOf(v - 1)).toBeLessThanOrEqual(bucketOf(v));
      }),
    );
  });

  it("keeps each bucket narrower than 1/128 of its values", () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 2 ** 50 }), (v) => {
        const [low, high] = bucketRange(bucketOf(v));
        expect((high - low + 1) / low).toBeLessThanOrEqual(1 / 128);
      }),
    );
  });
});

describe("LatencyHistogram", () => {
  it("reports zeros when empty", () => {
    const h = new LatencyHistogram();
    expect([h.count, h.min, h.max, h.mean, h.percentile(99)]).toEqual([0, 0, 0, 0, 0]);
  });

  it("gives exact min, max and mean", () => {
    const h = new LatencyHistogram();
    for (const v of [1000, 2000, 3000, 10_000]) h.record(v);
    expect(h.min).toBe(1000);
    expect(h.max).toBe(10_000);
    expect(h.mean).toBe(4000);
    expect(h.count).toBe(4);
  });

  it("gives percentiles within 1% of the exact ones from sorted samples", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1e9 }), { minLength: 1, maxLength: 500 }),
        fc.constantFrom(50, 90, 99, 99.9),
        (samples, p) => {
          const h = new LatencyHistogram();
          for (const s of samples) h.record(s);
          const exact = exactPercentile([...samples].sort((a, b) => a - b), p);
          expect(Math.abs(h.percentile(p) - exact)).toBeLessThanOrEqual(exact / 100 + 0.5);
        },
      ),
    );
  });

  it("finds the tail of a skewed distribution", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 990; i++) h.record(100_000);
    for (let i = 0; i < 10; i++) h.record(50_000_000);
    expect(h.percentile(50)).toBeCloseTo(100_000, -3);
    expect(h.percentile(99)).toBeCloseTo(100_000, -3);
    expect(h.percentile(99.9)).toBeGreaterThan(49_000_000);
  });

  it("merges two histograms as if one had recorded both", () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const both = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) {
      (i % 2 === 0 ? a : b).record(i * 1000);
      both.record(i * 1000);
    }
    a.merge(b);
    expect(a.count).toBe(both.count);
    expect(a.percentile(90)).toBe(both.percentile(90));
    expect(a.min).toBe(both.min);
    expect(a.max).toBe(both.max);
    expect(a.stddev).toBeCloseTo(both.stddev, 6);
  });

  it("clamps negative and huge values instead of failing", () => {
    const h = new LatencyHistogram();
    h.record(-5);
    h.record(2 ** 60);
    expect(h.min).toBe(0);
    expect(h.max).toBe(Number.MAX_SAFE_INTEGER);
  });
});
