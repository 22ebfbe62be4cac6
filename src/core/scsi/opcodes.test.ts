import { describe, expect, it } from "vitest";
import { buildReadCapacity16Cdb } from "./cdb.js";
import { ScsiOpcode, cdbLength, cdbLengthForOpcode, scsiCommandName, scsiOpcodeName } from "./opcodes.js";

describe("CDB length by opcode group (SPC-4 §4.2.5.1)", () => {
  it("is 6, 10, 10, reserved, 16, 12 and vendor specific for groups 0 to 7", () => {
    expect([0x00, 0x20, 0x40, 0x60, 0x80, 0xa0, 0xc0, 0xe0].map(cdbLengthForOpcode)).toEqual([6, 10, 10, undefined, 16, 12, undefined, undefined]);
    expect(cdbLengthForOpcode(ScsiOpcode.Inquiry)).toBe(6);
    expect(cdbLengthForOpcode(ScsiOpcode.Read10)).toBe(10);
    expect(cdbLengthForOpcode(ScsiOpcode.ModeSense10)).toBe(10);
    expect(cdbLengthForOpcode(ScsiOpcode.Read16)).toBe(16);
    expect(cdbLengthForOpcode(ScsiOpcode.ReportLuns)).toBe(12);
  });

  it("reads the variable-length CDB's ADDITIONAL CDB LENGTH", () => {
    const cdb = new Uint8Array(32);
    cdb[0] = 0x7f;
    cdb[7] = 0x18;
    expect(cdbLength(cdb)).toBe(32);
    expect(cdbLength(Uint8Array.of(0x7f, 0, 0))).toBeUndefined();
    expect(cdbLength(new Uint8Array(0))).toBeUndefined();
    expect(cdbLength(Uint8Array.of(0x28))).toBe(10);
  });
});

describe("opcode names", () => {
  it("names the commands this folder knows and shows others in hex", () => {
    expect(scsiOpcodeName(0x88)).toBe("READ(16)");
    expect(scsiOpcodeName(0x9e)).toBe("SERVICE ACTION IN(16)");
    expect(scsiOpcodeName(0xc1)).toBe("opcode 0xc1");
  });
});

describe("command names by service action", () => {
  it("names READ CAPACITY(16) and GET LBA STATUS, not SERVICE ACTION IN(16)", () => {
    expect(scsiCommandName(buildReadCapacity16Cdb({ allocationLength: 32 }))).toBe("READ CAPACITY(16)");
    expect(scsiCommandName(new Uint8Array([0x9e, 0x12, 0, 0]))).toBe("GET LBA STATUS");
    expect(scsiCommandName(new Uint8Array([0xa3, 0x0c]))).toBe("REPORT SUPPORTED OPERATION CODES");
    expect(scsiCommandName(new Uint8Array([0xa3, 0x0a]))).toBe("REPORT TARGET PORT GROUPS");
  });

  it("keeps the opcode's name with the service action in hex when it does not know the action, and names other opcodes as before", () => {
    expect(scsiCommandName(new Uint8Array([0x9e, 0x1f]))).toBe("SERVICE ACTION IN(16) service action 0x1f");
    expect(scsiCommandName(new Uint8Array([0x28, 0xff]))).toBe("READ(10)");
    expect(scsiCommandName(new Uint8Array([0x9e]))).toBe("SERVICE ACTION IN(16)");
  });
});
