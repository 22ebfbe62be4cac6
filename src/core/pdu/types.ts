/**
 * PDUs as data: one readonly interface per RFC 7143 §11 opcode, a discriminated union on `opcode`.
 *
 * Conventions:
 * - 32-bit fields (tags, sequence numbers, lengths, offsets) are unsigned `number`s.
 * - `lun` is the logical unit number in SAM single-level form (peripheral or flat addressing,
 *   see `lun.ts`); it is 0 where the opcode has no LUN field or the field is reserved.
 * - `isid` is the 48-bit ISID as a number (RFC 7143 §11.12.5); `tsih` 16 bits.
 * - `data` is the data segment without padding or digest. Decoded PDUs hold `subarray` views into
 *   the bytes received: copy them if you keep them past the next `receive`.
 * - Fields marked "reserved" by the RFC are not represented; they are encoded as zero and ignored
 *   on decode.
 */
import type { LoginStage, LogoutReason, SnackType, TaskAttribute, TaskManagementFunction } from "./opcodes.js";
import type { Opcode } from "./opcodes.js";

// ---------------------------------------------------------------- initiator to target

/** RFC 7143 §11.18 */
export interface NopOutPdu {
  readonly opcode: typeof Opcode.NopOut;
  readonly immediate: boolean;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.3 */
export interface ScsiCommandPdu {
  readonly opcode: typeof Opcode.ScsiCommand;
  readonly immediate: boolean;
  /** F bit: no unsolicited Data-Out PDUs follow this command. */
  readonly final: boolean;
  /** R bit: data is expected from the target. */
  readonly read: boolean;
  /** W bit: data is expected from the initiator. */
  readonly write: boolean;
  readonly attribute: TaskAttribute;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly expectedDataTransferLength: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  /**
   * The whole CDB. The first 16 bytes go in the BHS; any more go in an Extended CDB AHS
   * (RFC 7143 §11.2.2.3). A CDB shorter than 16 bytes is zero-padded in the BHS; on decode
   * `cdb` is always at least 16 bytes.
   */
  readonly cdb: Uint8Array;
  /** RFC 7143 §11.2.2.4: Bidirectional Read Expected Data Transfer Length AHS, if present. */
  readonly bidiReadDataLength?: number;
  /** Immediate data. */
  readonly data: Uint8Array;
}

/** RFC 7143 §11.5 */
export interface TaskManagementRequestPdu {
  readonly opcode: typeof Opcode.TaskManagementRequest;
  readonly immediate: boolean;
  readonly function: TaskManagementFunction;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  /** The ITT of the task to abort (ABORT TASK, TASK REASSIGN), else RESERVED_TAG. */
  readonly referencedTaskTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly refCmdSN: number;
  readonly expDataSN: number;
}

/** RFC 7143 §11.12 */
export interface LoginRequestPdu {
  readonly opcode: typeof Opcode.LoginRequest;
  /** T bit. */
  readonly transit: boolean;
  /** C bit: the text continues in the next PDU. */
  readonly continue: boolean;
  readonly currentStage: LoginStage;
  readonly nextStage: LoginStage;
  readonly versionMax: number;
  readonly versionMin: number;
  readonly isid: number;
  readonly tsih: number;
  readonly initiatorTaskTag: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.10 */
export interface TextRequestPdu {
  readonly opcode: typeof Opcode.TextRequest;
  readonly immediate: boolean;
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.7 */
export interface DataOutPdu {
  readonly opcode: typeof Opcode.DataOut;
  readonly final: boolean;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.14 */
export interface LogoutRequestPdu {
  readonly opcode: typeof Opcode.LogoutRequest;
  readonly immediate: boolean;
  readonly reason: LogoutReason;
  readonly initiatorTaskTag: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** RFC 7143 §11.16 */
export interface SnackRequestPdu {
  readonly opcode: typeof Opcode.SnackRequest;
  readonly type: SnackType;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  /** Target Transfer Tag (DataACK) or SNACK Tag (R-Data), else RESERVED_TAG. */
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  readonly begRun: number;
  readonly runLength: number;
}

// ---------------------------------------------------------------- target to initiator

/** RFC 7143 §11.19 */
export interface NopInPdu {
  readonly opcode: typeof Opcode.NopIn;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.4 */
export interface ScsiResponsePdu {
  readonly opcode: typeof Opcode.ScsiResponse;
  /** o bit: bidirectional read residual overflow. */
  readonly bidiReadResidualOverflow: boolean;
  /** u bit. */
  readonly bidiReadResidualUnderflow: boolean;
  /** O bit. */
  readonly residualOverflow: boolean;
  /** U bit. */
  readonly residualUnderflow: boolean;
  readonly response: number;
  readonly status: number;
  readonly initiatorTaskTag: number;
  readonly snackTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly expDataSN: number;
  readonly bidiReadResidualCount: number;
  readonly residualCount: number;
  /** Sense data without its 2-byte SenseLength prefix (RFC 7143 §11.4.7.2); empty if none. */
  readonly sense: Uint8Array;
  /** Response data following the sense data in the data segment, if any (§11.4.7). */
  readonly responseData: Uint8Array;
}

/** RFC 7143 §11.6 */
export interface TaskManagementResponsePdu {
  readonly opcode: typeof Opcode.TaskManagementResponse;
  readonly response: number;
  readonly initiatorTaskTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/** RFC 7143 §11.13 */
export interface LoginResponsePdu {
  readonly opcode: typeof Opcode.LoginResponse;
  readonly transit: boolean;
  readonly continue: boolean;
  readonly currentStage: LoginStage;
  readonly nextStage: LoginStage;
  readonly versionMax: number;
  readonly versionActive: number;
  readonly isid: number;
  readonly tsih: number;
  readonly initiatorTaskTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly statusClass: number;
  readonly statusDetail: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.11 */
export interface TextResponsePdu {
  readonly opcode: typeof Opcode.TextResponse;
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.7 */
export interface DataInPdu {
  readonly opcode: typeof Opcode.DataIn;
  readonly final: boolean;
  /** A bit: the target asks for a DataACK SNACK (ERL >= 1). */
  readonly acknowledge: boolean;
  readonly residualOverflow: boolean;
  readonly residualUnderflow: boolean;
  /** S bit: status is carried in this PDU (only with F). */
  readonly hasStatus: boolean;
  /** SCSI status; meaningful only when `hasStatus`. */
  readonly status: number;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  /** Meaningful only when `hasStatus`. */
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  /** Meaningful only when `hasStatus`. */
  readonly residualCount: number;
  readonly data: Uint8Array;
}

/** RFC 7143 §11.15 */
export interface LogoutResponsePdu {
  readonly opcode: typeof Opcode.LogoutResponse;
  readonly response: number;
  readonly initiatorTaskTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly time2Wait: number;
  readonly time2Retain: number;
}

/** RFC 7143 §11.8 */
export interface R2TPdu {
  readonly opcode: typeof Opcode.R2T;
  readonly lun: number;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}

/** RFC 7143 §11.9 */
export interface AsyncMessagePdu {
  readonly opcode: typeof Opcode.AsyncMessage;
  readonly lun: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly asyncEvent: number;
  readonly asyncVCode: number;
  readonly parameter1: number;
  readonly parameter2: number;
  readonly parameter3: number;
  /** The data segment: SenseLength, sense data and iSCSI event data (§11.9.4). */
  readonly data: Uint8Array;
}

/** RFC 7143 §11.17 */
export interface RejectPdu {
  readonly opcode: typeof Opcode.Reject;
  readonly reason: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly dataSNOrR2TSN: number;
  /** The complete header (BHS and AHS) of the rejected PDU. */
  readonly data: Uint8Array;
}

export type InitiatorPdu =
  | NopOutPdu
  | ScsiCommandPdu
  | TaskManagementRequestPdu
  | LoginRequestPdu
  | TextRequestPdu
  | DataOutPdu
  | LogoutRequestPdu
  | SnackRequestPdu;

export type TargetPdu =
  | NopInPdu
  | ScsiResponsePdu
  | TaskManagementResponsePdu
  | LoginResponsePdu
  | TextResponsePdu
  | DataInPdu
  | LogoutResponsePdu
  | R2TPdu
  | AsyncMessagePdu
  | RejectPdu;

export type Pdu = InitiatorPdu | TargetPdu;

/** Narrows a PDU union member by opcode: `PduOf<typeof Opcode.DataIn>` is `DataInPdu`. */
export type PduOf<O extends Pdu["opcode"]> = Extract<Pdu, { opcode: O }>;

export function isInitiatorOpcode(opcode: number): boolean {
  return opcode < 0x20;
}
