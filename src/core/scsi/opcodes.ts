/**
 * SCSI operation codes (SPC-4 Annex D, SBC-3 §5) for the commands this folder builds or parses,
 * their names, and the CDB length of each opcode group (SPC-4 §4.2.5.1).
 */

export const ScsiOpcode = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Read6: 0x08,
  Write6: 0x0a,
  Inquiry: 0x12,
  ModeSelect6: 0x15,
  ModeSense6: 0x1a,
  StartStopUnit: 0x1b,
  PreventAllowMediumRemoval: 0x1e,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  WriteAndVerify10: 0x2e,
  Verify10: 0x2f,
  SynchronizeCache10: 0x35,
  WriteBuffer: 0x3b,
  ReadBuffer: 0x3c,
  WriteSame10: 0x41,
  Unmap: 0x42,
  LogSelect: 0x4c,
  LogSense: 0x4d,
  ModeSelect10: 0x55,
  ModeSense10: 0x5a,
  PersistentReserveIn: 0x5e,
  PersistentReserveOut: 0x5f,
  VariableLength: 0x7f,
  ExtendedCopy: 0x83,
  ReceiveCopyResults: 0x84,
  Read16: 0x88,
  CompareAndWrite: 0x89,
  Write16: 0x8a,
  WriteAndVerify16: 0x8e,
  Verify16: 0x8f,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
  MaintenanceIn: 0xa3,
  MaintenanceOut: 0xa4,
  Read12: 0xa8,
  Write12: 0xaa,
  Verify12: 0xaf,
} as const;
export type ScsiOpcode = (typeof ScsiOpcode)[keyof typeof ScsiOpcode];

/** SBC-3 §5.16: service actions of SERVICE ACTION IN(16) (opcode 0x9E). */
export const ServiceActionIn16 = {
  ReadCapacity16: 0x10,
  GetLbaStatus: 0x12,
} as const;

const NAMES: Readonly<Record<number, string>> = {
  0x00: "TEST UNIT READY",
  0x03: "REQUEST SENSE",
  0x08: "READ(6)",
  0x0a: "WRITE(6)",
  0x12: "INQUIRY",
  0x15: "MODE SELECT(6)",
  0x1a: "MODE SENSE(6)",
  0x1b: "START STOP UNIT",
  0x1e: "PREVENT ALLOW MEDIUM REMOVAL",
  0x25: "READ CAPACITY(10)",
  0x28: "READ(10)",
  0x2a: "WRITE(10)",
  0x2e: "WRITE AND VERIFY(10)",
  0x2f: "VERIFY(10)",
  0x35: "SYNCHRONIZE CACHE(10)",
  0x3b: "WRITE BUFFER",
  0x3c: "READ BUFFER",
  0x41: "WRITE SAME(10)",
  0x42: "UNMAP",
  0x4c: "LOG SELECT",
  0x4d: "LOG SENSE",
  0x55: "MODE SELECT(10)",
  0x5a: "MODE SENSE(10)",
  0x5e: "PERSISTENT RESERVE IN",
  0x5f: "PERSISTENT RESERVE OUT",
  0x7f: "VARIABLE LENGTH",
  0x83: "EXTENDED COPY",
  0x84: "RECEIVE COPY RESULTS",
  0x88: "READ(16)",
  0x89: "COMPARE AND WRITE",
  0x8a: "WRITE(16)",
  0x8e: "WRITE AND VERIFY(16)",
  0x8f: "VERIFY(16)",
  0x91: "SYNCHRONIZE CACHE(16)",
  0x93: "WRITE SAME(16)",
  0x9e: "SERVICE ACTION IN(16)",
  0xa0: "REPORT LUNS",
  0xa3: "MAINTENANCE IN",
  0xa4: "MAINTENANCE OUT",
  0xa8: "READ(12)",
  0xaa: "WRITE(12)",
  0xaf: "VERIFY(12)",
};

/** The command's name ("READ(10)"), or its opcode in hex when this module does not know it. */
export function scsiOpcodeName(opcode: number): string {
  return NAMES[opcode] ?? `opcode 0x${opcode.toString(16).padStart(2, "0")}`;
}

/**
 * Service actions named by the command they are (SBC-3 §5.16, SPC-4 §6.23-6.25, §6.35): the
 * opcode alone says only "SERVICE ACTION IN(16)" for a READ CAPACITY(16).
 */
const SERVICE_ACTION_NAMES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  0x9e: { 0x10: "READ CAPACITY(16)", 0x12: "GET LBA STATUS", 0x13: "REPORT REFERRALS", 0x16: "GET STREAM STATUS" },
  0xa3: {
    0x05: "REPORT IDENTIFYING INFORMATION",
    0x0a: "REPORT TARGET PORT GROUPS",
    0x0b: "REPORT ALIASES",
    0x0c: "REPORT SUPPORTED OPERATION CODES",
    0x0d: "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS",
    0x0e: "REPORT PRIORITY",
    0x0f: "REPORT TIMESTAMP",
  },
  0xa4: { 0x06: "SET IDENTIFYING INFORMATION", 0x0a: "SET TARGET PORT GROUPS", 0x0b: "CHANGE ALIASES", 0x0e: "SET PRIORITY", 0x0f: "SET TIMESTAMP" },
};

/**
 * The name of the command a CDB carries: by its service action where the opcode has them
 * (0x9E/0x10 is "READ CAPACITY(16)"), else by its opcode as `scsiOpcodeName`.
 */
export function scsiCommandName(cdb: Uint8Array): string {
  const opcode = cdb[0] ?? 0;
  const byAction = SERVICE_ACTION_NAMES[opcode];
  if (byAction !== undefined && cdb.length > 1) {
    const action = (cdb[1] ?? 0) & 0x1f;
    return byAction[action] ?? `${scsiOpcodeName(opcode)} service action 0x${action.toString(16).padStart(2, "0")}`;
  }
  return scsiOpcodeName(opcode);
}

/**
 * The CDB length fixed by the opcode's group code (its top three bits), SPC-4 §4.2.5.1:
 * group 0 is 6 bytes, groups 1 and 2 are 10, group 4 is 16, group 5 is 12. Group 3 (0x60-0x7F)
 * is reserved apart from the variable-length CDB (0x7F), whose length is in the CDB itself (see
 * `cdbLength`); groups 6 and 7 are vendor specific. Those give `undefined`.
 */
export function cdbLengthForOpcode(opcode: number): number | undefined {
  switch ((opcode >> 5) & 0x07) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return undefined;
  }
}

/**
 * The length of the CDB that starts `cdb`: by group, or for the variable-length CDB (0x7F)
 * 8 + ADDITIONAL CDB LENGTH (byte 7, SPC-4 variable length CDB format). `undefined` when the length is not defined
 * by the standard or byte 7 is not present.
 */
export function cdbLength(cdb: Uint8Array): number | undefined {
  const opcode = cdb[0];
  if (opcode === undefined) return undefined;
  if (opcode === ScsiOpcode.VariableLength) {
    const additional = cdb[7];
    return additional === undefined ? undefined : 8 + additional;
  }
  return cdbLengthForOpcode(opcode);
}
