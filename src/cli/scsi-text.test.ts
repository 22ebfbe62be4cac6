import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { buildInquiryData, parseInquiryData } from "../core/scsi/inquiry.js";
import { buildBlockLimitsPage, buildLogicalBlockProvisioningPage, buildUnitSerialNumberPage } from "../core/scsi/vpd.js";
import { decodeVpd, formatCapacity, formatInquiry, hasCapacity, hexDump, parseVpdPage, shortDeviceType } from "./scsi-text.js";

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

  it("lays out a capacity with its size in words and in bytes", () => {
    const text = formatCapacity({ blocks: 32768, blockSize: 512, bytes: 16777216, thinProvisioned: true, unmappedReadsZero: true, logicalBlocksPerPhysicalBlock: 8 });
    expect(text).toMatch(/^Capacity: +16 MiB \(16777216 bytes\)$/m);
    expect(text).toMatch(/^Physical block: +4096 bytes \(8 logical blocks\)$/m);
    expect(text).toMatch(/^Thin provisioned: +yes$/m);
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
