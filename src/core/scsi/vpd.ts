/**
 * Vital product data pages (SPC-4 VPD parameters; SBC-3 block device VPD pages), both directions:
 * 0x00 supported pages, 0x80 unit serial number, 0xB0 block limits, 0xB1 block device
 * characteristics, 0xB2 logical block provisioning. 0x83 lives in vpd-device-id.ts.
 *
 * Rule for every page: the 4-byte header and the page's fixed fields are required (a
 * RemoteProtocolError otherwise). A field a later revision added is `undefined` when the page is
 * shorter (older device) or the data was cut; `truncated` says PAGE LENGTH promised more than the
 * data holds.
 */
import { writeU16, writeU32, writeU64 } from "../bytes.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { peripheralDeviceTypeName } from "./inquiry.js";
import { checkAscii, decodeAsciiStripped } from "./text.js";
import type { U64 } from "./wire.js";
import { FieldReader, U32_MAX, checkU64, checkUint, putFlag } from "./wire.js";

export const VpdPage = {
  SupportedPages: 0x00,
  UnitSerialNumber: 0x80,
  DeviceIdentification: 0x83,
  BlockLimits: 0xb0,
  BlockDeviceCharacteristics: 0xb1,
  LogicalBlockProvisioning: 0xb2,
} as const;

const VPD_NAMES: Readonly<Partial<Record<number, string>>> = {
  0x00: "Supported VPD Pages",
  0x80: "Unit Serial Number",
  0x83: "Device Identification",
  0x86: "Extended INQUIRY Data",
  0x87: "Mode Page Policy",
  0x88: "SCSI Ports",
  0x89: "ATA Information",
  0x8f: "Third-party Copy",
  0xb0: "Block Limits",
  0xb1: "Block Device Characteristics",
  0xb2: "Logical Block Provisioning",
  0xb3: "Referrals",
};

export function vpdPageName(page: number): string {
  return VPD_NAMES[page] ?? `VPD page 0x${page.toString(16).padStart(2, "0")}`;
}

/** The header every VPD page starts with. */
export interface VpdHeader {
  readonly peripheralQualifier: number;
  readonly peripheralDeviceType: number;
  readonly peripheralDeviceTypeName: string;
  readonly pageCode: number;
  readonly pageLength: number;
  /** PAGE LENGTH promised more bytes than the data holds. */
  readonly truncated: boolean;
}

/** What every page builder takes besides the page's own fields. */
export interface VpdHeaderInput {
  readonly peripheralQualifier?: number;
  readonly peripheralDeviceType?: number;
}

/** Parses the 4-byte header of any VPD page (to dispatch on `pageCode`). */
export function parseVpdHeader(bytes: Uint8Array): VpdHeader {
  const r = new FieldReader(bytes, "VPD page");
  r.need(4, "the VPD page header");
  const pdt = r.bits(0, 0, 5);
  const pageLength = r.u16(2);
  return {
    peripheralQualifier: r.bits(0, 5, 3),
    peripheralDeviceType: pdt,
    peripheralDeviceTypeName: peripheralDeviceTypeName(pdt),
    pageCode: r.u8(1),
    pageLength,
    truncated: pageLength + 4 > bytes.length,
  };
}

/**
 * Internal: checks the header names `page` and that the page's fixed part (`required` bytes from
 * the page start) is present; returns the header, a reader, and the end of the usable bytes.
 */
export function openVpdPage(
  bytes: Uint8Array,
  page: number,
  required: number,
): { header: VpdHeader; r: FieldReader; end: number } {
  const what = `VPD page 0x${page.toString(16).padStart(2, "0")} (${vpdPageName(page)})`;
  const header = parseVpdHeader(bytes);
  if (header.pageCode !== page) {
    throw new RemoteProtocolError(`${what}: the data is page 0x${header.pageCode.toString(16).padStart(2, "0")}`);
  }
  const r = new FieldReader(bytes, what);
  const end = Math.min(bytes.length, header.pageLength + 4);
  if (end < required) {
    throw new RemoteProtocolError(
      `${what}: ${end} usable bytes (PAGE LENGTH ${header.pageLength}, ${bytes.length} returned), needs ${required}`,
    );
  }
  return { header, r, end };
}

/** Internal: frames a page body with the VPD header. */
export function buildVpdPage(page: number, body: Uint8Array, h: VpdHeaderInput): Uint8Array {
  checkUint(`PAGE LENGTH of VPD page 0x${page.toString(16)}`, body.length, 0xffff);
  const out = new Uint8Array(4 + body.length);
  out[0] =
    (checkUint("PERIPHERAL QUALIFIER", h.peripheralQualifier ?? 0, 7) << 5) |
    checkUint("PERIPHERAL DEVICE TYPE", h.peripheralDeviceType ?? 0, 0x1f);
  out[1] = page;
  writeU16(out, 2, body.length);
  out.set(body, 4);
  return out;
}

// ---------------------------------------------------------------- 0x00 Supported VPD Pages

export interface SupportedVpdPages extends VpdHeader {
  readonly pages: readonly number[];
}

export function parseSupportedVpdPages(bytes: Uint8Array): SupportedVpdPages {
  const { header, r, end } = openVpdPage(bytes, VpdPage.SupportedPages, 4);
  const pages: number[] = [];
  for (let off = 4; off < end; off++) pages.push(r.u8(off));
  return { ...header, pages };
}

export function buildSupportedVpdPages(pages: readonly number[], h: VpdHeaderInput = {}): Uint8Array {
  return buildVpdPage(VpdPage.SupportedPages, Uint8Array.from(pages, (p) => checkUint("page code", p, 0xff)), h);
}

// ---------------------------------------------------------------- 0x80 Unit Serial Number

export interface UnitSerialNumberPage extends VpdHeader {
  /** PRODUCT SERIAL NUMBER with the padding (leading and trailing spaces, NULs) removed. */
  readonly serialNumber: string;
}

export function parseUnitSerialNumberPage(bytes: Uint8Array): UnitSerialNumberPage {
  const { header, r, end } = openVpdPage(bytes, VpdPage.UnitSerialNumber, 4);
  return { ...header, serialNumber: decodeAsciiStripped(r.sliceClamped(4, end)) };
}

export function buildUnitSerialNumberPage(serialNumber: string, h: VpdHeaderInput = {}): Uint8Array {
  checkAscii("PRODUCT SERIAL NUMBER", serialNumber, 0xffff);
  return buildVpdPage(VpdPage.UnitSerialNumber, Uint8Array.from(serialNumber, (c) => c.charCodeAt(0)), h);
}

// ---------------------------------------------------------------- 0xB0 Block Limits (SBC-3)

export interface BlockLimits {
  /** WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused. */
  readonly wsnz: boolean;
  /** In logical blocks; 0: COMPARE AND WRITE not supported. */
  readonly maximumCompareAndWriteLength: number;
  readonly optimalTransferLengthGranularity: number;
  /** In logical blocks; 0: no limit reported. */
  readonly maximumTransferLength: number;
  readonly optimalTransferLength: number;
  /** SBC-3 fields (bytes 16-43); undefined on a shorter page. */
  readonly maximumPrefetchLength: number | undefined;
  readonly maximumUnmapLbaCount: number | undefined;
  readonly maximumUnmapBlockDescriptorCount: number | undefined;
  readonly optimalUnmapGranularity: number | undefined;
  /** UGAVALID: the alignment below is valid. */
  readonly unmapGranularityAlignmentValid: boolean | undefined;
  readonly unmapGranularityAlignment: number | undefined;
  readonly maximumWriteSameLength: U64 | undefined;
}

export interface BlockLimitsPage extends VpdHeader, BlockLimits {}

/** SBC-3: the block limits page's PAGE LENGTH. */
const BLOCK_LIMITS_PAGE_LENGTH = 0x3c;

export function parseBlockLimitsPage(bytes: Uint8Array): BlockLimitsPage {
  const { header, r, end } = openVpdPage(bytes, VpdPage.BlockLimits, 16);
  const u32At = (off: number): number | undefined => (off + 4 <= end ? r.u32(off) : undefined);
  const ugaPresent = 36 <= end;
  return {
    ...header,
    wsnz: r.bit(4, 0),
    maximumCompareAndWriteLength: r.u8(5),
    optimalTransferLengthGranularity: r.u16(6),
    maximumTransferLength: r.u32(8),
    optimalTransferLength: r.u32(12),
    maximumPrefetchLength: u32At(16),
    maximumUnmapLbaCount: u32At(20),
    maximumUnmapBlockDescriptorCount: u32At(24),
    optimalUnmapGranularity: u32At(28),
    unmapGranularityAlignmentValid: ugaPresent ? r.bit(32, 7) : undefined,
    unmapGranularityAlignment: ugaPresent ? r.u32(32) & 0x7fff_ffff : undefined,
    maximumWriteSameLength: 44 <= end ? r.u64(36) : undefined,
  };
}

export function buildBlockLimitsPage(f: Partial<BlockLimits>, h: VpdHeaderInput = {}): Uint8Array {
  const body = new Uint8Array(BLOCK_LIMITS_PAGE_LENGTH);
  // body[i] is page byte i + 4.
  putFlag(body, 0, 0, f.wsnz);
  body[1] = checkUint("MAXIMUM COMPARE AND WRITE LENGTH", f.maximumCompareAndWriteLength ?? 0, 0xff);
  writeU16(body, 2, checkUint("OPTIMAL TRANSFER LENGTH GRANULARITY", f.optimalTransferLengthGranularity ?? 0, 0xffff));
  writeU32(body, 4, checkUint("MAXIMUM TRANSFER LENGTH", f.maximumTransferLength ?? 0, U32_MAX));
  writeU32(body, 8, checkUint("OPTIMAL TRANSFER LENGTH", f.optimalTransferLength ?? 0, U32_MAX));
  writeU32(body, 12, checkUint("MAXIMUM PREFETCH LENGTH", f.maximumPrefetchLength ?? 0, U32_MAX));
  writeU32(body, 16, checkUint("MAXIMUM UNMAP LBA COUNT", f.maximumUnmapLbaCount ?? 0, U32_MAX));
  writeU32(body, 20, checkUint("MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT", f.maximumUnmapBlockDescriptorCount ?? 0, U32_MAX));
  writeU32(body, 24, checkUint("OPTIMAL UNMAP GRANULARITY", f.optimalUnmapGranularity ?? 0, U32_MAX));
  const alignment = checkUint("UNMAP GRANULARITY ALIGNMENT", f.unmapGranularityAlignment ?? 0, 0x7fff_ffff);
  if (alignment !== 0 && f.unmapGranularityAlignmentValid !== true) {
    throw new LocalProtocolError("UNMAP GRANULARITY ALIGNMENT given without UGAVALID");
  }
  writeU32(body, 28, alignment);
  putFlag(body, 28, 7, f.unmapGranularityAlignmentValid);
  writeU64(body, 32, checkU64("MAXIMUM WRITE SAME LENGTH", f.maximumWriteSameLength ?? 0));
  return buildVpdPage(VpdPage.BlockLimits, body, h);
}

// ---------------------------------------------------------------- 0xB1 Block Device Characteristics (SBC-3)

const FORM_FACTORS: readonly string[] = [
  "not reported",
  "5.25 inch",
  "3.5 inch",
  "2.5 inch",
  "1.8 inch",
  "less than 1.8 inch",
];

export function formFactorName(code: number): string {
  return FORM_FACTORS[code] ?? "reserved";
}

/** MEDIUM ROTATION RATE: 0 not reported, 1 non-rotating (solid state), 0x0401-0xFFFE rpm. */
export function rotationRateName(rate: number): string {
  if (rate === 0) return "not reported";
  if (rate === 1) return "non-rotating medium";
  if (rate >= 0x0401 && rate <= 0xfffe) return `${rate} rpm`;
  return "reserved";
}

export interface BlockDeviceCharacteristics {
  readonly mediumRotationRate: number;
  readonly productType: number;
  readonly wabereq: number;
  readonly wacereq: number;
  /** NOMINAL FORM FACTOR: see `formFactorName`. */
  readonly nominalFormFactor: number;
  /** SBC-4 byte 8 fields; undefined on a shorter page. */
  readonly zoned: number | undefined;
  readonly fuab: boolean | undefined;
  readonly vbuls: boolean | undefined;
}

export interface BlockDeviceCharacteristicsPage extends VpdHeader, BlockDeviceCharacteristics {
  readonly mediumRotationRateName: string;
  readonly nominalFormFactorName: string;
}

export function parseBlockDeviceCharacteristicsPage(bytes: Uint8Array): BlockDeviceCharacteristicsPage {
  const { header, r, end } = openVpdPage(bytes, VpdPage.BlockDeviceCharacteristics, 8);
  const rate = r.u16(4);
  const formFactor = r.bits(7, 0, 4);
  const has8 = 9 <= end;
  return {
    ...header,
    mediumRotationRate: rate,
    mediumRotationRateName: rotationRateName(rate),
    productType: r.u8(6),
    wabereq: r.bits(7, 6, 2),
    wacereq: r.bits(7, 4, 2),
    nominalFormFactor: formFactor,
    nominalFormFactorName: formFactorName(formFactor),
    zoned: has8 ? r.bits(8, 4, 2) : undefined,
    fuab: has8 ? r.bit(8, 1) : undefined,
    vbuls: has8 ? r.bit(8, 0) : undefined,
  };
}

export function buildBlockDeviceCharacteristicsPage(
  f: Partial<BlockDeviceCharacteristics>,
  h: VpdHeaderInput = {},
): Uint8Array {
  const body = new Uint8Array(0x3c);
  writeU16(body, 0, checkUint("MEDIUM ROTATION RATE", f.mediumRotationRate ?? 0, 0xffff));
  body[2] = checkUint("PRODUCT TYPE", f.productType ?? 0, 0xff);
  body[3] =
    (checkUint("WABEREQ", f.wabereq ?? 0, 3) << 6) |
    (checkUint("WACEREQ", f.wacereq ?? 0, 3) << 4) |
    checkUint("NOMINAL FORM FACTOR", f.nominalFormFactor ?? 0, 15);
  body[4] = checkUint("ZONED", f.zoned ?? 0, 3) << 4;
  putFlag(body, 4, 1, f.fuab);
  putFlag(body, 4, 0, f.vbuls);
  return buildVpdPage(VpdPage.BlockDeviceCharacteristics, body, h);
}

// ---------------------------------------------------------------- 0xB2 Logical Block Provisioning (SBC-3)

export const ProvisioningType = {
  /** Fully provisioned, or not reported. */
  Full: 0,
  ResourceProvisioned: 1,
  ThinProvisioned: 2,
} as const;

export function provisioningTypeName(type: number): string {
  switch (type) {
    case 0:
      return "fully provisioned or not reported";
    case 1:
      return "resource provisioned";
    case 2:
      return "thin provisioned";
    default:
      return "reserved";
  }
}

export interface LogicalBlockProvisioning {
  readonly thresholdExponent: number;
  /** LBPU: UNMAP supported. */
  readonly lbpu: boolean;
  /** LBPWS: WRITE SAME(16) with UNMAP supported. */
  readonly lbpws: boolean;
  /** LBPWS10: WRITE SAME(10) with UNMAP supported. */
  readonly lbpws10: boolean;
  /**
   * LBPRZ, 3 bits (SBC-4; SBC-3 had the low bit alone): 0 unmapped blocks read as anything,
   * 1 they read as zeros, 2 they read as the provisioning initialization pattern.
   */
  readonly lbprz: number;
  /** ANC_SUP: ANCHOR supported. */
  readonly ancSup: boolean;
  /** DP: a provisioning group descriptor follows. */
  readonly dp: boolean;
  readonly minimumPercentage: number;
  readonly provisioningType: number;
  readonly thresholdPercentage: number;
}

export interface LogicalBlockProvisioningPage extends VpdHeader, LogicalBlockProvisioning {
  readonly provisioningTypeName: string;
  /** The provisioning group descriptor (a designation descriptor) when DP is set, as received. */
  readonly provisioningGroupDescriptor: Uint8Array | undefined;
}

export function parseLogicalBlockProvisioningPage(bytes: Uint8Array): LogicalBlockProvisioningPage {
  const { header, r, end } = openVpdPage(bytes, VpdPage.LogicalBlockProvisioning, 8);
  const dp = r.bit(5, 0);
  const type = r.bits(6, 0, 3);
  return {
    ...header,
    thresholdExponent: r.u8(4),
    lbpu: r.bit(5, 7),
    lbpws: r.bit(5, 6),
    lbpws10: r.bit(5, 5),
    lbprz: r.bits(5, 2, 3),
    ancSup: r.bit(5, 1),
    dp,
    minimumPercentage: r.bits(6, 3, 5),
    provisioningType: type,
    provisioningTypeName: provisioningTypeName(type),
    thresholdPercentage: r.u8(7),
    provisioningGroupDescriptor: dp && end > 8 ? r.sliceClamped(8, end) : undefined,
  };
}

export function buildLogicalBlockProvisioningPage(
  f: Partial<LogicalBlockProvisioning>,
  h: VpdHeaderInput = {},
): Uint8Array {
  if (f.dp === true) {
    throw new LocalProtocolError("DP (a provisioning group descriptor) is not supported by this builder");
  }
  const body = new Uint8Array(4);
  body[0] = checkUint("THRESHOLD EXPONENT", f.thresholdExponent ?? 0, 0xff);
  body[1] = checkUint("LBPRZ", f.lbprz ?? 0, 7) << 2;
  putFlag(body, 1, 7, f.lbpu);
  putFlag(body, 1, 6, f.lbpws);
  putFlag(body, 1, 5, f.lbpws10);
  putFlag(body, 1, 1, f.ancSup);
  body[2] =
    (checkUint("MINIMUM PERCENTAGE", f.minimumPercentage ?? 0, 31) << 3) |
    checkUint("PROVISIONING TYPE", f.provisioningType ?? 0, 7);
  body[3] = checkUint("THRESHOLD PERCENTAGE", f.thresholdPercentage ?? 0, 0xff);
  return buildVpdPage(VpdPage.LogicalBlockProvisioning, body, h);
}
