import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
import { MAX_LUN, readLun, writeLun } from "./lun.js";

function lunBytes(lun: number): number[] {
  const b = new Uint8Array(8);
  writeLun(b, 0, lun);
  return [...b];
}

describe("LUN field (SAM-5 §4.7)", () => {
  it("writes LUNs below 256 with peripheral device addressing (method 00b, bus 0)", () => {
    expect(lunBytes(0)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(lunBytes(5)).toEqual([0, 5, 0, 0, 0, 0, 0, 0]);
    expect(lunBytes(255)).toEqual([0, 0xff, 0, 0, 0, 0, 0, 0]);
  });

  it("writes LUNs 256 to 16383 with flat space addressing (method 01b)", () => {
    expect(lunBytes(256)).toEqual([0x41, 0x00, 0, 0, 0, 0, 0, 0]);
    expect(lunBytes(0x1234)).toEqual([0x52, 0x34, 0, 0, 0, 0, 0, 0]);
    expect(lunBytes(MAX_LUN)).toEqual([0x7f, 0xff, 0, 0, 0, 0, 0, 0]);
  });

  it("reads back every LUN it writes, over stale bytes and at an offset", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_LUN }), fc.integer({ min: 0, max: 16 }), (lun, offset) => {
        const b = new Uint8Array(32).fill(0xa5);
        writeLun(b, offset, lun);
        expect(readLun(b, offset)).toBe(lun);
        expect([...b.subarray(offset + 2, offset + 8)]).toEqual([0, 0, 0, 0, 0, 0]);
        if (offset > 0) expect(b[offset - 1]).toBe(0xa5);
        expect(b[offset + 8]).toBe(0xa5);
      }),
    );
  });

  it("reads flat addressing written by a peer for a LUN below 256 as that LUN", () => {
    expect(readLun(Uint8Array.from([0x40, 0x07, 0, 0, 0, 0, 0, 0]), 0)).toBe(7);
  });

  it("reads other address methods as the 14-bit value with the method bits masked", () => {
    // Logical unit addressing (10b) and extended addressing (11b).
    expect(readLun(Uint8Array.from([0x80 | 0x12, 0x34, 0, 0, 0, 0, 0, 0]), 0)).toBe(0x1234);
    expect(readLun(Uint8Array.from([0xc0 | 0x01, 0x02, 0xff, 0, 0, 0, 0, 0]), 0)).toBe(0x0102);
  });

  it("refuses LUNs that are negative, fractional or past 16383", () => {
    for (const bad of [-1, 1.5, MAX_LUN + 1, Number.NaN, 2 ** 32]) {
      expect(() => writeLun(new Uint8Array(8), 0, bad)).toThrow(LocalProtocolError);
    }
  });
});
