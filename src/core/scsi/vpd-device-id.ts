/**
 * VPD page 0x83, Device Identification (SPC-4): a list of designation descriptors, each naming the
 * logical unit, the target port or the target device. Both directions: the initiator decodes the
 * designators it needs to tell LUNs apart (NAA, EUI-64, T10 vendor ID, SCSI name string), the
 * target builds them.
 */
import { writeU16 } from "../bytes.js";
import { LocalProtocolError } from "../errors.js";
import { fromHex, hexOf } from "../hex.js";
import { decodeUtf8Lenient, encodeUtf8 } from "../utf8.js";
import { checkAscii, decodeAsciiTrimmed, putAsciiPadded } from "./text.js";
import type { VpdHeader, VpdHeaderInput } from "./vpd.js";
import { VpdPage, buildVpdPage, openVpdPage } from "./vpd.js";
import { FieldReader, checkUint } from "./wire.js";

export const CodeSet = { Binary: 1, Ascii: 2, Utf8: 3 } as const;

export const Association = { LogicalUnit: 0, TargetPort: 1, TargetDevice: 2 } as const;

export const DesignatorType = {
  VendorSpecific: 0x0,
  T10VendorId: 0x1,
  Eui64: 0x2,
  Naa: 0x3,
  RelativeTargetPort: 0x4,
  TargetPortGroup: 0x5,
  LogicalUnitGroup: 0x6,
  Md5LogicalUnitIdentifier: 0x7,
  ScsiNameString: 0x8,
  ProtocolSpecificPortIdentifier: 0x9,
  Uuid: 0xa,
} as const;

/** PROTOCOL IDENTIFIER values (SPC-4 table of protocol identifiers). */
export const ProtocolIdentifier = {
  FibreChannel: 0x0,
  ParallelScsi: 0x1,
  Ssa: 0x2,
  Ieee1394: 0x3,
  Srp: 0x4,
  Iscsi: 0x5,
  Sas: 0x6,
  Adt: 0x7,
  Ata: 0x8,
  Uas: 0x9,
  Sop: 0xa,
  None: 0xf,
} as const;

const CODE_SET_NAMES: readonly string[] = ["reserved", "binary", "ASCII", "UTF-8"];
const ASSOCIATION_NAMES: readonly string[] = ["logical unit", "target port", "target device", "reserved"];
const DESIGNATOR_TYPE_NAMES: readonly string[] = [
  "vendor specific",
  "T10 vendor ID",
  "EUI-64",
  "NAA",
  "relative target port identifier",
  "target port group",
  "logical unit group",
  "MD5 logical unit identifier",
  "SCSI name string",
  "protocol specific port identifier",
  "UUID",
];
const PROTOCOL_NAMES: readonly string[] = [
  "Fibre Channel",
  "parallel SCSI",
  "SSA",
  "IEEE 1394",
  "SCSI RDMA",
  "iSCSI",
  "SAS",
  "ADT",
  "ATA/ATAPI",
  "UAS",
  "SOP",
];

export function codeSetName(code: number): string {
  return CODE_SET_NAMES[code] ?? "reserved";
}
export function associationName(association: number): string {
  return ASSOCIATION_NAMES[association] ?? "reserved";
}
export function designatorTypeName(type: number): string {
  return DESIGNATOR_TYPE_NAMES[type] ?? "reserved";
}
export function protocolIdentifierName(protocol: number): string {
  return protocol === 0xf ? "no specific protocol" : (PROTOCOL_NAMES[protocol] ?? "reserved");
}

/** A designator's value, decoded by type. */
export type DesignatorValue =
  | { readonly kind: "naa"; readonly naa: number; readonly hex: string }
  | { readonly kind: "t10-vendor-id"; readonly vendorId: string; readonly vendorSpecific: string }
  | { readonly kind: "eui-64"; readonly hex: string }
  | { readonly kind: "scsi-name-string"; readonly name: string }
  | { readonly kind: "relative-target-port"; readonly port: number }
  | { readonly kind: "target-port-group"; readonly group: number }
  | { readonly kind: "logical-unit-group"; readonly group: number }
  | { readonly kind: "md5"; readonly hex: string }
  | { readonly kind: "uuid"; readonly uuid: string }
  | { readonly kind: "protocol-specific-port"; readonly hex: string }
  | { readonly kind: "vendor-specific"; readonly hex: string; readonly text: string | undefined }
  /** A reserved designator type, or a designator whose length or code set its type forbids. */
  | { readonly kind: "undecoded"; readonly hex: string; readonly reason: string };

export interface Designator {
  /** Meaningful when `piv` is set and the association is a target port or device. */
  readonly protocolIdentifier: number;
  readonly protocolIdentifierName: string;
  /** PIV: the protocol identifier is valid. */
  readonly piv: boolean;
  readonly codeSet: number;
  readonly codeSetName: string;
  readonly association: number;
  readonly associationName: string;
  readonly designatorType: number;
  readonly designatorTypeName: string;
  /** The DESIGNATOR field as received (a view). */
  readonly bytes: Uint8Array;
  readonly value: DesignatorValue;
}

export interface DeviceIdentificationPage extends VpdHeader {
  readonly designators: readonly Designator[];
}

function formatUuid(b: Uint8Array): string {
  const h = hexOf(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function decodeValue(type: number, codeSet: number, d: Uint8Array): DesignatorValue {
  const undecoded = (reason: string): DesignatorValue => ({ kind: "undecoded", hex: hexOf(d), reason });
  const r = new FieldReader(d, "designator");
  switch (type) {
    case DesignatorType.VendorSpecific:
      return {
        kind: "vendor-specific",
        hex: hexOf(d),
        text: codeSet === CodeSet.Ascii ? decodeAsciiTrimmed(d) : codeSet === CodeSet.Utf8 ? decodeUtf8Lenient(d) : undefined,
      };
    case DesignatorType.T10VendorId:
      return {
        kind: "t10-vendor-id",
        vendorId: decodeAsciiTrimmed(d.subarray(0, 8)),
        vendorSpecific: decodeAsciiTrimmed(d.subarray(8)),
      };
    case DesignatorType.Eui64:
      // SPC-4: EUI-64 (8 bytes), EUI-64 based 12-byte and 16-byte designators.
      return d.length === 8 || d.length === 12 || d.length === 16
        ? { kind: "eui-64", hex: hexOf(d) }
        : undecoded(`EUI-64 designator of ${d.length} bytes`);
    case DesignatorType.Naa: {
      if (d.length === 0) return undecoded("empty NAA designator");
      const naa = r.bits(0, 4, 4);
      // SPC-4: NAA 2, 3 and 5 designators are 8 bytes, NAA 6 is 16.
      const expected = naa === 6 ? 16 : 8;
      return d.length === expected ? { kind: "naa", naa, hex: hexOf(d) } : undecoded(`NAA ${naa} designator of ${d.length} bytes`);
    }
    case DesignatorType.RelativeTargetPort:
      return d.length === 4 ? { kind: "relative-target-port", port: r.u16(2) } : undecoded(`relative target port of ${d.length} bytes`);
    case DesignatorType.TargetPortGroup:
      return d.length === 4 ? { kind: "target-port-group", group: r.u16(2) } : undecoded(`target port group of ${d.length} bytes`);
    case DesignatorType.LogicalUnitGroup:
      return d.length === 4 ? { kind: "logical-unit-group", group: r.u16(2) } : undecoded(`logical unit group of ${d.length} bytes`);
    case DesignatorType.Md5LogicalUnitIdentifier:
      return d.length === 16 ? { kind: "md5", hex: hexOf(d) } : undecoded(`MD5 identifier of ${d.length} bytes`);
    case DesignatorType.ScsiNameString: {
      let end = d.length;
      while (end > 0 && d[end - 1] === 0) end--;
      return { kind: "scsi-name-string", name: decodeUtf8Lenient(d.subarray(0, end)) };
    }
    case DesignatorType.ProtocolSpecificPortIdentifier:
      return { kind: "protocol-specific-port", hex: hexOf(d) };
    case DesignatorType.Uuid:
      // SPC-4: byte 0 holds the UUID type (1: RFC 4122), bytes 2-17 the UUID.
      return d.length === 18 ? { kind: "uuid", uuid: formatUuid(d.subarray(2)) } : undecoded(`UUID designator of ${d.length} bytes`);
    default:
      return undecoded(`reserved designator type 0x${type.toString(16)}`);
  }
}

/**
 * Parses VPD page 0x83. A descriptor whose DESIGNATOR LENGTH runs past the page ends the list and
 * sets `truncated`.
 */
export function parseDeviceIdentificationPage(bytes: Uint8Array): DeviceIdentificationPage {
  const { header, r, end } = openVpdPage(bytes, VpdPage.DeviceIdentification, 4);
  const designators: Designator[] = [];
  let truncated = header.truncated;
  let off = 4;
  while (off < end) {
    if (off + 4 > end || off + 4 + r.u8(off + 3) > end) {
      truncated = true;
      break;
    }
    const length = r.u8(off + 3);
    const protocol = r.bits(off, 4, 4);
    const codeSet = r.bits(off, 0, 4);
    const association = r.bits(off + 1, 4, 2);
    const type = r.bits(off + 1, 0, 4);
    const d = r.slice(off + 4, length);
    designators.push({
      protocolIdentifier: protocol,
      protocolIdentifierName: protocolIdentifierName(protocol),
      piv: r.bit(off + 1, 7),
      codeSet,
      codeSetName: codeSetName(codeSet),
      association,
      associationName: associationName(association),
      designatorType: type,
      designatorTypeName: designatorTypeName(type),
      bytes: d,
      value: decodeValue(type, codeSet, d),
    });
    off += 4 + length;
  }
  return { ...header, truncated, designators };
}

// ---------------------------------------------------------------- builder

/** What the builder takes for a designator's value (the parsed `DesignatorValue`s fit it too). */
export type DesignatorValueInput =
  | { readonly kind: "naa"; readonly hex: string }
  | { readonly kind: "t10-vendor-id"; readonly vendorId: string; readonly vendorSpecific: string }
  | { readonly kind: "eui-64"; readonly hex: string }
  | { readonly kind: "scsi-name-string"; readonly name: string }
  | { readonly kind: "relative-target-port"; readonly port: number }
  | { readonly kind: "target-port-group"; readonly group: number }
  | { readonly kind: "logical-unit-group"; readonly group: number }
  | { readonly kind: "md5"; readonly hex: string }
  | { readonly kind: "uuid"; readonly uuid: string }
  | { readonly kind: "protocol-specific-port"; readonly hex: string }
  | { readonly kind: "vendor-specific"; readonly hex: string };

export interface DesignatorInput {
  /** Association; logical unit (0) unless given. */
  readonly association?: number;
  /** With `piv`, the protocol the designator belongs to (e.g. ProtocolIdentifier.Iscsi). */
  readonly protocolIdentifier?: number;
  readonly piv?: boolean;
  readonly value: DesignatorValueInput;
}

function u16Designator(value: number, what: string): Uint8Array {
  const d = new Uint8Array(4);
  writeU16(d, 2, checkUint(what, value, 0xffff));
  return d;
}

function encodeValue(v: DesignatorValueInput): { type: number; codeSet: number; bytes: Uint8Array } {
  switch (v.kind) {
    case "naa": {
      const bytes = fromHex("NAA designator", v.hex);
      const naa = (bytes[0] ?? 0) >> 4;
      if (bytes.length !== (naa === 6 ? 16 : 8)) {
        throw new LocalProtocolError(`NAA ${naa} designator must be ${naa === 6 ? 16 : 8} bytes (got ${bytes.length})`);
      }
      return { type: DesignatorType.Naa, codeSet: CodeSet.Binary, bytes };
    }
    case "t10-vendor-id": {
      checkAscii("T10 VENDOR IDENTIFICATION", v.vendorId, 8);
      checkAscii("vendor specific identifier", v.vendorSpecific, 247);
      const bytes = new Uint8Array(8 + v.vendorSpecific.length);
      putAsciiPadded(bytes, 0, 8, v.vendorId);
      putAsciiPadded(bytes, 8, v.vendorSpecific.length, v.vendorSpecific);
      return { type: DesignatorType.T10VendorId, codeSet: CodeSet.Ascii, bytes };
    }
    case "eui-64": {
      const bytes = fromHex("EUI-64 designator", v.hex);
      if (![8, 12, 16].includes(bytes.length)) throw new LocalProtocolError("EUI-64 designator must be 8, 12 or 16 bytes");
      return { type: DesignatorType.Eui64, codeSet: CodeSet.Binary, bytes };
    }
    case "scsi-name-string": {
      // SPC-4: null-terminated, and padded with NULs to a multiple of four bytes.
      const text = encodeUtf8(v.name);
      const bytes = new Uint8Array((text.length + 1 + 3) & ~3);
      bytes.set(text);
      if (bytes.length > 255) throw new LocalProtocolError(`SCSI name string of ${bytes.length} bytes; at most 255 fit`);
      return { type: DesignatorType.ScsiNameString, codeSet: CodeSet.Utf8, bytes };
    }
    case "relative-target-port":
      return { type: DesignatorType.RelativeTargetPort, codeSet: CodeSet.Binary, bytes: u16Designator(v.port, "RELATIVE TARGET PORT IDENTIFIER") };
    case "target-port-group":
      return { type: DesignatorType.TargetPortGroup, codeSet: CodeSet.Binary, bytes: u16Designator(v.group, "TARGET PORT GROUP") };
    case "logical-unit-group":
      return { type: DesignatorType.LogicalUnitGroup, codeSet: CodeSet.Binary, bytes: u16Designator(v.group, "LOGICAL UNIT GROUP") };
    case "md5": {
      const bytes = fromHex("MD5 logical unit identifier", v.hex);
      if (bytes.length !== 16) throw new LocalProtocolError("MD5 logical unit identifier must be 16 bytes");
      return { type: DesignatorType.Md5LogicalUnitIdentifier, codeSet: CodeSet.Binary, bytes };
    }
    case "uuid": {
      const uuid = fromHex("UUID", v.uuid.replace(/-/g, ""));
      if (uuid.length !== 16) throw new LocalProtocolError("UUID must be 16 bytes");
      const bytes = new Uint8Array(18);
      bytes[0] = 0x10; // UUID type 1: RFC 4122.
      bytes.set(uuid, 2);
      return { type: DesignatorType.Uuid, codeSet: CodeSet.Binary, bytes };
    }
    case "protocol-specific-port":
      return { type: DesignatorType.ProtocolSpecificPortIdentifier, codeSet: CodeSet.Binary, bytes: fromHex("designator", v.hex) };
    case "vendor-specific":
      return { type: DesignatorType.VendorSpecific, codeSet: CodeSet.Binary, bytes: fromHex("designator", v.hex) };
  }
}

export function buildDeviceIdentificationPage(designators: readonly DesignatorInput[], h: VpdHeaderInput = {}): Uint8Array {
  const encoded = designators.map((d) => {
    const { type, codeSet, bytes } = encodeValue(d.value);
    checkUint("DESIGNATOR LENGTH", bytes.length, 0xff);
    const out = new Uint8Array(4 + bytes.length);
    out[0] = (checkUint("PROTOCOL IDENTIFIER", d.protocolIdentifier ?? 0, 15) << 4) | codeSet;
    out[1] = (d.piv === true ? 0x80 : 0) | (checkUint("ASSOCIATION", d.association ?? 0, 3) << 4) | type;
    out[3] = bytes.length;
    out.set(bytes, 4);
    return out;
  });
  const body = new Uint8Array(encoded.reduce((n, e) => n + e.length, 0));
  let off = 0;
  for (const e of encoded) {
    body.set(e, off);
    off += e.length;
  }
  return buildVpdPage(VpdPage.DeviceIdentification, body, h);
}
