import { describe, expect, it } from "vitest";
import { fromHex, hexOf } from "../hex.js";
import { buildGetLbaStatusCdb, buildPreFetch16Cdb, lbaStatusAllocation, parseLbaStatusData } from "./lba-status.js";
import { parseCdb } from "./parse-cdb.js";


describe("GET LBA STATUS", () => {
  it("builds SERVICE ACTION IN(16) 12h with the starting LBA and allocation length", () => {
    expect(hexOf(buildGetLbaStatusCdb({ lba: 0x1_0000_0002, allocationLength: lbaStatusAllocation(2) }))).toBe("9e12" + "0000000100000002" + "00000028" + "0000");
    expect(parseCdb(buildGetLbaStatusCdb({ lba: 0, allocationLength: 24 }))).toMatchObject({ opcode: 0x9e, serviceAction: 0x12 });
  });

  it("parses descriptors: LBA, number of blocks and provisioning status", () => {
    const data = fromHex(
      "data",
      "00000024" + "00000000" + "0000000000000000" + "00000010" + "00000000" + "0000000000000010" + "000000f0" + "01000000",
    );
    expect(parseLbaStatusData(data)).toEqual({
      parameterDataLength: 36,
      descriptors: [
        { lba: 0, blocks: 16, provisioningStatus: 0 },
        { lba: 16, blocks: 240, provisioningStatus: 1 },
      ],
      truncated: false,
    });
  });

  it("leaves out a descriptor cut by the allocation length and says the data was truncated", () => {
    const data = fromHex("data", "00000024" + "00000000" + "0000000000000000" + "00000010" + "02000000" + "00000000000000");
    expect(parseLbaStatusData(data)).toMatchObject({ descriptors: [{ lba: 0, blocks: 16, provisioningStatus: 2 }], truncated: true });
  });

  it("refuses data shorter than its header", () => {
    expect(() => parseLbaStatusData(new Uint8Array(5))).toThrow(/too short for the parameter data header/);
  });
});

describe("PRE-FETCH(16)", () => {
  it("carries IMMED, the LBA and the prefetch length", () => {
    expect(hexOf(buildPreFetch16Cdb({ lba: 8, blocks: 64, immed: true }))).toBe("9002" + "0000000000000008" + "00000040" + "0000");
  });
});
