import { describe, expect, it } from "vitest";
import { ASC_TABLE_SIZE, ascText, describeAsc } from "./asc-table.js";

describe("ASC/ASCQ table", () => {
  it("holds the texts users meet most, as SPC-4 words them", () => {
    const expected: [number, number, string][] = [
      [0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION"],
      [0x04, 0x00, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE"],
      [0x04, 0x01, "LOGICAL UNIT IS IN PROCESS OF BECOMING READY"],
      [0x04, 0x02, "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED"],
      [0x04, 0x0a, "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION"],
      [0x0c, 0x00, "WRITE ERROR"],
      [0x11, 0x00, "UNRECOVERED READ ERROR"],
      [0x1a, 0x00, "PARAMETER LIST LENGTH ERROR"],
      [0x1d, 0x00, "MISCOMPARE DURING VERIFY OPERATION"],
      [0x20, 0x00, "INVALID COMMAND OPERATION CODE"],
      [0x21, 0x00, "LOGICAL BLOCK ADDRESS OUT OF RANGE"],
      [0x24, 0x00, "INVALID FIELD IN CDB"],
      [0x25, 0x00, "LOGICAL UNIT NOT SUPPORTED"],
      [0x26, 0x00, "INVALID FIELD IN PARAMETER LIST"],
      [0x27, 0x00, "WRITE PROTECTED"],
      [0x28, 0x00, "NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED"],
      [0x29, 0x00, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"],
      [0x29, 0x07, "I_T NEXUS LOSS OCCURRED"],
      [0x2a, 0x01, "MODE PARAMETERS CHANGED"],
      [0x2a, 0x03, "RESERVATIONS PREEMPTED"],
      [0x2a, 0x09, "CAPACITY DATA HAS CHANGED"],
      [0x2c, 0x00, "COMMAND SEQUENCE ERROR"],
      [0x2f, 0x00, "COMMANDS CLEARED BY ANOTHER INITIATOR"],
      [0x39, 0x00, "SAVING PARAMETERS NOT SUPPORTED"],
      [0x3a, 0x00, "MEDIUM NOT PRESENT"],
      [0x3f, 0x0e, "REPORTED LUNS DATA HAS CHANGED"],
      [0x44, 0x00, "INTERNAL TARGET FAILURE"],
      [0x47, 0x7f, "SOME COMMANDS CLEARED BY ISCSI PROTOCOL EVENT"],
      [0x55, 0x03, "INSUFFICIENT RESOURCES"],
      [0x5d, 0x00, "FAILURE PREDICTION THRESHOLD EXCEEDED"],
    ];
    for (const [asc, ascq, text] of expected) expect(ascText(asc, ascq)).toBe(text);
  });

  it("names a few hundred pairs", () => {
    expect(ASC_TABLE_SIZE).toBeGreaterThan(600);
  });

  it("writes the numbered codes with their number", () => {
    expect(describeAsc(0x40, 0x85)).toBe("DIAGNOSTIC FAILURE ON COMPONENT 0x85");
    expect(describeAsc(0x4d, 0x12)).toBe("TAGGED OVERLAPPED COMMANDS (TASK TAG 0x12)");
    expect(describeAsc(0x70, 0x03)).toBe("DECOMPRESSION EXCEPTION SHORT ALGORITHM ID OF 0x03");
  });

  it("calls vendor-specific codes so and anything else unknown", () => {
    expect(describeAsc(0x80, 0x00)).toBe("VENDOR SPECIFIC");
    expect(describeAsc(0x04, 0x80)).toBe("VENDOR SPECIFIC");
    expect(describeAsc(0x7e, 0x01)).toBe("UNKNOWN ADDITIONAL SENSE CODE");
    expect(describeAsc(0x20, 0x05)).toBe("UNKNOWN ADDITIONAL SENSE CODE");
  });
});
