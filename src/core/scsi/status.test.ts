import { describe, expect, it } from "vitest";
import { ScsiStatus, SenseKey, scsiStatusName, senseKeyName } from "./status.js";

describe("SAM status codes", () => {
  it("have the SAM-5 values and names", () => {
    expect([ScsiStatus.Good, ScsiStatus.CheckCondition, ScsiStatus.ConditionMet, ScsiStatus.Busy]).toEqual([0x00, 0x02, 0x04, 0x08]);
    expect([ScsiStatus.ReservationConflict, ScsiStatus.TaskSetFull, ScsiStatus.AcaActive, ScsiStatus.TaskAborted]).toEqual([0x18, 0x28, 0x30, 0x40]);
    expect(scsiStatusName(0x02)).toBe("CHECK CONDITION");
    expect(scsiStatusName(0x18)).toBe("RESERVATION CONFLICT");
    expect(scsiStatusName(0x40)).toBe("TASK ABORTED");
    expect(scsiStatusName(0x22)).toBe("COMMAND TERMINATED (obsolete)");
    expect(scsiStatusName(0x3c)).toBe("status 0x3c");
  });
});

describe("sense keys", () => {
  it("have the SPC-4 values and names", () => {
    expect(SenseKey.IllegalRequest).toBe(5);
    expect(SenseKey.Miscompare).toBe(0x0e);
    expect(senseKeyName(0)).toBe("NO SENSE");
    expect(senseKeyName(5)).toBe("ILLEGAL REQUEST");
    expect(senseKeyName(6)).toBe("UNIT ATTENTION");
    expect(senseKeyName(0x0b)).toBe("ABORTED COMMAND");
    expect(senseKeyName(0x0c)).toBe("OBSOLETE (0xC)");
    expect(senseKeyName(0x0e)).toBe("MISCOMPARE");
    expect(senseKeyName(0xf5)).toBe("ILLEGAL REQUEST");
  });
});
