import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import { buildReportLunsData, decodeLun, encodeLun, parseReportLunsData } from "./report-luns.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("SAM single-level LUNs", () => {
  it("encodes LUNs below 256 with peripheral device addressing and others with flat space addressing", () => {
    expect(hexOf(encodeLun(0))).toBe("0000000000000000");
    expect(hexOf(encodeLun(5))).toBe("0005000000000000");
    expect(hexOf(encodeLun(256))).toBe("4100000000000000");
    expect(hexOf(encodeLun(16383))).toBe("7fff000000000000");
    expect(() => encodeLun(16384)).toThrow(LocalProtocolError);
  });

  it("decodes every LUN it encodes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16383 }), (lun) => {
        expect(decodeLun(encodeLun(lun))).toBe(lun);
      }),
    );
  });

  it("decodes flat LUNs below 256 too, and leaves multi-level and bus-addressed LUNs undecoded", () => {
    expect(decodeLun(Uint8Array.from([0x40, 5, 0, 0, 0, 0, 0, 0]))).toBe(5);
    expect(decodeLun(Uint8Array.from([0x00, 1, 0x00, 2, 0, 0, 0, 0]))).toBeUndefined();
    expect(decodeLun(Uint8Array.from([0x01, 1, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(decodeLun(Uint8Array.from([0x80, 1, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(decodeLun(Uint8Array.from([0xc1, 1, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(decodeLun(new Uint8Array(7))).toBeUndefined();
  });
});

describe("REPORT LUNS data", () => {
  it("is a 4-byte LUN LIST LENGTH, 4 reserved bytes, then 8 bytes per LUN", () => {
    expect(hexOf(buildReportLunsData([0, 1, 300]))).toBe(
      h("00 00 00 18 00 00 00 00  00 00 00 00 00 00 00 00  00 01 00 00 00 00 00 00  41 2c 00 00 00 00 00 00"),
    );
  });

  it("round-trips LUN numbers and keeps the raw entries", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 16383 }), { maxLength: 50 }), (luns) => {
        const parsed = parseReportLunsData(buildReportLunsData(luns));
        expect(parsed.luns).toEqual(luns);
        expect(parsed.entries.map((e) => hexOf(e.raw))).toEqual(luns.map((l) => hexOf(encodeLun(l))));
        expect(parsed.truncated).toBe(false);
      }),
    );
  });

  it("carries raw entries it cannot number, with their address method", () => {
    const raw = Uint8Array.from([0x00, 1, 0x00, 2, 0, 0, 0, 0]);
    const parsed = parseReportLunsData(buildReportLunsData([raw, 3]));
    expect(parsed.luns).toEqual([3]);
    expect(parsed.entries[0]).toMatchObject({ addressMethod: 0, lun: undefined });
    expect(() => buildReportLunsData([new Uint8Array(4)])).toThrow(LocalProtocolError);
  });

  it("returns the entries that arrived when the allocation length cut the list", () => {
    const parsed = parseReportLunsData(buildReportLunsData([0, 1, 2]).subarray(0, 16));
    expect(parsed).toMatchObject({ lunListLength: 24, luns: [0], truncated: true });
  });

  it("refuses a header-less reply and a LUN LIST LENGTH that is not a multiple of 8", () => {
    expect(() => parseReportLunsData(new Uint8Array(7))).toThrow(RemoteProtocolError);
    expect(() => parseReportLunsData(Uint8Array.from([0, 0, 0, 9, 0, 0, 0, 0]))).toThrow(/not a multiple of 8/);
  });
});
