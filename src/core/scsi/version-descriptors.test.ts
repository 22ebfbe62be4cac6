import { describe, expect, it } from "vitest";
import { versionDescriptorName } from "./version-descriptors.js";

describe("version descriptor names (SPC-4 Table 143)", () => {
  it("names the standards the embedded target claims: SAM-5, iSCSI, SPC-4, SBC-3", () => {
    expect([0x00a0, 0x0960, 0x0460, 0x04c0].map(versionDescriptorName)).toEqual(["SAM-5", "iSCSI", "SPC-4", "SBC-3"]);
  });

  it("names the editions tgtd claims (SAM-3 r14, SPC-3 r23, SBC-2)", () => {
    expect(versionDescriptorName(0x0076)).toBe("SAM-3 T10/1561-D revision 14");
    expect(versionDescriptorName(0x0312)).toBe("SPC-3 T10/1416-D revision 23");
    expect(versionDescriptorName(0x0320)).toBe("SBC-2");
  });

  it("names an unknown edition by its standard and code, and leaves a code outside every block unnamed", () => {
    expect(versionDescriptorName(0x04c5)).toBe("SBC-3 (0x04c5)");
    expect(versionDescriptorName(0x0600)).toBe("SBC-4");
    expect(versionDescriptorName(0x7fe0)).toBeUndefined();
  });
});
