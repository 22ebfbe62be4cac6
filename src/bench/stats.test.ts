import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { median, ratio, spread } from "./stats.js";

describe("stats", () => {
  it("takes the middle value of an odd count and the mean of the middle two of an even one", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("puts the median between the minimum and the maximum", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 1 }), (values) => {
        const s = spread(values);
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.max);
        expect(s.n).toBe(values.length);
      }),
    );
  });

  it("gives no ratio over zero or a missing figure", () => {
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(1, Number.NaN)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
    expect(ratio(3, 2)).toBe(1.5);
  });
});
