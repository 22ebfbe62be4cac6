import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import { buildReadCapacity10Data, buildReadCapacity16Data, parseReadCapacity10Data, parseReadCapacity16Data } from "./capacity.js";
import { U64_MAX, u64Result } from "./wire.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("READ CAPACITY(10) data", () => {
  it("is the last LBA then the block length, both 32-bit big-endian", () => {
    expect(hexOf(buildReadCapacity10Data({ lastLba: 0x1ffff, blockLength: 512 }))).toBe(h("00 01 ff ff 00 00 02 00"));
    expect(parseReadCapacity10Data(Uint8Array.from([0, 1, 0xff, 0xff, 0, 0, 0x10, 0]))).toEqual({ lastLba: 0x1ffff, blockLength: 4096, useReadCapacity16: false });
  });

  it("reports 0xFFFFFFFF for a capacity beyond 32 bits, which tells the initiator to use READ CAPACITY(16)", () => {
    const data = buildReadCapacity10Data({ lastLba: 2n ** 40n, blockLength: 512 });
    expect(hexOf(data.subarray(0, 4))).toBe("ffffffff");
    expect(parseReadCapacity10Data(data).useReadCapacity16).toBe(true);
  });

  it("needs 8 bytes", () => {
    expect(() => parseReadCapacity10Data(new Uint8Array(7))).toThrow(RemoteProtocolError);
  });
});

describe("READ CAPACITY(16) data", () => {
  it("lays out LBA, block length, protection, exponents, LBPME/LBPRZ and the lowest aligned LBA", () => {
    const data = buildReadCapacity16Data({
      lastLba: 0x0102030405060708n,
      blockLength: 4096,
      protectionType: 1,
      protectionEnabled: true,
      protectionIntervalExponent: 2,
      logicalBlocksPerPhysicalBlockExponent: 3,
      lbpme: true,
      lbprz: true,
      lowestAlignedLba: 0x1234,
    });
    expect(hexOf(data)).toBe(h("01 02 03 04 05 06 07 08 00 00 10 00 03 23 d2 34" + "00".repeat(16)));
  });

  it("round-trips every field and gives blocks = last LBA + 1 under the 64-bit rule", () => {
    fc.assert(
      fc.property(
        fc.record({
          lastLba: fc.bigInt({ min: 0n, max: U64_MAX }),
          blockLength: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          protectionType: fc.integer({ min: 0, max: 7 }),
          protectionEnabled: fc.boolean(),
          protectionIntervalExponent: fc.integer({ min: 0, max: 15 }),
          logicalBlocksPerPhysicalBlockExponent: fc.integer({ min: 0, max: 15 }),
          lbpme: fc.boolean(),
          lbprz: fc.boolean(),
          lowestAlignedLba: fc.integer({ min: 0, max: 0x3fff }),
        }),
        (d) => {
          expect(parseReadCapacity16Data(buildReadCapacity16Data(d))).toEqual({
            ...d,
            lastLba: u64Result(d.lastLba),
            blocks: u64Result(d.lastLba + 1n),
          });
        },
      ),
    );
  });

  it("gives numbers for an ordinary disk and a bigint only past 2^53", () => {
    expect(parseReadCapacity16Data(buildReadCapacity16Data({ lastLba: 2 ** 31, blockLength: 512 })).blocks).toBe(2 ** 31 + 1);
    expect(parseReadCapacity16Data(buildReadCapacity16Data({ lastLba: 2n ** 60n, blockLength: 512 })).lastLba).toBe(2n ** 60n);
  });

  it("needs the 16 defined bytes and says so", () => {
    expect(() => parseReadCapacity16Data(new Uint8Array(15))).toThrow(/READ CAPACITY\(16\) data: 15 bytes.*needs 16/);
  });
});
