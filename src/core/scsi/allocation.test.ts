import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
import { fitAllocationLength } from "./allocation.js";

describe("fitAllocationLength", () => {
  it("returns at most the allocation length, as a view of the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 200 }), (data, alloc) => {
        const fitted = fitAllocationLength(data, alloc);
        expect(fitted.length).toBe(Math.min(data.length, alloc));
        expect(fitted.buffer).toBe(data.buffer);
        expect(Array.from(fitted)).toEqual(Array.from(data.subarray(0, alloc)));
      }),
    );
  });

  it("refuses a negative or fractional allocation length", () => {
    expect(() => fitAllocationLength(new Uint8Array(4), -1)).toThrow(LocalProtocolError);
    expect(() => fitAllocationLength(new Uint8Array(4), 1.5)).toThrow(LocalProtocolError);
  });
});
