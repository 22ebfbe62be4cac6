/**
 * SAM-5 §5.3 status codes and SPC-4 §4.5.6 sense keys, with the names users see.
 */

/** SAM-5 §5.3.1, table 33 (obsolete codes 0x10, 0x14 and 0x22 are named but have no constant). */
export const ScsiStatus = {
  Good: 0x00,
  CheckCondition: 0x02,
  ConditionMet: 0x04,
  Busy: 0x08,
  ReservationConflict: 0x18,
  TaskSetFull: 0x28,
  AcaActive: 0x30,
  TaskAborted: 0x40,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

const STATUS_NAMES: Readonly<Record<number, string>> = {
  0x00: "GOOD",
  0x02: "CHECK CONDITION",
  0x04: "CONDITION MET",
  0x08: "BUSY",
  0x10: "INTERMEDIATE (obsolete)",
  0x14: "INTERMEDIATE-CONDITION MET (obsolete)",
  0x18: "RESERVATION CONFLICT",
  0x22: "COMMAND TERMINATED (obsolete)",
  0x28: "TASK SET FULL",
  0x30: "ACA ACTIVE",
  0x40: "TASK ABORTED",
};

/** "CHECK CONDITION", or "status 0x.." for a code SAM-5 reserves. */
export function scsiStatusName(status: number): string {
  return STATUS_NAMES[status] ?? `status 0x${status.toString(16).padStart(2, "0")}`;
}

/** SPC-4 §4.5.6, table 51. 0x0C is obsolete (once EQUAL), so it has no constant. */
export const SenseKey = {
  NoSense: 0x0,
  RecoveredError: 0x1,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
  BlankCheck: 0x8,
  VendorSpecific: 0x9,
  CopyAborted: 0xa,
  AbortedCommand: 0xb,
  VolumeOverflow: 0xd,
  Miscompare: 0xe,
  Completed: 0xf,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

const SENSE_KEY_NAMES: readonly string[] = [
  "NO SENSE",
  "RECOVERED ERROR",
  "NOT READY",
  "MEDIUM ERROR",
  "HARDWARE ERROR",
  "ILLEGAL REQUEST",
  "UNIT ATTENTION",
  "DATA PROTECT",
  "BLANK CHECK",
  "VENDOR SPECIFIC",
  "COPY ABORTED",
  "ABORTED COMMAND",
  "OBSOLETE (0xC)",
  "VOLUME OVERFLOW",
  "MISCOMPARE",
  "COMPLETED",
];

/** "ILLEGAL REQUEST"; the sense key is a 4-bit field, so only its low four bits count. */
export function senseKeyName(key: number): string {
  return SENSE_KEY_NAMES[key & 0x0f] ?? "NO SENSE";
}
