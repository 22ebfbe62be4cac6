import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { buildInquiryData, parseInquiryData } from "../core/scsi/inquiry.js";
import { buildBlockLimitsPage, buildLogicalBlockProvisioningPage, buildUnitSerialNumberPage } from "../core/scsi/vpd.js";
import { parseReadCapacity16Data } from "../core/scsi/capacity.js";
import { buildDeviceIdentificationPage } from "../core/scsi/vpd-device-id.js";
import { decodeVpd, formatCapacity, formatInquiry, hasCapacity, hexDump, inquiryJson, parseVpdPage, readCapacity16Json, shortDeviceType } from "./scsi-text.js";

/** A tgtd capture from src/core/scsi/fixtures (hex lines after '#' comments). */
function fixture(name: string): Uint8Array {
  const text = readFileSync(new URL(`../core/scsi/fixtures/${name}`, import.meta.url), "utf8");
  const hexText = text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .join("")
    .replace(/\s+/g, "");
  return Uint8Array.from(hexText.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}

describe("parseVpdPage", () => {
  it("reads hex, h-suffixed hex and decimal page numbers", () => {
    expect(parseVpdPage("0x83")).toBe(0x83);
    expect(parseVpdPage("0xB0")).toBe(0xb0);
    expect(parseVpdPage("b2h")).toBe(0xb2);
    expect(parseVpdPage("128")).toBe(0x80);
  });

  it("reads the page names", () => {
    expect(parseVpdPage("serial")).toBe(0x80);
    expect(parseVpdPage("device-id")).toBe(0x83);
    expect(parseVpdPage("block-limits")).toBe(0xb0);
    expect(parseVpdPage("characteristics")).toBe(0xb1);
    expect(parseVpdPage("Provisioning")).toBe(0xb2);
    expect(parseVpdPage("supported")).toBe(0x00);
  });

  it("refuses an unknown name or a number beyond 0xff, listing the names", () => {
    expect(() => parseVpdPage("colour")).toThrow(ConfigError);
    expect(() => parseVpdPage("colour")).toThrow(/--vpd "colour" is not a VPD page.*serial/);
    expect(() => parseVpdPage("300")).toThrow(/is not a VPD page/);
  });
});

describe("INQUIRY and capacity text", () => {
  it("lays out tgtd's standard INQUIRY data", () => {
    const text = formatInquiry(parseInquiryData(fixture("tgtd-inquiry-standard.hex")));
    expect(text).toMatch(/^Vendor: +IET$/m);
    expect(text).toMatch(/^Product: +VIRTUAL-DISK$/m);
    expect(text).toMatch(/^Device type: +direct access block device \(0x00\)$/m);
    expect(text).toMatch(/^Command queuing: +yes$/m);
  });

  it("names a device type shortly and knows which answer READ CAPACITY", () => {
    const controller = parseInquiryData(buildInquiryData({ vendor: "V", product: "P", revision: "1", peripheralDeviceType: 0x0c }));
    expect(shortDeviceType(controller.peripheralDeviceType)).toBe("controller");
    expect(hasCapacity(0x0c)).toBe(false);
    expect(shortDeviceType(0x00)).toBe("disk");
    expect(hasCapacity(0x00)).toBe(true);
    expect(shortDeviceType(0x19)).toBe("0x19");
  });

  it("names tgtd's version descriptors, and gives them as value and name in JSON", () => {
    const inq = parseInquiryData(fixture("tgtd-inquiry-standard.hex"));
    expect(inq.versionDescriptors.length).toBeGreaterThan(0);
    const line = /^Version descriptors: +(.*)$/m.exec(formatInquiry(inq))?.[1] ?? "";
    expect(line).toMatch(/iSCSI \(0x0960\)/);
    expect(line).not.toMatch(/unknown/);
    expect(inquiryJson(inq).versionDescriptors).toContainEqual({ value: 0x0960, name: "iSCSI" });
  });

  it("names the embedded target's SAM-5, SPC-4 and SBC-3 claims, and calls an unknown code unknown", () => {
    const inq = parseInquiryData(buildInquiryData({ vendor: "V", product: "P", revision: "1", versionDescriptors: [0x00a0, 0x0960, 0x0460, 0x04c0, 0x7fe1] }));
    expect(formatInquiry(inq)).toMatch(/^Version descriptors: +SAM-5 \(0x00a0\), iSCSI \(0x0960\), SPC-4 \(0x0460\), SBC-3 \(0x04c0\), unknown \(0x7fe1\)$/m);
    expect(inquiryJson(inq).versionDescriptors[4]).toEqual({ value: 0x7fe1 });
  });

  it("shows what iscsi-readcapacity16 shows from tgtd's READ CAPACITY(16) data", () => {
    const rc16 = parseReadCapacity16Data(fixture("tgtd-read-capacity16-thin.hex"));
    const blocks = Number(rc16.blocks);
    const capacity = { blocks, blockSize: rc16.blockLength, bytes: blocks * rc16.blockLength, thinProvisioned: rc16.lbpme, unmappedReadsZero: rc16.lbprz, logicalBlocksPerPhysicalBlock: 2 ** rc16.logicalBlocksPerPhysicalBlockExponent };
    const text = formatCapacity(capacity, rc16);
    expect(text).toMatch(/^Command: +READ CAPACITY\(16\)$/m);
    expect(text).toMatch(new RegExp(`^Last LBA: +${blocks - 1}$`, "m"));
    expect(text).toMatch(/^Physical block: +\d+ bytes.*LBPPBE=\d/m);
    expect(text).toMatch(/^Lowest aligned LBA: +0$/m);
    expect(text).toMatch(/^Protection: +none \(PROT_EN=0, P_TYPE=0\)$/m);
    expect(text).toMatch(/^Thin provisioned: +yes \(LBPME=1\)$/m);
    expect(text).toMatch(/^Unmapped blocks read as zeros: +(yes|no) \(LBPRZ=[01]\)$/m);
    expect(text).not.toMatch(/SERVICE ACTION IN/);
    expect(readCapacity16Json(rc16)).toMatchObject({ pType: 0, protEn: false, lbpme: true, lowestAlignedLba: 0, returnedLba: blocks - 1 });
  });

  it("says so when the LUN answered only READ CAPACITY(10)", () => {
    const text = formatCapacity({ blocks: 8, blockSize: 512, bytes: 4096, thinProvisioned: false, unmappedReadsZero: false, logicalBlocksPerPhysicalBlock: 1 });
    expect(text).toMatch(/^Command: +READ CAPACITY\(10\)/m);
    expect(text).not.toMatch(/LBPME|Protection/);
  });

  it("lays out a capacity with its size in words and in bytes", () => {
    const text = formatCapacity({ blocks: 32768, blockSize: 512, bytes: 16777216, thinProvisioned: true, unmappedReadsZero: true, logicalBlocksPerPhysicalBlock: 8 });
    expect(text).toMatch(/^Capacity: +16 MiB \(16777216 bytes\)$/m);
    expect(text).toMatch(/^Physical block: +4096 bytes \(8 logical blocks\)$/m);
    expect(text).toMatch(/^Thin provisioned: +yes$/m);
  });
});

describe("device identification in JSON", () => {
  it("leaves out a protocol identifier that PIV=0 (or a logical unit association) makes meaningless, and keeps one that means something", () => {
    const page = buildDeviceIdentificationPage([
      { value: { kind: "naa", hex: "6001405abcdef0123456789abcdef012" } },
      { association: 1, piv: true, protocolIdentifier: 5, value: { kind: "scsi-name-string", name: "iqn.2026-11.example:disk,t,0x1" } },
      { association: 1, piv: false, protocolIdentifier: 5, value: { kind: "relative-target-port", port: 1 } },
    ]);
    const decoded = decodeVpd(0x83, page).decoded as { designators: Record<string, unknown>[] };
    expect(decoded.designators[0]).not.toHaveProperty("protocolIdentifier");
    expect(decoded.designators[0]).not.toHaveProperty("protocolIdentifierName");
    expect(decoded.designators[1]).toMatchObject({ protocolIdentifier: 5, piv: true });
    expect(decoded.designators[2]).not.toHaveProperty("protocolIdentifier");
    const text = decodeVpd(0x83, page).text.split("\n");
    expect(text[1]).toMatch(/iSCSI/i);
    expect(text[2]).not.toMatch(/iSCSI/i);
  });
});

describe("decodeVpd", () => {
  it("decodes tgtd's device identification page into one line per designator", () => {
    const vpd = decodeVpd(0x83, fixture("tgtd-vpd-83.hex"));
    expect(vpd.name).toBe("Device Identification");
    const lines = vpd.text.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^T10 vendor ID \(logical unit\): IET/);
    expect(lines[1]).toBe("NAA (logical unit): 0x3000000100000001 (NAA type 3)");
  });

  it("decodes a unit serial number page", () => {
    const vpd = decodeVpd(0x80, buildUnitSerialNumberPage("SN-0042"));
    expect(vpd.text).toMatch(/^Unit serial number: +SN-0042$/);
    expect((vpd.decoded as { serialNumber: string }).serialNumber).toBe("SN-0042");
  });

  it("decodes block limits with SBC's names for its acronyms", () => {
    const vpd = decodeVpd(0xb0, buildBlockLimitsPage({ maximumTransferLength: 2048, maximumUnmapLbaCount: 8192, maximumWriteSameLength: 65535 }));
    expect(vpd.text).toMatch(/^Maximum transfer length: +2048$/m);
    expect(vpd.text).toMatch(/^Maximum UNMAP LBA count: +8192$/m);
    expect(vpd.text).toMatch(/^Maximum WRITE SAME length: +65535$/m);
    expect(vpd.text).not.toMatch(/Page code|Peripheral/);
  });

  it("says what LBPRZ means in the provisioning page", () => {
    const vpd = decodeVpd(0xb2, buildLogicalBlockProvisioningPage({ lbpu: true, lbpws: true, lbprz: 1, provisioningType: 2 }));
    expect(vpd.text).toMatch(/^LBPU \(UNMAP supported\): +yes$/m);
    expect(vpd.text).toMatch(/^LBPRZ: +1 \(unmapped blocks read as zeros\)$/m);
    expect(vpd.text).toMatch(/thin provisioned/);
  });

  it("lists the supported pages by name", () => {
    const vpd = decodeVpd(0x00, fixture("tgtd-vpd-00.hex"));
    expect(vpd.text.split("\n")).toContain("0x83  Device Identification");
  });

  it("shows an unknown page as a hex dump", () => {
    const data = Uint8Array.from([0x00, 0x86, 0x00, 0x04, 0x41, 0x42, 0x43, 0x00]);
    const vpd = decodeVpd(0x86, data);
    expect(vpd.text).toBe("0000  00 86 00 04 41 42 43 00                          ....ABC.");
  });
});

describe("hexDump", () => {
  it("puts sixteen bytes on a line with their offset", () => {
    const lines = hexDump(Uint8Array.from({ length: 20 }, (_, i) => i + 0x30)).split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^0010  40 41 42 43/);
  });
});

describe("decodeVpd field names", () => {
  it("puts a coded value and its name on one line", () => {
    const vpd = decodeVpd(0xb2, buildLogicalBlockProvisioningPage({ provisioningType: 2 }));
    expect(vpd.text).toMatch(/^Provisioning type: +2 \(thin provisioned\)$/m);
    expect(vpd.text).not.toMatch(/Provisioning type name/);
  });
});
