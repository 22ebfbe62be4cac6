import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import {
  buildBlockDeviceCharacteristicsPage,
  buildBlockLimitsPage,
  buildLogicalBlockProvisioningPage,
  buildSupportedVpdPages,
  buildUnitSerialNumberPage,
  formFactorName,
  parseBlockDeviceCharacteristicsPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
  parseVpdHeader,
  provisioningTypeName,
  rotationRateName,
  vpdPageName,
} from "./vpd.js";
import { hexOf } from "../hex.js";
import { U64_MAX, u64Result } from "./wire.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });

describe("VPD page 0x00, supported pages", () => {
  it("builds the header (qualifier, type, page code, 16-bit length) and the list", () => {
    expect(hexOf(buildSupportedVpdPages([0x00, 0x80, 0x83, 0xb0], { peripheralDeviceType: 0x0c }))).toBe(h("0c 00 00 04 00 80 83 b0"));
  });

  it("round-trips any list of page codes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 }), (pages) => {
        expect(parseSupportedVpdPages(buildSupportedVpdPages(pages))).toMatchObject({ pageCode: 0, pages, truncated: false });
      }),
    );
  });

  it("returns the pages it has when the allocation length cut the list, saying truncated", () => {
    const cut = parseSupportedVpdPages(buildSupportedVpdPages([0, 0x80, 0x83, 0xb0]).subarray(0, 6));
    expect(cut).toMatchObject({ pages: [0, 0x80], truncated: true });
  });

  it("refuses data that is another page, naming both", () => {
    expect(() => parseSupportedVpdPages(buildUnitSerialNumberPage("x"))).toThrow(/page 0x00.*the data is page 0x80/);
  });
});

describe("VPD page 0x80, unit serial number", () => {
  it("builds the serial number as ASCII after the header", () => {
    expect(hexOf(buildUnitSerialNumberPage("SN1"))).toBe(h("00 80 00 03 53 4e 31"));
  });

  it("strips the padding SPC-4 puts around a right-aligned serial number", () => {
    const padded = buildUnitSerialNumberPage("      beaf11");
    expect(parseUnitSerialNumberPage(padded).serialNumber).toBe("beaf11");
  });

  it("refuses a serial number that is not printable ASCII", () => {
    expect(() => buildUnitSerialNumberPage("a\nb")).toThrow(LocalProtocolError);
  });
});

describe("VPD page 0xB0, block limits", () => {
  it("lays out every field at its SBC-3 offset", () => {
    const page = buildBlockLimitsPage({
      wsnz: true,
      maximumCompareAndWriteLength: 0x80,
      optimalTransferLengthGranularity: 0x0102,
      maximumTransferLength: 0x03040506,
      optimalTransferLength: 0x0708090a,
      maximumPrefetchLength: 0x0b0c0d0e,
      maximumUnmapLbaCount: 0x11121314,
      maximumUnmapBlockDescriptorCount: 0x15161718,
      optimalUnmapGranularity: 0x191a1b1c,
      unmapGranularityAlignmentValid: true,
      unmapGranularityAlignment: 0x1d1e1f20,
      maximumWriteSameLength: 0x2122232425262728n,
    });
    expect(page.length).toBe(64);
    expect(hexOf(page.subarray(0, 44))).toBe(
      h(`00 b0 00 3c 01 80 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e
         11 12 13 14 15 16 17 18 19 1a 1b 1c 9d 1e 1f 20 21 22 23 24 25 26 27 28`),
    );
    expect(page.subarray(44).every((b) => b === 0)).toBe(true);
  });

  it("round-trips every field", () => {
    fc.assert(
      fc.property(
        fc.record({
          wsnz: fc.boolean(),
          maximumCompareAndWriteLength: fc.integer({ min: 0, max: 255 }),
          optimalTransferLengthGranularity: fc.integer({ min: 0, max: 0xffff }),
          maximumTransferLength: u32,
          optimalTransferLength: u32,
          maximumPrefetchLength: u32,
          maximumUnmapLbaCount: u32,
          maximumUnmapBlockDescriptorCount: u32,
          optimalUnmapGranularity: u32,
          unmapGranularityAlignmentValid: fc.constant(true),
          unmapGranularityAlignment: fc.integer({ min: 0, max: 0x7fffffff }),
          maximumWriteSameLength: fc.bigInt({ min: 0n, max: U64_MAX }),
        }),
        (limits) => {
          expect(parseBlockLimitsPage(buildBlockLimitsPage(limits))).toMatchObject({
            ...limits,
            maximumWriteSameLength: u64Result(limits.maximumWriteSameLength),
            pageLength: 0x3c,
            truncated: false,
          });
        },
      ),
    );
  });

  it("gives the SBC-3 fields as undefined on a 16-byte SBC-2 page, and fails below that", () => {
    const full = buildBlockLimitsPage({ maximumTransferLength: 1024 });
    const old = Uint8Array.from(full.subarray(0, 16));
    old[3] = 0x0c;
    const parsed = parseBlockLimitsPage(old);
    expect(parsed).toMatchObject({ maximumTransferLength: 1024, maximumUnmapLbaCount: undefined, maximumWriteSameLength: undefined, truncated: false });
    expect(() => parseBlockLimitsPage(full.subarray(0, 15))).toThrow(RemoteProtocolError);
  });

  it("refuses an alignment without UGAVALID", () => {
    expect(() => buildBlockLimitsPage({ unmapGranularityAlignment: 8 })).toThrow(LocalProtocolError);
  });
});

describe("VPD page 0xB1, block device characteristics", () => {
  it("lays out rotation rate, product type and form factor", () => {
    const page = buildBlockDeviceCharacteristicsPage({ mediumRotationRate: 1, productType: 0, nominalFormFactor: 3, wabereq: 1, wacereq: 2, fuab: true, vbuls: true });
    expect(hexOf(page.subarray(0, 9))).toBe(h("00 b1 00 3c 00 01 00 63 03"));
  });

  it("round-trips and names the rotation rate and form factor", () => {
    const parsed = parseBlockDeviceCharacteristicsPage(buildBlockDeviceCharacteristicsPage({ mediumRotationRate: 7200, nominalFormFactor: 2, zoned: 1 }));
    expect(parsed).toMatchObject({
      mediumRotationRate: 7200,
      mediumRotationRateName: "7200 rpm",
      nominalFormFactor: 2,
      nominalFormFactorName: "3.5 inch",
      zoned: 1,
    });
    expect(rotationRateName(0)).toBe("not reported");
    expect(rotationRateName(1)).toBe("non-rotating medium");
    expect(rotationRateName(0x0400)).toBe("reserved");
    expect(formFactorName(9)).toBe("reserved");
  });
});

describe("VPD page 0xB2, logical block provisioning", () => {
  it("lays out LBPU, LBPWS, LBPWS10, the 3-bit LBPRZ and the provisioning type", () => {
    const page = buildLogicalBlockProvisioningPage({ lbpu: true, lbpws: true, lbpws10: true, lbprz: 1, provisioningType: 2 });
    // The same bytes tgtd returns for a thin-provisioned LUN (fixtures/tgtd-vpd-b2-thin.hex).
    expect(hexOf(page)).toBe(h("00 b2 00 04 00 e4 02 00"));
  });

  it("round-trips every field", () => {
    fc.assert(
      fc.property(
        fc.record({
          thresholdExponent: fc.integer({ min: 0, max: 255 }),
          lbpu: fc.boolean(),
          lbpws: fc.boolean(),
          lbpws10: fc.boolean(),
          lbprz: fc.integer({ min: 0, max: 7 }),
          ancSup: fc.boolean(),
          minimumPercentage: fc.integer({ min: 0, max: 31 }),
          provisioningType: fc.integer({ min: 0, max: 7 }),
          thresholdPercentage: fc.integer({ min: 0, max: 255 }),
        }),
        (f) => {
          const parsed = parseLogicalBlockProvisioningPage(buildLogicalBlockProvisioningPage(f));
          expect(parsed).toMatchObject({ ...f, dp: false, provisioningGroupDescriptor: undefined });
          expect(parsed.provisioningTypeName).toBe(provisioningTypeName(f.provisioningType));
        },
      ),
    );
  });

  it("returns the provisioning group descriptor when DP is set", () => {
    const page = Uint8Array.from([0, 0xb2, 0, 12, 0, 0x01, 0x02, 0, 0x01, 0x03, 0x00, 0x04, 1, 2, 3, 4]);
    expect(Array.from(parseLogicalBlockProvisioningPage(page).provisioningGroupDescriptor ?? [])).toEqual([1, 3, 0, 4, 1, 2, 3, 4]);
  });
});

describe("VPD header", () => {
  it("reads the header of any page and names well-known pages", () => {
    expect(parseVpdHeader(Uint8Array.from([0x20, 0x89, 0x02, 0x00]))).toEqual({
      peripheralQualifier: 1,
      peripheralDeviceType: 0,
      peripheralDeviceTypeName: "direct access block device",
      pageCode: 0x89,
      pageLength: 0x200,
      truncated: true,
    });
    expect(vpdPageName(0xb0)).toBe("Block Limits");
    expect(vpdPageName(0xc5)).toBe("VPD page 0xc5");
    expect(() => parseVpdHeader(Uint8Array.of(0, 0, 0))).toThrow(RemoteProtocolError);
  });
});
