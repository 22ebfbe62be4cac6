/**
 * SCSI data for a human: VPD page names as the user may type them, and INQUIRY, VPD and capacity
 * data laid out as aligned fields. The decoding itself is src/core/scsi's; this only chooses
 * words and order.
 */
import { ConfigError, hexOf, type InquiryData, versionDescriptorName, type Designator, type DesignatorValue, type DeviceIdentificationPage, parseBlockDeviceCharacteristicsPage, parseBlockLimitsPage, parseLogicalBlockProvisioningPage, parseSupportedVpdPages, parseUnitSerialNumberPage, parseVpdHeader, vpdPageName, VpdPage, parseDeviceIdentificationPage, type ReadCapacity16Data } from "../core/index.js";
import type { Capacity } from "../node/index.js";
import { capitalise, formatFields, hex, words, yesNo } from "./format.js";
import { formatBytes } from "./units.js";

const PAGE_NAMES: Readonly<Record<string, number>> = {
  supported: VpdPage.SupportedPages,
  pages: VpdPage.SupportedPages,
  serial: VpdPage.UnitSerialNumber,
  sn: VpdPage.UnitSerialNumber,
  "unit-serial": VpdPage.UnitSerialNumber,
  "device-id": VpdPage.DeviceIdentification,
  devid: VpdPage.DeviceIdentification,
  id: VpdPage.DeviceIdentification,
  identification: VpdPage.DeviceIdentification,
  "block-limits": VpdPage.BlockLimits,
  limits: VpdPage.BlockLimits,
  bl: VpdPage.BlockLimits,
  characteristics: VpdPage.BlockDeviceCharacteristics,
  "block-characteristics": VpdPage.BlockDeviceCharacteristics,
  bdc: VpdPage.BlockDeviceCharacteristics,
  provisioning: VpdPage.LogicalBlockProvisioning,
  lbp: VpdPage.LogicalBlockProvisioning,
  thin: VpdPage.LogicalBlockProvisioning,
};

/** `0x83`, `83h`, `131`, or a name (`serial`, `device-id`, `block-limits`, `provisioning`, ...). */
export function parseVpdPage(text: string): number {
  const t = text.trim().toLowerCase();
  let page: number | undefined = PAGE_NAMES[t];
  if (page === undefined && /^0x[0-9a-f]{1,2}$/.test(t)) page = Number.parseInt(t.slice(2), 16);
  if (page === undefined && /^[0-9a-f]{1,2}h$/.test(t)) page = Number.parseInt(t.slice(0, -1), 16);
  if (page === undefined && /^\d{1,3}$/.test(t)) page = Number(t);
  if (page === undefined || page > 0xff) {
    const names = [...new Set(Object.entries(PAGE_NAMES).map(([name]) => name))].filter((n) => n.length > 3).join(", ");
    throw new ConfigError(`--vpd "${text}" is not a VPD page: give a number (0x83) or a name (${names})`);
  }
  return page;
}

/** A short word for the device type column of `ls`. */
export function shortDeviceType(type: number): string {
  const names: Readonly<Record<number, string>> = {
    0x00: "disk",
    0x01: "tape",
    0x03: "processor",
    0x05: "cd/dvd",
    0x07: "optical",
    0x08: "changer",
    0x0c: "controller",
    0x0d: "enclosure",
    0x0e: "disk (RBC)",
    0x11: "osd",
    0x14: "zoned disk",
    0x1e: "well-known",
    0x1f: "none",
  };
  return names[type] ?? hex(type);
}

/** Device types that answer READ CAPACITY (SBC direct access, RBC, zoned, MMC). */
export function hasCapacity(type: number): boolean {
  return type === 0x00 || type === 0x0e || type === 0x14 || type === 0x05 || type === 0x07;
}

const TPGS_NAMES = ["not supported", "implicit", "explicit", "implicit and explicit"];

export function formatInquiry(d: InquiryData): string {
  return formatFields([
    ["Vendor", d.vendor],
    ["Product", d.product],
    ["Revision", d.revision],
    ["Device type", `${d.peripheralDeviceTypeName} (${hex(d.peripheralDeviceType)})`],
    ["Qualifier", `${d.peripheralQualifierName} (${d.peripheralQualifier})`],
    ["Version", `${d.versionName} (${hex(d.version)})`],
    ["Removable", yesNo(d.removable)],
    ["Command queuing", yesNo(d.cmdQue)],
    ["Hierarchical LUNs", yesNo(d.hiSup)],
    ["ALUA (TPGS)", TPGS_NAMES[d.tpgs] ?? String(d.tpgs)],
    ["Third-party copy", yesNo(d.thirdPartyCopy)],
    ["Protection info", yesNo(d.protect)],
    ["Multi-port", yesNo(d.multiP)],
    ["Version descriptors", d.versionDescriptors.length === 0 ? undefined : d.versionDescriptors.map((v) => `${versionDescriptorName(v) ?? "unknown"} (${hex(v, 4)})`).join(", ")],
    ["Truncated", d.truncated ? "yes (the target returned less than it announced)" : undefined],
  ]);
}

/** INQUIRY data for --json: version descriptors as value and name (SPC-4 Table 143). */
export function inquiryJson(d: InquiryData): Omit<InquiryData, "versionDescriptors"> & { readonly versionDescriptors: readonly { readonly value: number; readonly name?: string }[] } {
  // `value`, not `code`: in --json, `code` is only ever an error's ISCSI_* code.
  return {
    ...d,
    versionDescriptors: d.versionDescriptors.map((value) => {
      const name = versionDescriptorName(value);
      return name === undefined ? { value } : { value, name };
    }),
  };
}

/**
 * SPC-4 §7.8.6.1: the PROTOCOL IDENTIFIER of a designator means something only with PIV set and
 * an association to a target port or target device; elsewhere it is left out.
 */
function protocolMeaningful(d: Designator): boolean {
  return d.piv && (d.association === 1 || d.association === 2);
}

/** The device identification page for --json, without the fields that have no meaning there. */
function deviceIdJson(page: DeviceIdentificationPage): unknown {
  return {
    ...page,
    designators: page.designators.map((d) => {
      if (protocolMeaningful(d)) return d;
      const { protocolIdentifier: _id, protocolIdentifierName: _name, ...rest } = d;
      return rest;
    }),
  };
}

export interface CapacityJson {
  readonly blocks: number | bigint;
  readonly blockSize: number;
  readonly bytes: number | bigint;
  readonly thinProvisioned: boolean;
  readonly unmappedReadsZero: boolean;
  readonly logicalBlocksPerPhysicalBlock: number;
}

export function capacityJson(c: Capacity): CapacityJson {
  return {
    blocks: c.blocks,
    blockSize: c.blockSize,
    bytes: c.bytes,
    thinProvisioned: c.thinProvisioned,
    unmappedReadsZero: c.unmappedReadsZero,
    logicalBlocksPerPhysicalBlock: c.logicalBlocksPerPhysicalBlock,
  };
}

/** READ CAPACITY(16)'s fields as `iscsi-readcapacity16` prints them (SBC-3 §5.16.2), for --json. */
export function readCapacity16Json(d: ReadCapacity16Data): Record<string, unknown> {
  return {
    returnedLba: d.lastLba,
    logicalBlockLength: d.blockLength,
    pType: d.protectionType,
    protEn: d.protectionEnabled,
    pIExponent: d.protectionIntervalExponent,
    lbppbe: d.logicalBlocksPerPhysicalBlockExponent,
    lbpme: d.lbpme,
    lbprz: d.lbprz,
    lowestAlignedLba: d.lowestAlignedLba,
  };
}

/** SBC-3 Table 123: PROT_EN and P_TYPE together. */
function protectionText(d: ReadCapacity16Data): string {
  return d.protectionEnabled ? `type ${d.protectionType + 1} protection (PROT_EN=1, P_TYPE=${d.protectionType})` : `none (PROT_EN=0, P_TYPE=${d.protectionType})`;
}

/**
 * The capacity for a human; with READ CAPACITY(16) data (absent when the LUN answers only
 * READ CAPACITY(10)), also what `iscsi-readcapacity16` shows.
 */
export function formatCapacity(c: Capacity, rc16?: ReadCapacity16Data): string {
  const physical = c.blockSize * c.logicalBlocksPerPhysicalBlock;
  const lbppbe = rc16 === undefined ? "" : `, LBPPBE=${rc16.logicalBlocksPerPhysicalBlockExponent}`;
  return formatFields([
    ["Command", rc16 === undefined ? "READ CAPACITY(10) (the LUN has no READ CAPACITY(16))" : "READ CAPACITY(16)"],
    ["Capacity", `${formatBytes(c.bytes)} (${String(c.bytes)} bytes)`],
    ["Blocks", String(c.blocks)],
    ["Last LBA", rc16 === undefined ? undefined : String(rc16.lastLba)],
    ["Block size", `${c.blockSize} bytes`],
    ["Physical block", c.logicalBlocksPerPhysicalBlock > 1 ? `${physical} bytes (${c.logicalBlocksPerPhysicalBlock} logical blocks${lbppbe})` : `${physical} bytes${lbppbe === "" ? "" : ` (${lbppbe.slice(2)})`}`],
    ["Lowest aligned LBA", rc16 === undefined ? undefined : String(rc16.lowestAlignedLba)],
    ["Protection", rc16 === undefined ? undefined : protectionText(rc16)],
    ["Protection interval", rc16 === undefined || !rc16.protectionEnabled ? undefined : `2^${rc16.protectionIntervalExponent} logical blocks (P_I_EXPONENT=${rc16.protectionIntervalExponent})`],
    ["Thin provisioned", rc16 === undefined ? yesNo(c.thinProvisioned) : `${yesNo(c.thinProvisioned) ?? ""} (LBPME=${rc16.lbpme ? 1 : 0})`],
    ["Unmapped blocks read as zeros", rc16 === undefined ? yesNo(c.unmappedReadsZero) : `${yesNo(c.unmappedReadsZero) ?? ""} (LBPRZ=${rc16.lbprz ? 1 : 0})`],
  ]);
}

/** A decoded VPD page: the parsed object (for --json) and its text. */
export interface DecodedVpd {
  readonly page: number;
  readonly name: string;
  readonly decoded: unknown;
  readonly text: string;
}

/** Header fields every page repeats: left out of the text. */
const HEADER_KEYS = new Set(["peripheralQualifier", "peripheralDeviceType", "peripheralDeviceTypeName", "pageCode", "pageLength"]);

function fieldValue(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "boolean") return yesNo(v);
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return v === "" ? "(empty)" : v;
  if (v instanceof Uint8Array) return hexOf(v);
  return undefined;
}

/** Field names whose words are acronyms of the standard, spelled as SBC-3 spells them. */
const LABELS: Readonly<Record<string, string>> = {
  wsnz: "WSNZ (WRITE SAME needs a block count)",
  maximumUnmapLbaCount: "Maximum UNMAP LBA count",
  maximumUnmapBlockDescriptorCount: "Maximum UNMAP block descriptor count",
  optimalUnmapGranularity: "Optimal UNMAP granularity",
  unmapGranularityAlignmentValid: "UNMAP granularity alignment valid",
  unmapGranularityAlignment: "UNMAP granularity alignment",
  maximumWriteSameLength: "Maximum WRITE SAME length",
  maximumCompareAndWriteLength: "Maximum COMPARE AND WRITE length",
  lbpu: "LBPU (UNMAP supported)",
  lbpws: "LBPWS (WRITE SAME(16) with UNMAP)",
  lbpws10: "LBPWS10 (WRITE SAME(10) with UNMAP)",
  lbprz: "LBPRZ",
  ancSup: "ANC_SUP (ANCHOR supported)",
  dp: "DP (provisioning group descriptor)",
  wabereq: "WABEREQ",
  wacereq: "WACEREQ",
  fuab: "FUAB",
  vbuls: "VBULS",
};

/** SBC-4: what an unmapped block reads as, by LBPRZ value. */
const LBPRZ_MEANING: readonly string[] = ["unmapped blocks read as anything", "unmapped blocks read as zeros", "unmapped blocks read as the initialization pattern"];

/** Every scalar field of a decoded page, in its order, as "Words: value". */
function genericFields(decoded: object): string {
  const fields: [string, string | undefined][] = [];
  const record = decoded as Record<string, unknown>;
  for (const [key, value] of Object.entries(decoded)) {
    if (HEADER_KEYS.has(key)) continue;
    // "provisioningType: 2" and "provisioningTypeName: thin provisioned" make one line.
    if (key.endsWith("Name") && key.slice(0, -4) in record) continue;
    const name = record[`${key}Name`];
    if (typeof name === "string" && (typeof value === "number" || typeof value === "string")) {
      fields.push([LABELS[key] ?? capitalise(words(key)), `${value} (${name})`]);
      continue;
    }
    if (key === "truncated") {
      if (value === true) fields.push(["Truncated", "yes (the target returned less than the page length)"]);
      continue;
    }
    const shown = key === "lbprz" && typeof value === "number" ? `${value} (${LBPRZ_MEANING[value] ?? "reserved"})` : fieldValue(value);
    fields.push([LABELS[key] ?? capitalise(words(key)), shown]);
  }
  return formatFields(fields);
}

export function designatorText(v: DesignatorValue): string {
  switch (v.kind) {
    case "naa":
      return `0x${v.hex} (NAA type ${v.naa})`;
    case "t10-vendor-id":
      return v.vendorSpecific === "" ? v.vendorId : `${v.vendorId} ${v.vendorSpecific}`;
    case "eui-64":
    case "md5":
    case "protocol-specific-port":
      return `0x${v.hex}`;
    case "scsi-name-string":
      return v.name;
    case "relative-target-port":
      return String(v.port);
    case "target-port-group":
    case "logical-unit-group":
      return String(v.group);
    case "uuid":
      return v.uuid;
    case "vendor-specific":
      return v.text ?? `0x${v.hex}`;
    case "undecoded":
      return `0x${v.hex} (${v.reason})`;
  }
}

function formatDeviceId(page: DeviceIdentificationPage): string {
  if (page.designators.length === 0) return "No designators";
  return page.designators
    .map((d: Designator) => {
      const protocol = protocolMeaningful(d) ? `, ${d.protocolIdentifierName}` : "";
      return `${d.designatorTypeName} (${d.associationName}${protocol}): ${designatorText(d.value)}`;
    })
    .join("\n");
}

/** Decodes the pages core/scsi knows (0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2); others as hex. */
export function decodeVpd(page: number, data: Uint8Array): DecodedVpd {
  const name = vpdPageName(page);
  switch (page) {
    case VpdPage.SupportedPages: {
      const d = parseSupportedVpdPages(data);
      return { page, name, decoded: d, text: d.pages.map((p) => `${hex(p)}  ${vpdPageName(p)}`).join("\n") };
    }
    case VpdPage.UnitSerialNumber: {
      const d = parseUnitSerialNumberPage(data);
      return { page, name, decoded: d, text: formatFields([["Unit serial number", d.serialNumber === "" ? "(empty)" : d.serialNumber]]) };
    }
    case VpdPage.DeviceIdentification: {
      const d = parseDeviceIdentificationPage(data);
      return { page, name, decoded: deviceIdJson(d), text: formatDeviceId(d) };
    }
    case VpdPage.BlockLimits: {
      const d = parseBlockLimitsPage(data);
      return { page, name, decoded: d, text: genericFields(d) };
    }
    case VpdPage.BlockDeviceCharacteristics: {
      const d = parseBlockDeviceCharacteristicsPage(data);
      return { page, name, decoded: d, text: genericFields(d) };
    }
    case VpdPage.LogicalBlockProvisioning: {
      const d = parseLogicalBlockProvisioningPage(data);
      return { page, name, decoded: d, text: genericFields(d) };
    }
    default: {
      const header = parseVpdHeader(data);
      return { page, name, decoded: { ...header, data }, text: hexDump(data) };
    }
  }
}

/** 16 bytes a line: offset, hex, printable ASCII. */
export function hexDump(data: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += 16) {
    const row = data.subarray(off, off + 16);
    const hexPart = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${off.toString(16).padStart(4, "0")}  ${hexPart.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}
