import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "./errors.js";
import {
  serialAdd,
  serialDistance,
  serialGt,
  serialGte,
  serialInWindow,
  serialLt,
  serialLte,
} from "./serial.js";

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const HALF = 0x8000_0000;

describe("serial arithmetic (RFC 1982, 32 bits)", () => {
  it("adds with wraparound past 2^32", () => {
    expect(serialAdd(0xffff_ffff, 1)).toBe(0);
    expect(serialAdd(0xffff_fff0, 0x20)).toBe(0x10);
    expect(serialAdd(5, 0)).toBe(5);
    expect(serialAdd(0, HALF - 1)).toBe(HALF - 1);
  });

  it("refuses increments outside [0, 2^31 - 1]", () => {
    expect(() => serialAdd(1, HALF)).toThrow(LocalProtocolError);
    expect(() => serialAdd(1, -1)).toThrow(LocalProtocolError);
    expect(() => serialAdd(1, 1.5)).toThrow(LocalProtocolError);
  });

  it("orders numbers across the wrap: 0xFFFFFFFF is before 0 and 0 is after 0xFFFFFFFF", () => {
    expect(serialLt(0xffff_ffff, 0)).toBe(true);
    expect(serialGt(0, 0xffff_ffff)).toBe(true);
    expect(serialLt(0, 0xffff_ffff)).toBe(false);
    expect(serialLt(0xffff_fff0, 5)).toBe(true);
  });

  it("orders plain numbers that are less than 2^31 apart as integers", () => {
    expect(serialLt(1, 2)).toBe(true);
    expect(serialLt(2, 1)).toBe(false);
    expect(serialLt(0, HALF - 1)).toBe(true);
    expect(serialGt(HALF - 1, 0)).toBe(true);
  });

  it("treats numbers exactly 2^31 apart as neither less nor greater (undefined per RFC 1982)", () => {
    for (const [a, b] of [
      [0, HALF],
      [HALF, 0],
      [0xffff_ffff, HALF - 1],
      [12345, 12345 + HALF],
    ] as const) {
      expect(serialLt(a, b)).toBe(false);
      expect(serialGt(a, b)).toBe(false);
      expect(serialLte(a, b)).toBe(false);
      expect(serialGte(a, b)).toBe(false);
    }
  });

  it("treats equal numbers as neither less nor greater but both lte and gte", () => {
    fc.assert(
      fc.property(u32, (a) => {
        expect(serialLt(a, a)).toBe(false);
        expect(serialGt(a, a)).toBe(false);
        expect(serialLte(a, a)).toBe(true);
        expect(serialGte(a, a)).toBe(true);
      }),
    );
  });

  it("is antisymmetric: a < b exactly when b > a, and never both a < b and b < a", () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        expect(serialLt(a, b)).toBe(serialGt(b, a));
        expect(serialLt(a, b) && serialLt(b, a)).toBe(false);
        expect(serialLte(a, b)).toBe(serialGte(b, a));
      }),
    );
  });

  it("is total except at the half-way point: exactly one of lt, equal, gt holds", () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        const holds = [serialLt(a, b), a === b, serialGt(a, b)].filter(Boolean).length;
        expect(holds).toBe(serialDistance(a, b) === HALF ? 0 : 1);
      }),
    );
  });

  it("puts a + n after a for every increment 1 to 2^31 - 1", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 1, max: HALF - 1 }), (a, n) => {
        const b = serialAdd(a, n);
        expect(serialLt(a, b)).toBe(true);
        expect(serialGt(b, a)).toBe(true);
        expect(serialDistance(a, b)).toBe(n);
      }),
    );
  });

  it("measures the distance forward across the wrap", () => {
    expect(serialDistance(0xffff_fffe, 2)).toBe(4);
    expect(serialDistance(2, 0xffff_fffe)).toBe(0xffff_fffc);
    expect(serialDistance(7, 7)).toBe(0);
  });

  it("accepts numbers inside a window that wraps past 2^32", () => {
    const low = 0xffff_fffe;
    const high = 3;
    for (const sn of [0xffff_fffe, 0xffff_ffff, 0, 1, 2, 3]) expect(serialInWindow(sn, low, high)).toBe(true);
    for (const sn of [4, 0xffff_fffd, HALF]) expect(serialInWindow(sn, low, high)).toBe(false);
  });

  it("treats a window whose high end is one behind its low end as closed (MaxCmdSN = ExpCmdSN - 1)", () => {
    fc.assert(
      fc.property(u32, u32, (expCmdSN, sn) => {
        expect(serialInWindow(sn, expCmdSN, (expCmdSN - 1) >>> 0)).toBe(false);
      }),
    );
  });

  it("agrees with lte on both ends for every window narrower than 2^31", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: HALF - 1 }), u32, (low, width, sn) => {
        const high = serialAdd(low, width);
        expect(serialInWindow(sn, low, high)).toBe(serialLte(low, sn) && serialLte(sn, high));
      }),
    );
  });
});
