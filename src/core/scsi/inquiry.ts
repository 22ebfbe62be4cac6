/**
 * Standard INQUIRY data (SPC-4, INQUIRY command: standard INQUIRY data format), both directions,
 * and the names of peripheral device types and qualifiers, which VPD pages share.
 */
import { writeU16 } from "../bytes.js";
import { LocalProtocolError } from "../errors.js";
import { checkAscii, decodeAsciiTrimmed, putAsciiPadded } from "./text.js";
import { FieldReader, checkUint, putFlag } from "./wire.js";

/** PERIPHERAL DEVICE TYPE (SPC-4 table of peripheral device types). */
export const PeripheralDeviceType = {
  DirectAccess: 0x00,
  SequentialAccess: 0x01,
  Printer: 0x02,
  Processor: 0x03,
  WriteOnce: 0x04,
  CdDvd: 0x05,
  OpticalMemory: 0x07,
  MediumChanger: 0x08,
  StorageArrayController: 0x0c,
  EnclosureServices: 0x0d,
  SimplifiedDirectAccess: 0x0e,
  OpticalCardReaderWriter: 0x0f,
  BridgeController: 0x10,
  ObjectBasedStorage: 0x11,
  AutomationDriveInterface: 0x12,
  HostManagedZonedBlock: 0x14,
  WellKnownLogicalUnit: 0x1e,
  Unknown: 0x1f,
} as const;

const DEVICE_TYPE_NAMES: Readonly<Partial<Record<number, string>>> = {
  0x00: "direct access block device",
  0x01: "sequential-access device",
  0x02: "printer device",
  0x03: "processor device",
  0x04: "write-once device",
  0x05: "CD/DVD device",
  0x06: "scanner device (obsolete)",
  0x07: "optical memory device",
  0x08: "medium changer device",
  0x09: "communications device (obsolete)",
  0x0c: "storage array controller device",
  0x0d: "enclosure services device",
  0x0e: "simplified direct-access device",
  0x0f: "optical card reader/writer device",
  0x10: "bridge controller commands",
  0x11: "object-based storage device",
  0x12: "automation/drive interface",
  0x13: "security manager device",
  0x14: "host managed zoned block device",
  0x1e: "well known logical unit",
  0x1f: "unknown or no device type",
};

export function peripheralDeviceTypeName(type: number): string {
  return DEVICE_TYPE_NAMES[type] ?? `device type 0x${type.toString(16).padStart(2, "0")}`;
}

/** PERIPHERAL QUALIFIER (SPC-4): whether a device of that type is attached at this LUN. */
export const PeripheralQualifier = {
  /** A device of the type shown is (or may be) connected to this logical unit. */
  Connected: 0,
  /** The device server could support such a device here, but none is connected. */
  NotConnected: 1,
  /** The device server cannot support a device at this logical unit. */
  NotSupported: 3,
} as const;

export function peripheralQualifierName(qualifier: number): string {
  switch (qualifier) {
    case 0:
      return "connected";
    case 1:
      return "not connected";
    case 3:
      return "not supported";
    default:
      return qualifier >= 4 ? "vendor specific" : "reserved";
  }
}

/** The VERSION byte values SPC-4 defines (the standard the device claims). */
const VERSION_NAMES: Readonly<Partial<Record<number, string>>> = {
  0x00: "no standard claimed",
  0x03: "SPC",
  0x04: "SPC-2",
  0x05: "SPC-3",
  0x06: "SPC-4",
  0x07: "SPC-5",
};

export function inquiryVersionName(version: number): string {
  return VERSION_NAMES[version] ?? `version 0x${version.toString(16).padStart(2, "0")}`;
}

export interface InquiryData {
  readonly peripheralQualifier: number;
  readonly peripheralQualifierName: string;
  readonly peripheralDeviceType: number;
  readonly peripheralDeviceTypeName: string;
  /** RMB: removable medium. */
  readonly removable: boolean;
  /** LU_CONG: logical unit conglomerate. */
  readonly luCong: boolean;
  readonly version: number;
  readonly versionName: string;
  readonly normAca: boolean;
  /** HISUP: hierarchical LUN addressing. */
  readonly hiSup: boolean;
  readonly responseDataFormat: number;
  readonly additionalLength: number;
  /** SCCS: embedded storage array controller. */
  readonly sccs: boolean;
  /** ACC: access controls coordinator. */
  readonly acc: boolean;
  /** TPGS: 0 no ALUA, 1 implicit, 2 explicit, 3 both. */
  readonly tpgs: number;
  /** 3PC: third-party copy (EXTENDED COPY) supported. */
  readonly thirdPartyCopy: boolean;
  /** PROTECT: protection information supported. */
  readonly protect: boolean;
  readonly encServ: boolean;
  readonly multiP: boolean;
  readonly cmdQue: boolean;
  /** T10 VENDOR IDENTIFICATION, trailing spaces removed. */
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  /** VERSION DESCRIPTORs present (non-zero), in order. */
  readonly versionDescriptors: readonly number[];
  /** ADDITIONAL LENGTH promised more than was returned (allocation length too small). */
  readonly truncated: boolean;
}

/** The bytes through PRODUCT REVISION LEVEL: every device returns at least these (SPC-4). */
export const STANDARD_INQUIRY_MIN_LENGTH = 36;

/**
 * Parses standard INQUIRY data. The first 36 bytes are required (a RemoteProtocolError otherwise);
 * the version descriptors (bytes 58-73) are read as far as the data and ADDITIONAL LENGTH go.
 */
export function parseInquiryData(bytes: Uint8Array): InquiryData {
  const r = new FieldReader(bytes, "standard INQUIRY data");
  r.need(STANDARD_INQUIRY_MIN_LENGTH, "vendor, product and revision (bytes 8-35)");
  const additionalLength = r.u8(4);
  const end = Math.min(bytes.length, additionalLength + 5);
  const versionDescriptors: number[] = [];
  for (let off = 58; off + 2 <= end && off < 74; off += 2) {
    const descriptor = r.u16(off);
    if (descriptor !== 0) versionDescriptors.push(descriptor);
  }
  const pq = r.bits(0, 5, 3);
  const pdt = r.bits(0, 0, 5);
  const version = r.u8(2);
  return {
    peripheralQualifier: pq,
    peripheralQualifierName: peripheralQualifierName(pq),
    peripheralDeviceType: pdt,
    peripheralDeviceTypeName: peripheralDeviceTypeName(pdt),
    removable: r.bit(1, 7),
    luCong: r.bit(1, 6),
    version,
    versionName: inquiryVersionName(version),
    normAca: r.bit(3, 5),
    hiSup: r.bit(3, 4),
    responseDataFormat: r.bits(3, 0, 4),
    additionalLength,
    sccs: r.bit(5, 7),
    acc: r.bit(5, 6),
    tpgs: r.bits(5, 4, 2),
    thirdPartyCopy: r.bit(5, 3),
    protect: r.bit(5, 0),
    encServ: r.bit(6, 6),
    multiP: r.bit(6, 4),
    cmdQue: r.bit(7, 1),
    vendor: decodeAsciiTrimmed(r.slice(8, 8)),
    product: decodeAsciiTrimmed(r.slice(16, 16)),
    revision: decodeAsciiTrimmed(r.slice(32, 4)),
    versionDescriptors,
    truncated: additionalLength + 5 > bytes.length,
  };
}

export interface InquiryDataInput {
  readonly peripheralQualifier?: number;
  readonly peripheralDeviceType?: number;
  readonly removable?: boolean;
  /** VERSION; 0x06 (SPC-4) unless given. */
  readonly version?: number;
  readonly normAca?: boolean;
  /** HISUP; true unless given (SAM-5 hierarchical LUNs, as REPORT LUNS returns). */
  readonly hiSup?: boolean;
  readonly sccs?: boolean;
  readonly acc?: boolean;
  readonly tpgs?: number;
  readonly thirdPartyCopy?: boolean;
  readonly protect?: boolean;
  readonly encServ?: boolean;
  readonly multiP?: boolean;
  /** CMDQUE; true unless given: an iSCSI target takes many tasks at once (CmdSN window). */
  readonly cmdQue?: boolean;
  /** Printable ASCII, at most 8 / 16 / 4 characters; space-padded. */
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  /** At most 8 VERSION DESCRIPTORs. */
  readonly versionDescriptors?: readonly number[];
}

/**
 * Builds standard INQUIRY data: 36 bytes, or 74 with version descriptors (bytes 58-73). RESPONSE
 * DATA FORMAT is 2, the only value SPC-4 allows.
 */
export function buildInquiryData(d: InquiryDataInput): Uint8Array {
  checkAscii("T10 VENDOR IDENTIFICATION", d.vendor, 8);
  checkAscii("PRODUCT IDENTIFICATION", d.product, 16);
  checkAscii("PRODUCT REVISION LEVEL", d.revision, 4);
  const descriptors = d.versionDescriptors ?? [];
  if (descriptors.length > 8) throw new LocalProtocolError(`${descriptors.length} version descriptors; at most 8 fit`);
  const out = new Uint8Array(descriptors.length > 0 ? 74 : STANDARD_INQUIRY_MIN_LENGTH);
  out[0] =
    (checkUint("PERIPHERAL QUALIFIER", d.peripheralQualifier ?? 0, 7) << 5) |
    checkUint("PERIPHERAL DEVICE TYPE", d.peripheralDeviceType ?? 0, 0x1f);
  putFlag(out, 1, 7, d.removable);
  out[2] = checkUint("VERSION", d.version ?? 0x06, 0xff);
  out[3] = 0x02;
  putFlag(out, 3, 5, d.normAca);
  putFlag(out, 3, 4, d.hiSup ?? true);
  out[4] = out.length - 5;
  out[5] = checkUint("TPGS", d.tpgs ?? 0, 3) << 4;
  putFlag(out, 5, 7, d.sccs);
  putFlag(out, 5, 6, d.acc);
  putFlag(out, 5, 3, d.thirdPartyCopy);
  putFlag(out, 5, 0, d.protect);
  putFlag(out, 6, 6, d.encServ);
  putFlag(out, 6, 4, d.multiP);
  putFlag(out, 7, 1, d.cmdQue ?? true);
  putAsciiPadded(out, 8, 8, d.vendor);
  putAsciiPadded(out, 16, 16, d.product);
  putAsciiPadded(out, 32, 4, d.revision);
  descriptors.forEach((v, i) => writeU16(out, 58 + 2 * i, checkUint("VERSION DESCRIPTOR", v, 0xffff)));
  return out;
}
