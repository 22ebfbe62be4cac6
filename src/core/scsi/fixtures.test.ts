/**
 * Parsers against real data: responses tgtd 1.0.85 returned to libiscsi's tools over iSCSI, and
 * the CDBs and parameter lists libiscsi sent (see the headers of fixtures/*.hex for how they were
 * captured). The expected values are what libiscsi's iscsi-inq, iscsi-readcapacity16, iscsi-ls and
 * iscsi-test-cu printed for the same bytes.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../errors.js";
import {
  buildInquiryCdb,
  buildModeSense6Cdb,
  buildPersistentReserveInCdb,
  buildPersistentReserveOutCdb,
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildReportLunsCdb,
  buildTestUnitReadyCdb,
  buildUnmapCdb,
  buildWrite10Cdb,
} from "./cdb.js";
import { fromHex, hexOf } from "../hex.js";
import { buildReadCapacity10Data, buildReadCapacity16Data, parseReadCapacity10Data, parseReadCapacity16Data } from "./capacity.js";
import { parseInquiryData } from "./inquiry.js";
import { ModePageCode, decodeCachingPage, decodeControlPage, decodeInformationalExceptionsPage } from "./mode-pages.js";
import { encodeControlPage } from "./mode-pages.js";
import { buildModeSense6Data, findModePage, parseModeSense6Data } from "./mode-sense.js";
import { parseCdb } from "./parse-cdb.js";
import {
  PrInServiceAction,
  PrOutServiceAction,
  PrType,
  buildPrOutParameterList,
  buildReadKeysData,
  buildReadReservationData,
  buildReportCapabilitiesData,
  parsePrOutParameterList,
  parseReadKeysData,
  parseReadReservationData,
  parseReportCapabilitiesData,
} from "./persistent-reservation.js";
import { buildReportLunsData, parseReportLunsData } from "./report-luns.js";
import { buildFixedSense, decodeSense, describeSense } from "./sense.js";
import { buildUnmapParameterList, parseUnmapParameterList } from "./unmap.js";
import {
  buildBlockLimitsPage,
  buildLogicalBlockProvisioningPage,
  buildSupportedVpdPages,
  parseBlockDeviceCharacteristicsPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
} from "./vpd.js";
import { buildDeviceIdentificationPage, parseDeviceIdentificationPage } from "./vpd-device-id.js";

function lines(name: string): string[] {
  const text = readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}
/** A fixture holding one piece of data, folded over several lines. */
const fixture = (name: string): Uint8Array => fromHex(name, lines(`${name}.hex`).join(""));

describe("tgtd's standard INQUIRY data", () => {
  it("gives the fields iscsi-inq printed for the disk LUN", () => {
    expect(parseInquiryData(fixture("tgtd-inquiry-standard"))).toEqual({
      peripheralQualifier: 0,
      peripheralQualifierName: "connected",
      peripheralDeviceType: 0,
      peripheralDeviceTypeName: "direct access block device",
      removable: false,
      luCong: false,
      version: 5,
      versionName: "SPC-3",
      normAca: false,
      hiSup: true,
      responseDataFormat: 2,
      additionalLength: 61,
      sccs: false,
      acc: false,
      tpgs: 0,
      thirdPartyCopy: false,
      protect: false,
      encServ: false,
      multiP: false,
      cmdQue: true,
      vendor: "IET",
      product: "VIRTUAL-DISK",
      revision: "0001",
      versionDescriptors: [0x04c0, 0x0960, 0x0300],
      truncated: false,
    });
  });

  it("says truncated for the controller LUN's reply cut at 64 bytes, keeping what arrived", () => {
    const inquiry = parseInquiryData(fixture("tgtd-inquiry-controller"));
    expect(inquiry).toMatchObject({ peripheralDeviceType: 0x0c, product: "Controller", truncated: true });
    expect(inquiry.peripheralDeviceTypeName).toBe("storage array controller device");
    expect(inquiry.versionDescriptors).toEqual([0x04c0, 0x0960, 0x01fb]);
  });
});

describe("tgtd's VPD pages", () => {
  it("lists the supported pages iscsi-inq printed, and the builder gives the same bytes", () => {
    const page = parseSupportedVpdPages(fixture("tgtd-vpd-00"));
    expect(page.pages).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    expect(hexOf(buildSupportedVpdPages(page.pages))).toBe(hexOf(fixture("tgtd-vpd-00")));
  });

  it("gives the unit serial number without its padding", () => {
    expect(parseUnitSerialNumberPage(fixture("tgtd-vpd-80")).serialNumber).toBe("beaf11");
  });

  it("decodes the three designators of page 0x83 and rebuilds the page byte for byte", () => {
    const page = parseDeviceIdentificationPage(fixture("tgtd-vpd-83"));
    // iscsi-inq listed these in reverse (libiscsi prepends to its list): NAA, NAA, T10 vendor ID.
    expect(page.designators.map((d) => [d.codeSet, d.piv, d.association, d.designatorType])).toEqual([
      [2, false, 0, 1],
      [1, false, 0, 3],
      [1, false, 0, 3],
    ]);
    expect(page.designators.map((d) => d.value)).toEqual([
      { kind: "t10-vendor-id", vendorId: "IET", vendorSpecific: "00010001" },
      { kind: "naa", naa: 3, hex: "3000000100000001" },
      { kind: "naa", naa: 6, hex: "60000000000000000e00000000010001" },
    ]);
    const t10 = page.designators[0]?.value;
    // iscsi-inq printed "Designator:[IET     00010001]"; the builder space-pads the vendor id the same way.
    expect(t10?.kind === "t10-vendor-id" && `${t10.vendorId.padEnd(8)}${t10.vendorSpecific}`).toBe("IET     00010001");
    const rebuilt = buildDeviceIdentificationPage(page.designators.map((d) => ({ association: d.association, value: d.value as never })));
    // tgtd pads its T10 designator with 20 NULs; compare the rest.
    expect(hexOf(rebuilt.subarray(4 + 20))).toBe(hexOf(fixture("tgtd-vpd-83").subarray(4 + 40)));
  });

  it("gives the block limits iscsi-inq printed, with and without thin provisioning", () => {
    const plain = parseBlockLimitsPage(fixture("tgtd-vpd-b0"));
    expect(plain).toMatchObject({
      wsnz: false,
      maximumCompareAndWriteLength: 128,
      optimalTransferLengthGranularity: 0,
      maximumTransferLength: 0,
      optimalTransferLength: 0,
      maximumPrefetchLength: 0,
      maximumUnmapLbaCount: 0,
      maximumUnmapBlockDescriptorCount: 0,
      optimalUnmapGranularity: 0,
      unmapGranularityAlignmentValid: false,
      unmapGranularityAlignment: 0,
      maximumWriteSameLength: 0,
    });
    expect(hexOf(buildBlockLimitsPage({ maximumCompareAndWriteLength: 128 }))).toBe(hexOf(fixture("tgtd-vpd-b0")));
    expect(parseBlockLimitsPage(fixture("tgtd-vpd-b0-thin"))).toMatchObject({ maximumUnmapLbaCount: 4294967295, maximumUnmapBlockDescriptorCount: 4294967295 });
  });

  it("gives the medium rotation rate iscsi-inq printed (0, not reported)", () => {
    expect(parseBlockDeviceCharacteristicsPage(fixture("tgtd-vpd-b1"))).toMatchObject({ pageLength: 0x40, mediumRotationRate: 0, mediumRotationRateName: "not reported", nominalFormFactor: 0 });
  });

  it("gives the provisioning bits iscsi-inq printed, and the builder gives the same bytes", () => {
    expect(parseLogicalBlockProvisioningPage(fixture("tgtd-vpd-b2"))).toMatchObject({ lbpu: false, lbpws: false, lbprz: 0, provisioningType: 0 });
    const thin = parseLogicalBlockProvisioningPage(fixture("tgtd-vpd-b2-thin"));
    expect(thin).toMatchObject({ thresholdExponent: 0, lbpu: true, lbpws: true, lbpws10: true, lbprz: 1, ancSup: false, dp: false, provisioningType: 2, provisioningTypeName: "thin provisioned" });
    expect(hexOf(buildLogicalBlockProvisioningPage(thin))).toBe(hexOf(fixture("tgtd-vpd-b2-thin")));
  });
});

describe("tgtd's READ CAPACITY data", () => {
  it("gives the fields iscsi-readcapacity16 printed for the 64 MiB LUN", () => {
    const cap = parseReadCapacity16Data(fixture("tgtd-read-capacity16"));
    expect(cap).toEqual({
      lastLba: 131071,
      blockLength: 512,
      blocks: 131072,
      protectionType: 0,
      protectionEnabled: false,
      protectionIntervalExponent: 0,
      logicalBlocksPerPhysicalBlockExponent: 3,
      lbpme: false,
      lbprz: false,
      lowestAlignedLba: 0,
    });
    expect(Number(cap.blocks) * cap.blockLength).toBe(67108864);
    expect(hexOf(buildReadCapacity16Data(cap))).toBe(hexOf(fixture("tgtd-read-capacity16")));
  });

  it("gives LBPME and LBPRZ for the thin LUN, as iscsi-readcapacity16 printed", () => {
    const cap = parseReadCapacity16Data(fixture("tgtd-read-capacity16-thin"));
    expect(cap).toMatchObject({ lastLba: 65535, lbpme: true, lbprz: true });
    expect(Number(cap.blocks) * cap.blockLength).toBe(33554432);
  });

  it("refuses the 15 bytes tgtd returned for allocation length 15", () => {
    expect(() => parseReadCapacity16Data(fixture("tgtd-read-capacity16-cut15"))).toThrow(RemoteProtocolError);
  });

  it("gives READ CAPACITY(10)'s last LBA and block length, and the builder gives the same bytes", () => {
    expect(parseReadCapacity10Data(fixture("tgtd-read-capacity10"))).toEqual({ lastLba: 131071, blockLength: 512, useReadCapacity16: false });
    expect(hexOf(buildReadCapacity10Data({ lastLba: 131071, blockLength: 512 }))).toBe(hexOf(fixture("tgtd-read-capacity10")));
  });
});

describe("tgtd's REPORT LUNS data", () => {
  it("lists LUNs 0, 1 and 2 as iscsi-ls printed, and the builder gives the same bytes", () => {
    expect(parseReportLunsData(fixture("tgtd-report-luns"))).toMatchObject({ lunListLength: 24, luns: [0, 1, 2], truncated: false });
    expect(hexOf(buildReportLunsData([0, 1, 2]))).toBe(hexOf(fixture("tgtd-report-luns")));
  });
});

describe("tgtd's MODE SENSE(6) data", () => {
  it("holds the header, one block descriptor and six pages", () => {
    const data = parseModeSense6Data(fixture("tgtd-mode-sense6-all"));
    expect(data).toMatchObject({ modeDataLength: 105, mediumType: 0, writeProtect: false, dpoFua: true, blockDescriptors: [{ blocks: 0, blockLength: 512 }], truncated: false });
    expect(data.pages.map((p) => [p.pageCode, p.subpage])).toEqual([[0x00, 0], [0x02, 0], [0x08, 0], [0x0a, 0], [0x0a, 1], [0x1c, 0]]);
  });

  it("decodes the caching, control and informational exceptions pages", () => {
    const data = parseModeSense6Data(fixture("tgtd-mode-sense6-all"));
    const caching = findModePage(data, ModePageCode.Caching);
    const control = findModePage(data, ModePageCode.Control);
    const ie = findModePage(data, ModePageCode.InformationalExceptionsControl);
    expect(caching && decodeCachingPage(caching)).toMatchObject({ wce: true, rcd: false, disc: true, numberOfCacheSegments: 20 });
    // iscsi-test-cu's ModeSense6.Control checks: D_SENSE clear, SWP clear, BUSY TIMEOUT PERIOD 0 ("undefined").
    expect(control && decodeControlPage(control)).toMatchObject({ dSense: false, swp: false, busyTimeoutPeriod: 0, queueAlgorithmModifier: 1, gltsd: true, extendedSelfTestCompletionTime: 0x200 });
    expect(ie && decodeInformationalExceptionsPage(ie)).toMatchObject({ dexcpt: true, mrie: 0 });
  });

  it("builds the control-page reply byte for byte", () => {
    const expected = fixture("tgtd-mode-sense6-control");
    const control = findModePage(parseModeSense6Data(expected), ModePageCode.Control);
    expect(control).toBeDefined();
    const built = buildModeSense6Data({ dpoFua: true, blockDescriptors: [{ blocks: 0, blockLength: 512 }], pages: [encodeControlPage(decodeControlPage(control!))] });
    expect(hexOf(built)).toBe(hexOf(expected));
  });
});

describe("tgtd's PERSISTENT RESERVE IN data", () => {
  it("gives the two registered keys, and the builder gives the same bytes", () => {
    const keys = parseReadKeysData(fixture("tgtd-prin-read-keys"));
    expect(keys).toEqual({ generation: 12, keys: [0x62484662n, 0x477ad343n], truncated: false });
    expect(hexOf(buildReadKeysData(keys))).toBe(hexOf(fixture("tgtd-prin-read-keys")));
  });

  it("says truncated when the 8-byte allocation length left out the key", () => {
    expect(parseReadKeysData(fixture("tgtd-prin-read-keys-cut"))).toEqual({ generation: 7, keys: [], truncated: true });
  });

  it("gives the Write Exclusive reservation iscsi-test-cu verified, and no reservation after release", () => {
    const held = parseReadReservationData(fixture("tgtd-prin-read-reservation"));
    expect(held).toEqual({ generation: 1, reservation: { key: 0x1f2d40a1n, scope: 0, type: 1, typeName: "Write Exclusive" }, truncated: false });
    expect(hexOf(buildReadReservationData({ generation: 1, reservation: { key: 0x1f2d40a1n, type: PrType.WriteExclusive } }))).toBe(hexOf(fixture("tgtd-prin-read-reservation")));
    expect(parseReadReservationData(fixture("tgtd-prin-read-reservation-none"))).toEqual({ generation: 4, reservation: undefined, truncated: false });
  });

  it("gives the six reservation types tgtd supports", () => {
    const caps = parseReportCapabilitiesData(fixture("tgtd-prin-report-capabilities"));
    expect(caps).toMatchObject({ typeMaskValid: true, persistThroughPowerLossCapable: false, allTargetPortsCapable: false, supportedTypes: [1, 3, 5, 6, 7, 8] });
    expect(hexOf(buildReportCapabilitiesData(caps))).toBe(hexOf(fixture("tgtd-prin-report-capabilities")));
  });
});

describe("tgtd's sense data", () => {
  it("decodes the unit attention after login, and the builder gives the same bytes", () => {
    const sense = decodeSense(fixture("tgtd-sense-power-on"));
    expect(describeSense(sense)).toBe("UNIT ATTENTION: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (0x29/0x00)");
    expect(hexOf(buildFixedSense({ key: 6, asc: 0x29, ascq: 0 }))).toBe(hexOf(fixture("tgtd-sense-power-on")));
  });

  it("decodes READ(16) beyond the end as libiscsi did: ILLEGAL_REQUEST LBA_OUT_OF_RANGE", () => {
    const sense = decodeSense(fixture("tgtd-sense-lba-out-of-range"));
    expect(sense).toMatchObject({ format: "fixed", current: true, key: 5, asc: 0x21, ascq: 0, information: undefined });
    expect(describeSense(sense)).toBe("ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)");
  });

  it("decodes INVALID FIELD IN CDB", () => {
    expect(describeSense(decodeSense(fixture("tgtd-sense-invalid-field")))).toBe("ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)");
  });
});

describe("libiscsi's CDBs", () => {
  const cdbs = lines("libiscsi-cdbs.hex").map((l) => fromHex("libiscsi CDB", l));
  const expected: [ReturnType<typeof parseCdb>["kind"], Record<string, unknown>, Uint8Array][] = [
    ["test-unit-ready", {}, buildTestUnitReadyCdb()],
    ["inquiry", { evpd: false, page: 0, allocationLength: 64 }, buildInquiryCdb({ allocationLength: 64 })],
    ["inquiry", { evpd: true, page: 0x80, allocationLength: 64 }, buildInquiryCdb({ vpdPage: 0x80, allocationLength: 64 })],
    ["mode-sense", { variant: 6, page: 0x3f, allocationLength: 255 }, buildModeSense6Cdb({ page: 0x3f, allocationLength: 255 })],
    ["read-capacity-10", {}, buildReadCapacity10Cdb()],
    ["read-capacity-16", { allocationLength: 32 }, buildReadCapacity16Cdb()],
    ["report-luns", { selectReport: 0, allocationLength: 32 }, buildReportLunsCdb({ allocationLength: 32 })],
    ["read", { variant: 10, lba: 0, blocks: 1 }, buildRead10Cdb({ lba: 0, blocks: 1 })],
    ["write", { variant: 10, lba: 0xffc8, blocks: 0x39 }, buildWrite10Cdb({ lba: 0xffc8, blocks: 0x39 })],
    ["read", { variant: 16, lba: 0xff01, blocks: 256 }, buildRead16Cdb({ lba: 0xff01, blocks: 256 })],
    ["read", { variant: 16, lba: 2n ** 64n - 1n, blocks: 1 }, buildRead16Cdb({ lba: 2n ** 64n - 1n, blocks: 1 })],
    ["unmap", { parameterListLength: 24 }, buildUnmapCdb({ parameterListLength: 24 })],
    ["persistent-reserve-in", { serviceAction: 0, allocationLength: 0x4000 }, buildPersistentReserveInCdb({ serviceAction: PrInServiceAction.ReadKeys, allocationLength: 0x4000 })],
    ["persistent-reserve-in", { serviceAction: 2 }, buildPersistentReserveInCdb({ serviceAction: PrInServiceAction.ReportCapabilities, allocationLength: 0x4000 })],
    ["persistent-reserve-out", { serviceAction: 6, parameterListLength: 24 }, buildPersistentReserveOutCdb({ serviceAction: PrOutServiceAction.RegisterAndIgnoreExistingKey })],
    ["persistent-reserve-out", { serviceAction: 4, type: 3 }, buildPersistentReserveOutCdb({ serviceAction: PrOutServiceAction.Preempt, type: PrType.ExclusiveAccess })],
    ["persistent-reserve-out", { serviceAction: 1, type: 1 }, buildPersistentReserveOutCdb({ serviceAction: PrOutServiceAction.Reserve, type: PrType.WriteExclusive })],
  ];

  it("has one expectation per captured CDB", () => {
    expect(cdbs).toHaveLength(expected.length);
  });

  it.each(expected.map((e, i) => [i, ...e] as const))("parses CDB %i as %s, and our builder makes the same bytes", (i, kind, fields, built) => {
    const cdb = cdbs[i]!;
    expect(parseCdb(cdb)).toMatchObject({ kind, ...fields });
    expect(hexOf(built)).toBe(hexOf(cdb));
  });

  it("parses the padded 16-byte form the iSCSI header carries the same way", () => {
    for (const cdb of cdbs) {
      const padded = new Uint8Array(16);
      padded.set(cdb);
      expect(parseCdb(padded)).toEqual(parseCdb(cdb));
    }
  });
});

describe("libiscsi's Data-Out parameter lists", () => {
  const [unmap, register, preempt] = lines("libiscsi-data-out.hex").map((l) => fromHex("libiscsi data", l));

  it("parses the UNMAP list, and the builder makes the same bytes", () => {
    expect(parseUnmapParameterList(unmap!)).toEqual({ kind: "unmap-parameters", descriptors: [{ lba: 0, blocks: 1 }] });
    expect(hexOf(buildUnmapParameterList([{ lba: 0, blocks: 1 }]))).toBe(hexOf(unmap!));
  });

  it("parses the PERSISTENT RESERVE OUT lists, and the builder makes the same bytes", () => {
    expect(parsePrOutParameterList(register!)).toMatchObject({ reservationKey: 0n, serviceActionReservationKey: 0x62484662n, aptpl: false });
    expect(parsePrOutParameterList(preempt!)).toMatchObject({ reservationKey: 0x477ad343n, serviceActionReservationKey: 0x62484662n });
    expect(hexOf(buildPrOutParameterList({ reservationKey: 0x477ad343n, serviceActionReservationKey: 0x62484662n }))).toBe(hexOf(preempt!));
  });
});
