/**
 * Every SCSI parser in src/core/scsi: response data (INQUIRY, VPD pages, READ CAPACITY, REPORT
 * LUNS, MODE SENSE and the mode pages in it, PERSISTENT RESERVE IN), parameter lists the target
 * side parses (PERSISTENT RESERVE OUT, UNMAP), CDBs, LUN fields and sense data. Each parser is a
 * target of its own, seeded with tgtd's and libiscsi's captures (src/core/scsi/fixtures).
 */
import fc from "fast-check";
import { parseReadCapacity10Data, parseReadCapacity16Data } from "../../src/core/scsi/capacity.js";
import { parseInquiryData } from "../../src/core/scsi/inquiry.js";
import { decodeCachingPage, decodeControlPage, decodeInformationalExceptionsPage, decodeModePages, ModePageCode } from "../../src/core/scsi/mode-pages.js";
import { findModePage, parseModeSense10Data, parseModeSense6Data } from "../../src/core/scsi/mode-sense.js";
import { parseCdb } from "../../src/core/scsi/parse-cdb.js";
import {
  parsePrOutParameterList,
  parseReadFullStatusData,
  parseReadKeysData,
  parseReadReservationData,
  parseReportCapabilitiesData,
} from "../../src/core/scsi/persistent-reservation.js";
import { decodeLun, parseReportLunsData } from "../../src/core/scsi/report-luns.js";
import { decodeSense, describeSense, toSenseSummary } from "../../src/core/scsi/sense.js";
import { parseUnmapParameterList } from "../../src/core/scsi/unmap.js";
import { parseDeviceIdentificationPage } from "../../src/core/scsi/vpd-device-id.js";
import {
  parseBlockDeviceCharacteristicsPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
  parseVpdHeader,
} from "../../src/core/scsi/vpd.js";
import { corpus, once, seedsIn } from "../corpus.js";
import { type FuzzTarget, proportional } from "../target.js";

const FIXTURES = "src/core/scsi/fixtures";

/**
 * Data whose length field agrees with its length (or nearly): the layouts SCSI uses, so a parser
 * gets past "too short" into its fields. `at`/`width` locate the field, `bias` is what it does not count.
 */
const LAYOUTS: ReadonlyArray<{ at: number; width: number; bias: number }> = [
  { at: 2, width: 2, bias: 4 }, // VPD pages
  { at: 0, width: 4, bias: 8 }, // REPORT LUNS, UNMAP descriptors
  { at: 4, width: 1, bias: 5 }, // standard INQUIRY
  { at: 0, width: 2, bias: 2 }, // MODE SENSE(10), UNMAP
  { at: 0, width: 1, bias: 1 }, // MODE SENSE(6)
  { at: 4, width: 4, bias: 8 }, // PERSISTENT RESERVE IN
  { at: 7, width: 1, bias: 8 }, // fixed sense
  { at: 2, width: 2, bias: 0 }, // PR capabilities
];

export const arbScsiData: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...LAYOUTS), fc.integer({ min: -4, max: 4 }), fc.boolean())
  .map(([bytes, layout, slack, consistent]) => {
    if (!consistent || bytes.length < layout.at + layout.width) return bytes;
    let value = Math.max(0, bytes.length - layout.bias + slack);
    for (let i = layout.width - 1; i >= 0; i--) {
      bytes[layout.at + i] = value & 0xff;
      value = Math.floor(value / 256);
    }
    return bytes;
  });

const fixtures = once(() => seedsIn(FIXTURES));
const captured = once(() => corpus("scsi"));

function parserTarget(name: string, parse: (bytes: Uint8Array) => unknown, seeds: () => readonly Uint8Array[] = () => [...fixtures(), ...captured()]): FuzzTarget {
  return {
    name: `scsi.${name}`,
    description: `${name} of arbitrary bytes`,
    arbitrary: arbScsiData,
    seeds,
    allocationLimit: (input) => proportional(input, 16),
    run(input) {
      parse(input);
    },
  };
}

function modePages(bytes: Uint8Array): void {
  const { pages } = decodeModePages(bytes, "fuzz mode pages");
  for (const page of pages) {
    if (page.subpage !== 0) continue;
    if (page.pageCode === ModePageCode.Caching) decodeCachingPage(page);
    else if (page.pageCode === ModePageCode.Control) decodeControlPage(page);
    else if (page.pageCode === ModePageCode.InformationalExceptionsControl) decodeInformationalExceptionsPage(page);
  }
}

function modeSense(parse: (b: Uint8Array) => { pages: readonly unknown[] }) {
  return (bytes: Uint8Array) => {
    const data = parse(bytes);
    for (const code of [ModePageCode.Caching, ModePageCode.Control, ModePageCode.InformationalExceptionsControl]) findModePage(data as Parameters<typeof findModePage>[0], code);
  };
}

const senseSeeds = once(() => [...seedsIn(FIXTURES, (n) => n.includes("sense")), ...corpus("sense")]);

export const scsiTargets: readonly FuzzTarget[] = [
  parserTarget("parseInquiryData", parseInquiryData),
  parserTarget("parseVpdHeader", parseVpdHeader),
  parserTarget("parseSupportedVpdPages", parseSupportedVpdPages),
  parserTarget("parseUnitSerialNumberPage", parseUnitSerialNumberPage),
  parserTarget("parseDeviceIdentificationPage", parseDeviceIdentificationPage),
  parserTarget("parseBlockLimitsPage", parseBlockLimitsPage),
  parserTarget("parseBlockDeviceCharacteristicsPage", parseBlockDeviceCharacteristicsPage),
  parserTarget("parseLogicalBlockProvisioningPage", parseLogicalBlockProvisioningPage),
  parserTarget("parseReadCapacity10Data", parseReadCapacity10Data),
  parserTarget("parseReadCapacity16Data", parseReadCapacity16Data),
  parserTarget("parseReportLunsData", parseReportLunsData),
  parserTarget("decodeLun", (b) => decodeLun(b.subarray(0, 8))),
  parserTarget("parseModeSense6Data", modeSense(parseModeSense6Data)),
  parserTarget("parseModeSense10Data", modeSense(parseModeSense10Data)),
  parserTarget("decodeModePages", modePages),
  parserTarget("parseReadKeysData", parseReadKeysData),
  parserTarget("parseReadReservationData", parseReadReservationData),
  parserTarget("parseReportCapabilitiesData", parseReportCapabilitiesData),
  parserTarget("parseReadFullStatusData", parseReadFullStatusData),
  parserTarget("parsePrOutParameterList", parsePrOutParameterList),
  parserTarget("parseUnmapParameterList", parseUnmapParameterList),
  // An empty CDB is the caller's mistake (a SCSI Command PDU always carries 16 bytes or more).
  parserTarget("parseCdb", (b) => (b.length > 0 ? parseCdb(b) : undefined)),
  parserTarget(
    "decodeSense",
    (bytes) => {
      const sense = decodeSense(bytes);
      describeSense(sense);
      toSenseSummary(sense);
    },
    senseSeeds,
  ),
];
