import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatBase64, formatHex, parseBinary, parseBoolean, parseList, parseNumber } from "./values.js";

describe("value forms (RFC 7143 §6.1)", () => {
  it("parses Yes and No only as booleans", () => {
    expect(parseBoolean("Yes")).toBe(true);
    expect(parseBoolean("No")).toBe(false);
    expect(parseBoolean("yes")).toBeUndefined();
  });

  it("parses decimal, hex and base64 numbers", () => {
    expect(parseNumber("262144")).toBe(262144);
    expect(parseNumber("0x40000")).toBe(262144);
    expect(parseNumber("0X40000")).toBe(262144);
    expect(parseNumber("0bBAAA")).toBe(0x040000);
    expect(parseNumber("0")).toBe(0);
  });

  it("refuses leading zeros, signs, junk and numbers beyond 2^53", () => {
    for (const bad of ["007", "-1", "+1", "1.5", "", "0x", "12a", "99999999999999999", "0xffffffffffffffff"]) {
      expect(parseNumber(bad), bad).toBeUndefined();
    }
  });

  it("round-trips binary values through hex and base64", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (b) => {
        expect(parseBinary(formatHex(b))).toEqual(b);
        expect(parseBinary(formatBase64(b))).toEqual(b);
      }),
    );
  });

  it("left-pads an odd number of hex digits", () => {
    expect(parseBinary("0xabc")).toEqual(Uint8Array.from([0x0a, 0xbc]));
  });

  it("encodes base64 as RFC 4648 does (a known vector)", () => {
    // RFC 4648 §10: BASE64("foob") = "Zm9vYg==".
    expect(formatBase64(Uint8Array.from([0x66, 0x6f, 0x6f, 0x62]))).toBe("0bZm9vYg==");
    expect(parseBinary("0bZm9vYg==")).toEqual(Uint8Array.from([0x66, 0x6f, 0x6f, 0x62]));
  });

  it("refuses malformed base64", () => {
    expect(parseBinary("0bZm9vYg=")).toBeUndefined();
    expect(parseBinary("0bZm9v!g==")).toBeUndefined();
  });

  it("splits lists and refuses empty members", () => {
    expect(parseList("CRC32C,None")).toEqual(["CRC32C", "None"]);
    expect(parseList("CRC32C,,None")).toBeUndefined();
  });
});
