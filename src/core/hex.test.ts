import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "./errors.js";
import { fromHex, hex, hexOf } from "./hex.js";

describe("hex", () => {
  it("writes a number as 0x and lower-case digits, zero-padded to the digits asked for", () => {
    expect(hex(0x21, 2)).toBe("0x21");
    expect(hex(5, 2)).toBe("0x05");
    expect(hex(0xabc)).toBe("0xabc");
    expect(hex(0, 8)).toBe("0x00000000");
    expect(hex(0xffff_ffff, 8)).toBe("0xffffffff");
  });

  it("never cuts a value longer than the digits asked for", () => {
    expect(hex(0x12345, 2)).toBe("0x12345");
  });

  it("writes a bigint as a number of the same value", () => {
    expect(hex((1n << 64n) - 1n)).toBe("0xffffffffffffffff");
    expect(hex(1n, 4)).toBe("0x0001");
  });
});

describe("hexOf", () => {
  it("writes two lower-case digits per byte, in order", () => {
    expect(hexOf(Uint8Array.of(0x60, 0x0a, 0xff, 0x00))).toBe("600aff00");
    expect(hexOf(new Uint8Array(0))).toBe("");
  });

  it("round-trips through fromHex", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        expect(Array.from(fromHex("x", hexOf(b)))).toEqual(Array.from(b));
      }),
    );
  });
});

describe("fromHex", () => {
  it("takes either case and refuses odd or non-hex text, naming what it parsed", () => {
    expect(Array.from(fromHex("x", "aBcD"))).toEqual([0xab, 0xcd]);
    expect(() => fromHex("x", "abc")).toThrow(LocalProtocolError);
    expect(() => fromHex("NAA", "zz")).toThrow("NAA must be an even number of hex digits");
    expect(() => fromHex("x", "0x12")).toThrow(LocalProtocolError);
  });
});
