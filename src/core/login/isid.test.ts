import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { makeIsid, splitIsid } from "./isid.js";

describe("makeIsid (RFC 7143 §11.12.5)", () => {
  it("sets the Random type (T = 10b), A = 0, a random B/C and the qualifier in D", () => {
    const isid = makeIsid(() => Uint8Array.from([0xa7, 0x2f, 0xed]), 0x0102);
    expect(isid).toBe(0x80a72fed0102);
    expect(splitIsid(isid)).toEqual({ type: 2, a: 0, b: 0xa72f, c: 0xed, d: 0x0102 });
  });

  it("always gives a 48-bit Random-type ISID", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 0xffff }), (bytes, q) => {
        const isid = makeIsid(() => bytes, q);
        expect(isid).toBeLessThan(2 ** 48);
        expect(splitIsid(isid)).toMatchObject({ type: 2, a: 0, d: q });
      }),
    );
  });

  it("refuses a qualifier beyond 16 bits", () => {
    expect(() => makeIsid(() => new Uint8Array(3), 0x10000)).toThrow(ConfigError);
  });
});
