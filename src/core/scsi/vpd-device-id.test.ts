import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import type { DesignatorInput } from "./vpd-device-id.js";
import {
  Association,
  ProtocolIdentifier,
  buildDeviceIdentificationPage,
  parseDeviceIdentificationPage,
  protocolIdentifierName,
} from "./vpd-device-id.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("VPD page 0x83 builder", () => {
  it("lays out each designation descriptor header: protocol/code set, PIV/association/type, length", () => {
    const page = buildDeviceIdentificationPage([
      { value: { kind: "naa", hex: "6001405abcdef0123456789abcdef012" } },
      { association: Association.TargetPort, piv: true, protocolIdentifier: ProtocolIdentifier.Iscsi, value: { kind: "relative-target-port", port: 1 } },
      { association: Association.TargetPort, value: { kind: "target-port-group", group: 0x0102 } },
      { value: { kind: "t10-vendor-id", vendorId: "LIO-ORG", vendorSpecific: "disk1" } },
    ]);
    expect(hexOf(page)).toBe(
      h(`00 83 00 35
         01 03 00 10 60 01 40 5a bc de f0 12 34 56 78 9a bc de f0 12
         51 94 00 04 00 00 00 01
         01 15 00 04 00 00 01 02
         02 01 00 0d 4c 49 4f 2d 4f 52 47 20 64 69 73 6b 31`),
    );
  });

  it("null-terminates a SCSI name string and pads it to a multiple of four bytes", () => {
    const page = buildDeviceIdentificationPage([
      { association: Association.TargetDevice, value: { kind: "scsi-name-string", name: "iqn.a" } },
    ]);
    expect(hexOf(page)).toBe(h("00 83 00 0c 03 28 00 08 69 71 6e 2e 61 00 00 00"));
  });

  it("refuses identifiers of the wrong length", () => {
    expect(() => buildDeviceIdentificationPage([{ value: { kind: "naa", hex: "5000" } }])).toThrow(LocalProtocolError);
    expect(() => buildDeviceIdentificationPage([{ value: { kind: "naa", hex: "60".padEnd(16, "0") } }])).toThrow(LocalProtocolError);
    expect(() => buildDeviceIdentificationPage([{ value: { kind: "eui-64", hex: "0011" } }])).toThrow(LocalProtocolError);
    expect(() => buildDeviceIdentificationPage([{ value: { kind: "uuid", uuid: "1234" } }])).toThrow(LocalProtocolError);
    expect(() => buildDeviceIdentificationPage([{ value: { kind: "relative-target-port", port: 0x10000 } }])).toThrow(LocalProtocolError);
  });
});

describe("VPD page 0x83 parser", () => {
  it("decodes each designator type into its value", () => {
    const input: DesignatorInput[] = [
      { value: { kind: "naa", hex: "5000c50012345678" } },
      { value: { kind: "eui-64", hex: "0011223344556677" } },
      { value: { kind: "t10-vendor-id", vendorId: "IET", vendorSpecific: "00010001" } },
      { association: Association.TargetDevice, value: { kind: "scsi-name-string", name: "iqn.2026-11.test:target" } },
      { association: Association.TargetPort, piv: true, protocolIdentifier: 5, value: { kind: "relative-target-port", port: 2 } },
      { association: Association.TargetPort, value: { kind: "target-port-group", group: 7 } },
      { value: { kind: "logical-unit-group", group: 3 } },
      { value: { kind: "md5", hex: "00112233445566778899aabbccddeeff" } },
      { value: { kind: "uuid", uuid: "123e4567-e89b-12d3-a456-426614174000" } },
      { value: { kind: "vendor-specific", hex: "deadbeef" } },
      { association: Association.TargetPort, value: { kind: "protocol-specific-port", hex: "0102" } },
    ];
    const page = parseDeviceIdentificationPage(buildDeviceIdentificationPage(input));
    expect(page.truncated).toBe(false);
    expect(page.designators.map((d) => d.value)).toEqual([
      { kind: "naa", naa: 5, hex: "5000c50012345678" },
      { kind: "eui-64", hex: "0011223344556677" },
      { kind: "t10-vendor-id", vendorId: "IET", vendorSpecific: "00010001" },
      { kind: "scsi-name-string", name: "iqn.2026-11.test:target" },
      { kind: "relative-target-port", port: 2 },
      { kind: "target-port-group", group: 7 },
      { kind: "logical-unit-group", group: 3 },
      { kind: "md5", hex: "00112233445566778899aabbccddeeff" },
      { kind: "uuid", uuid: "123e4567-e89b-12d3-a456-426614174000" },
      { kind: "vendor-specific", hex: "deadbeef", text: undefined },
      { kind: "protocol-specific-port", hex: "0102" },
    ]);
    expect(page.designators[3]).toMatchObject({ codeSet: 3, codeSetName: "UTF-8", association: 2, associationName: "target device", designatorTypeName: "SCSI name string" });
    expect(page.designators[4]).toMatchObject({ piv: true, protocolIdentifier: 5, protocolIdentifierName: "iSCSI", associationName: "target port" });
  });

  it("rebuilds the same bytes from what it parsed", () => {
    const designator = fc.oneof(
      fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => ({ kind: "naa" as const, hex: hexOf(Uint8Array.from([0x50 | (b[0]! & 0x0f), ...b.subarray(1)])) })),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ({ kind: "naa" as const, hex: hexOf(Uint8Array.from([0x60 | (b[0]! & 0x0f), ...b.subarray(1)])) })),
      fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => ({ kind: "eui-64" as const, hex: hexOf(b) })),
      fc.integer({ min: 0, max: 0xffff }).map((port) => ({ kind: "relative-target-port" as const, port })),
      fc.integer({ min: 0, max: 0xffff }).map((group) => ({ kind: "target-port-group" as const, group })),
      fc.stringMatching(/^[a-z0-9.:-]{1,64}$/).map((name) => ({ kind: "scsi-name-string" as const, name })),
      fc.tuple(fc.stringMatching(/^[A-Z]{1,8}$/), fc.stringMatching(/^[A-Za-z0-9]{1,20}$/)).map(([vendorId, vendorSpecific]) => ({ kind: "t10-vendor-id" as const, vendorId, vendorSpecific })),
    );
    fc.assert(
      fc.property(fc.array(fc.record({ association: fc.integer({ min: 0, max: 2 }), value: designator }), { maxLength: 6 }), (input) => {
        const bytes = buildDeviceIdentificationPage(input);
        const parsed = parseDeviceIdentificationPage(bytes);
        expect(parsed.designators.map((d) => d.value)).toEqual(input.map((d) => (d.value.kind === "naa" ? { ...d.value, naa: parseInt(d.value.hex[0]!, 16) } : d.value)));
        const rebuilt = buildDeviceIdentificationPage(parsed.designators.map((d) => ({ association: d.association, value: d.value as never })));
        expect(hexOf(rebuilt)).toBe(hexOf(bytes));
      }),
    );
  });

  it("marks a designator whose length its type forbids as undecoded, and a reserved type too", () => {
    const page = Uint8Array.from([0, 0x83, 0, 16, 0x01, 0x03, 0, 4, 0x50, 1, 2, 3, 0x01, 0x0c, 0, 4, 9, 9, 9, 9]);
    const parsed = parseDeviceIdentificationPage(page);
    expect(parsed.designators.map((d) => d.value.kind)).toEqual(["undecoded", "undecoded"]);
    expect(parsed.designators[0]?.value).toMatchObject({ hex: "50010203", reason: "NAA 5 designator of 4 bytes" });
  });

  it("stops at a descriptor that runs past the page and says truncated", () => {
    const bytes = buildDeviceIdentificationPage([
      { value: { kind: "naa", hex: "5000c50012345678" } },
      { value: { kind: "eui-64", hex: "0011223344556677" } },
    ]);
    const cut = parseDeviceIdentificationPage(bytes.subarray(0, 20));
    expect(cut.designators).toHaveLength(1);
    expect(cut.truncated).toBe(true);
  });

  it("names protocols", () => {
    expect(protocolIdentifierName(5)).toBe("iSCSI");
    expect(protocolIdentifierName(0xf)).toBe("no specific protocol");
    expect(protocolIdentifierName(0xc)).toBe("reserved");
  });
});
