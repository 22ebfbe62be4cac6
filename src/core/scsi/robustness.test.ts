/**
 * Every parser in this folder, fed random bytes, shaped random bytes, and every truncation of
 * valid data (real tgtd replies and our builders' output): it returns a result or throws an
 * IscsiError, never anything else; and it reads nothing past the view it was given (a view into a
 * larger buffer full of other bytes parses exactly like a copy).
 */
import { readFileSync, readdirSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IscsiError } from "../errors.js";
import { fromHex } from "../hex.js";
import { buildReadCapacity10Data, buildReadCapacity16Data, parseReadCapacity10Data, parseReadCapacity16Data } from "./capacity.js";
import { buildRead16Cdb, buildWriteSame16Cdb } from "./cdb.js";
import { buildInquiryData, parseInquiryData } from "./inquiry.js";
import {
  ModePageCode,
  decodeCachingPage,
  decodeControlPage,
  decodeInformationalExceptionsPage,
  encodeCachingPage,
  encodeControlPage,
  encodeInformationalExceptionsPage,
} from "./mode-pages.js";
import type { ModePage } from "./mode-pages.js";
import { buildModeSense10Data, buildModeSense6Data, parseModeSense10Data, parseModeSense6Data } from "./mode-sense.js";
import { parseCdb } from "./parse-cdb.js";
import {
  buildPrOutParameterList,
  buildReadFullStatusData,
  buildReadKeysData,
  buildReadReservationData,
  buildReportCapabilitiesData,
  parsePrOutParameterList,
  parseReadFullStatusData,
  parseReadKeysData,
  parseReadReservationData,
  parseReportCapabilitiesData,
} from "./persistent-reservation.js";
import { buildReportLunsData, parseReportLunsData } from "./report-luns.js";
import { buildDescriptorSense, buildFixedSense, decodeSense, describeSense } from "./sense.js";
import { buildUnmapParameterList, parseUnmapParameterList } from "./unmap.js";
import {
  buildBlockDeviceCharacteristicsPage,
  buildBlockLimitsPage,
  buildLogicalBlockProvisioningPage,
  buildSupportedVpdPages,
  buildUnitSerialNumberPage,
  parseBlockDeviceCharacteristicsPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
  parseVpdHeader,
} from "./vpd.js";
import { buildDeviceIdentificationPage, parseDeviceIdentificationPage } from "./vpd-device-id.js";

const FIXTURE_DIR = new URL("./fixtures/", import.meta.url);
const fixtures = new Map(
  readdirSync(FIXTURE_DIR)
    .filter((f) => f.startsWith("tgtd-"))
    .map((f) => {
      const hex = readFileSync(new URL(f, FIXTURE_DIR), "utf8")
        .split("\n")
        .filter((l) => !l.startsWith("#"))
        .join("")
        .trim();
      return [f.replace(/\.hex$/, ""), fromHex(f, hex)] as const;
    }),
);
const fx = (prefix: string): Uint8Array[] => [...fixtures].filter(([name]) => name.startsWith(prefix)).map(([, b]) => b);

function decodePages(pages: readonly ModePage[]): void {
  for (const page of pages) {
    if (page.subpage !== 0) continue;
    if (page.pageCode === ModePageCode.Caching) decodeCachingPage(page);
    if (page.pageCode === ModePageCode.Control) decodeControlPage(page);
    if (page.pageCode === ModePageCode.InformationalExceptionsControl) decodeInformationalExceptionsPage(page);
  }
}

interface Subject {
  readonly name: string;
  readonly parse: (bytes: Uint8Array) => unknown;
  readonly samples: readonly Uint8Array[];
  /** Makes random bytes look enough like this data to get past the first checks. */
  readonly shape?: (bytes: Uint8Array) => Uint8Array;
}

const vpdShape = (page: number) => (b: Uint8Array) => {
  const out = Uint8Array.from([b[0] ?? 0, page, 0, (b[3] ?? 0) % (b.length + 8), ...b.subarray(4)]);
  return out;
};

const pages = [encodeCachingPage({ wce: true, dra: true }), encodeControlPage({ dSense: true }), encodeInformationalExceptionsPage({ mrie: 4 })];

const subjects: Subject[] = [
  { name: "standard INQUIRY", parse: parseInquiryData, samples: [...fx("tgtd-inquiry"), buildInquiryData({ vendor: "V", product: "P", revision: "R", versionDescriptors: [1, 2, 3] })] },
  { name: "VPD header", parse: parseVpdHeader, samples: fx("tgtd-vpd") },
  { name: "VPD 0x00", parse: parseSupportedVpdPages, samples: [...fx("tgtd-vpd-00"), buildSupportedVpdPages([0, 0x80])], shape: vpdShape(0x00) },
  { name: "VPD 0x80", parse: parseUnitSerialNumberPage, samples: [...fx("tgtd-vpd-80"), buildUnitSerialNumberPage("  SN  ")], shape: vpdShape(0x80) },
  {
    name: "VPD 0x83",
    parse: parseDeviceIdentificationPage,
    samples: [
      ...fx("tgtd-vpd-83"),
      buildDeviceIdentificationPage([
        { value: { kind: "scsi-name-string", name: "iqn.x" } },
        { value: { kind: "uuid", uuid: "00112233-4455-6677-8899-aabbccddeeff" } },
        { value: { kind: "relative-target-port", port: 1 } },
      ]),
    ],
    shape: vpdShape(0x83),
  },
  { name: "VPD 0xB0", parse: parseBlockLimitsPage, samples: [...fx("tgtd-vpd-b0"), buildBlockLimitsPage({ maximumWriteSameLength: 2n ** 63n })], shape: vpdShape(0xb0) },
  { name: "VPD 0xB1", parse: parseBlockDeviceCharacteristicsPage, samples: [...fx("tgtd-vpd-b1"), buildBlockDeviceCharacteristicsPage({ mediumRotationRate: 1 })], shape: vpdShape(0xb1) },
  { name: "VPD 0xB2", parse: parseLogicalBlockProvisioningPage, samples: [...fx("tgtd-vpd-b2"), buildLogicalBlockProvisioningPage({ lbpu: true })], shape: vpdShape(0xb2) },
  { name: "READ CAPACITY(10)", parse: parseReadCapacity10Data, samples: [...fx("tgtd-read-capacity10"), buildReadCapacity10Data({ lastLba: 1, blockLength: 512 })] },
  { name: "READ CAPACITY(16)", parse: parseReadCapacity16Data, samples: [...fx("tgtd-read-capacity16").filter((b) => b.length >= 16), buildReadCapacity16Data({ lastLba: 2n ** 64n - 1n, blockLength: 4096 })] },
  { name: "REPORT LUNS", parse: parseReportLunsData, samples: [...fx("tgtd-report-luns"), buildReportLunsData([0, 300, 16383])] },
  {
    name: "MODE SENSE(6)",
    parse: (b) => decodePages(parseModeSense6Data(b).pages),
    samples: [...fx("tgtd-mode-sense6"), buildModeSense6Data({ blockDescriptors: [{ blocks: 5, blockLength: 512 }], pages })],
  },
  {
    name: "MODE SENSE(10)",
    parse: (b) => decodePages(parseModeSense10Data(b).pages),
    samples: [buildModeSense10Data({ longLba: true, blockDescriptors: [{ blocks: 5n, blockLength: 512 }], pages }), buildModeSense10Data({ pages })],
    shape: (b) => Uint8Array.from([0, Math.min(b.length, 255), ...b.subarray(2)]),
  },
  { name: "READ KEYS", parse: parseReadKeysData, samples: [...fx("tgtd-prin-read-keys"), buildReadKeysData({ generation: 1, keys: [1n, 2n] })] },
  { name: "READ RESERVATION", parse: parseReadReservationData, samples: [...fx("tgtd-prin-read-reservation"), buildReadReservationData({ generation: 1 })] },
  { name: "REPORT CAPABILITIES", parse: parseReportCapabilitiesData, samples: [...fx("tgtd-prin-report-capabilities"), buildReportCapabilitiesData({ supportedTypes: [1, 8] })] },
  {
    name: "READ FULL STATUS",
    parse: parseReadFullStatusData,
    samples: [buildReadFullStatusData({ generation: 1, registrations: [{ key: 1n, relativeTargetPortId: 1, transportId: new Uint8Array(24) }, { key: 2n, relativeTargetPortId: 2, transportId: new Uint8Array(0) }] })],
  },
  { name: "PERSISTENT RESERVE OUT parameter list", parse: parsePrOutParameterList, samples: [buildPrOutParameterList({ reservationKey: 1n, serviceActionReservationKey: 2n, aptpl: true })] },
  { name: "UNMAP parameter list", parse: parseUnmapParameterList, samples: [buildUnmapParameterList([{ lba: 1, blocks: 2 }, { lba: 2n ** 60n, blocks: 3 }])] },
  {
    name: "sense data",
    parse: (b) => describeSense(decodeSense(b)),
    samples: [
      ...fx("tgtd-sense"),
      buildFixedSense({ key: 5, asc: 0x24, ascq: 0, information: 7, senseKeySpecific: { kind: "field-pointer", commandData: true, bitPointer: 3, fieldPointer: 2 } }),
      buildDescriptorSense({ key: 3, asc: 0x11, ascq: 0, information: 2n ** 60n, commandSpecific: 5, fieldReplaceableUnit: 2, ili: true, senseKeySpecific: { kind: "actual-retry-count", count: 3 } }),
    ],
    shape: (b) => Uint8Array.from([0x70 + ((b[0] ?? 0) & 3), ...b.subarray(1)]),
  },
  { name: "CDB", parse: (b) => (b.length === 0 ? undefined : parseCdb(b)), samples: [buildRead16Cdb({ lba: 5, blocks: 1 }), buildWriteSame16Cdb({ lba: 0, blocks: 1, unmap: true })] },
];

type Outcome = { readonly ok: unknown } | { readonly error: string };

function outcome(parse: (b: Uint8Array) => unknown, bytes: Uint8Array): Outcome {
  try {
    return { ok: parse(bytes) };
  } catch (e) {
    // Only the typed errors of errors.ts may escape a parser (no RangeError, no TypeError).
    expect(e).toBeInstanceOf(IscsiError);
    return { error: (e as Error).message };
  }
}

/** Parses `bytes` as a view into a larger buffer of other bytes, and as a copy: same outcome. */
function checkBounded(parse: (b: Uint8Array) => unknown, bytes: Uint8Array, poison: number): void {
  const big = new Uint8Array(bytes.length + 64).fill(poison);
  big.set(bytes, 16);
  const view = big.subarray(16, 16 + bytes.length);
  expect(outcome(parse, view)).toEqual(outcome(parse, Uint8Array.from(bytes)));
}

describe.each(subjects)("the $name parser", ({ parse, samples, shape }) => {
  it("has valid samples that parse", () => {
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(outcome(parse, s)).toHaveProperty("ok");
  });

  it("survives every truncation of valid data, reading nothing past the end", () => {
    for (const sample of samples) {
      for (let n = 0; n <= sample.length; n++) checkBounded(parse, sample.subarray(0, n), 0xff);
    }
  });

  it("survives random bytes, reading nothing past the end", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 255 }), (bytes, poison) => {
        checkBounded(parse, bytes, poison);
        if (shape !== undefined) checkBounded(parse, shape(bytes), poison);
      }),
      { numRuns: 1500 },
    );
  });

  it("survives single-byte corruption of valid data", () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (which, value, at) => {
        const sample = Uint8Array.from(samples[which % samples.length]!);
        if (sample.length > 0) sample[at % sample.length] = value;
        checkBounded(parse, sample, 0xa5);
      }),
      { numRuns: 1500 },
    );
  });
});
