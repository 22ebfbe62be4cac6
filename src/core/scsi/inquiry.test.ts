import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import {
  buildInquiryData,
  inquiryVersionName,
  parseInquiryData,
  peripheralDeviceTypeName,
  peripheralQualifierName,
} from "./inquiry.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("standard INQUIRY data builder", () => {
  it("lays out every flag, the padded strings and ADDITIONAL LENGTH as SPC-4 specifies", () => {
    const data = buildInquiryData({
      removable: true,
      version: 6,
      normAca: true,
      tpgs: 3,
      thirdPartyCopy: true,
      protect: true,
      sccs: true,
      acc: true,
      encServ: true,
      multiP: true,
      vendor: "ACME",
      product: "DISK",
      revision: "1.0",
    });
    expect(hexOf(data)).toBe(
      h(`00 80 06 32 1f f9 50 02
         41 43 4d 45 20 20 20 20
         44 49 53 4b 20 20 20 20 20 20 20 20 20 20 20 20
         31 2e 30 20`),
    );
  });

  it("puts the qualifier in bits 7-5 and version descriptors at bytes 58-73", () => {
    const data = buildInquiryData({
      peripheralQualifier: 1,
      peripheralDeviceType: 0x0c,
      hiSup: false,
      cmdQue: false,
      vendor: "V",
      product: "P",
      revision: "R",
      versionDescriptors: [0x04c0, 0x0960],
    });
    expect(data.length).toBe(74);
    expect(data[0]).toBe(0x2c);
    expect(data[3]).toBe(0x02);
    expect(data[4]).toBe(69);
    expect(data[7]).toBe(0);
    expect(hexOf(data.subarray(58, 64))).toBe("04c009600000");
  });

  it("refuses strings that do not fit or are not printable ASCII, and too many descriptors", () => {
    const base = { vendor: "V", product: "P", revision: "R" };
    expect(() => buildInquiryData({ ...base, vendor: "123456789" })).toThrow(LocalProtocolError);
    expect(() => buildInquiryData({ ...base, product: "é" })).toThrow(LocalProtocolError);
    expect(() => buildInquiryData({ ...base, revision: "12345" })).toThrow(LocalProtocolError);
    expect(() => buildInquiryData({ ...base, versionDescriptors: new Array<number>(9).fill(1) })).toThrow(LocalProtocolError);
    expect(() => buildInquiryData({ ...base, tpgs: 4 })).toThrow(LocalProtocolError);
  });
});

describe("standard INQUIRY data parser", () => {
  const printable = (max: number) =>
    fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });

  it("reads back everything the builder wrote", () => {
    fc.assert(
      fc.property(
        fc.record({
          peripheralQualifier: fc.integer({ min: 0, max: 7 }),
          peripheralDeviceType: fc.integer({ min: 0, max: 0x1f }),
          removable: fc.boolean(),
          version: fc.integer({ min: 0, max: 255 }),
          normAca: fc.boolean(),
          hiSup: fc.boolean(),
          sccs: fc.boolean(),
          acc: fc.boolean(),
          tpgs: fc.integer({ min: 0, max: 3 }),
          thirdPartyCopy: fc.boolean(),
          protect: fc.boolean(),
          encServ: fc.boolean(),
          multiP: fc.boolean(),
          cmdQue: fc.boolean(),
          vendor: printable(8),
          product: printable(16),
          revision: printable(4),
          versionDescriptors: fc.array(fc.integer({ min: 1, max: 0xffff }), { maxLength: 8 }),
        }),
        (input) => {
          const parsed = parseInquiryData(buildInquiryData(input));
          expect(parsed).toMatchObject({ ...input, responseDataFormat: 2, truncated: false });
          expect(parsed.peripheralDeviceTypeName).toBe(peripheralDeviceTypeName(input.peripheralDeviceType));
        },
      ),
    );
  });

  it("needs the first 36 bytes and names what was short", () => {
    const data = buildInquiryData({ vendor: "V", product: "P", revision: "R" });
    expect(() => parseInquiryData(data.subarray(0, 35))).toThrow(RemoteProtocolError);
    expect(() => parseInquiryData(data.subarray(0, 35))).toThrow(/35 bytes.*needs 36/);
  });

  it("says truncated when ADDITIONAL LENGTH promised more than was returned, keeping the descriptors it has", () => {
    const data = buildInquiryData({ vendor: "V", product: "P", revision: "R", versionDescriptors: [0x0460, 0x04c0, 0x0960] });
    const cut = parseInquiryData(data.subarray(0, 62));
    expect(cut.truncated).toBe(true);
    expect(cut.versionDescriptors).toEqual([0x0460, 0x04c0]);
    expect(parseInquiryData(data).truncated).toBe(false);
  });

  it("shows bytes that are not printable ASCII as '?' and trims trailing spaces and NULs", () => {
    const data = buildInquiryData({ vendor: "AB", product: "P", revision: "R" });
    data[10] = 0x07;
    data[17] = 0x00;
    expect(parseInquiryData(data).vendor).toBe("AB?");
    expect(parseInquiryData(data).product).toBe("P");
  });
});

describe("INQUIRY names", () => {
  it("names device types, qualifiers and versions, and says what it does not know", () => {
    expect(peripheralDeviceTypeName(0)).toBe("direct access block device");
    expect(peripheralDeviceTypeName(0x0c)).toBe("storage array controller device");
    expect(peripheralDeviceTypeName(0x15)).toBe("device type 0x15");
    expect(peripheralQualifierName(0)).toBe("connected");
    expect(peripheralQualifierName(3)).toBe("not supported");
    expect(peripheralQualifierName(2)).toBe("reserved");
    expect(peripheralQualifierName(5)).toBe("vendor specific");
    expect(inquiryVersionName(5)).toBe("SPC-3");
    expect(inquiryVersionName(0x80)).toBe("version 0x80");
  });
});
