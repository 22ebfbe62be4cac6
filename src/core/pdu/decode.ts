/**
 * PDU decoding (RFC 7143 §11): one decoder per opcode, reached through one table, reading fields
 * at fixed BHS offsets. Payloads are `subarray` views of the frame: nothing is copied except an
 * extended CDB, which has to be joined to the BHS's first 16 bytes.
 *
 * Strictness: a peer's PDU is refused (RemoteProtocolError naming opcode, field and value) when it
 * breaks framing or meaning: an unknown opcode; an AHS on an opcode other than SCSI Command, or a
 * malformed one; a data segment on an opcode that has none; a SenseLength past the data segment;
 * a value our types cannot hold because the RFC reserves it (task attribute 5-7, TMF function 0 or
 * 9-127, logout reason 3-127, SNACK type 4-15, login stage 2); flag pairs the RFC forbids (T with
 * C, F with C, S without F). Reserved bits and bytes the RFC tells receivers to ignore are ignored.
 */
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { hex } from "../hex.js";
import {
  BHS_LENGTH,
  Opcode,
  opcodeName,
  type LoginStage,
  type LogoutReason,
  type SnackType,
  type TaskAttribute,
  type TaskManagementFunction,
} from "./opcodes.js";
import type {
  AsyncMessagePdu,
  DataInPdu,
  DataOutPdu,
  LoginRequestPdu,
  LoginResponsePdu,
  LogoutRequestPdu,
  LogoutResponsePdu,
  NopInPdu,
  NopOutPdu,
  Pdu,
  R2TPdu,
  RejectPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  SnackRequestPdu,
  TaskManagementRequestPdu,
  TaskManagementResponsePdu,
  TextRequestPdu,
  TextResponsePdu,
} from "./types.js";
import type { Frame } from "./framer.js";
import { EMPTY, readU16, readU24, readU32, readU48 } from "../bytes.js";
import { readLun } from "./lun.js";
import { BHS_CDB_LENGTH, parseCommandAhs } from "./ahs.js";

type Decoder = (bhs: Uint8Array, ahs: Uint8Array, data: Uint8Array) => Pdu;

/**
 * A PDU whose opcode RFC 7143 does not define (§11.2.1.2). Framing is intact, so a target may
 * refuse the one PDU with a Reject "command not supported" (§11.17.1) and go on; callers tell it
 * apart from other refusals by class, never by the message.
 */
export class UnknownOpcodeError extends RemoteProtocolError {
  readonly opcode: number;
  constructor(opcode: number, message: string) {
    super(message);
    this.opcode = opcode;
  }
}

/**
 * Decodes one framed PDU. Throws RemoteProtocolError for what the peer got wrong (see the module
 * comment), LocalProtocolError if the frame's parts do not match its own length fields (a frame
 * not made by the Framer). `frame.dataDigestError` is not looked at: the session decides.
 */
export function decodePdu(frame: Frame): Pdu {
  const { bhs, ahs, data } = frame;
  if (bhs.length !== BHS_LENGTH || ahs.length !== bhs[4]! * 4 || data.length !== readU24(bhs, 5)) {
    throw new LocalProtocolError(
      `decodePdu: frame parts (BHS ${bhs.length}, AHS ${ahs.length}, data ${data.length} bytes) do not match the header's length fields`,
    );
  }
  const opcode = bhs[0]! & 0x3f;
  const decoder = DECODERS[opcode];
  if (decoder === undefined) {
    throw new UnknownOpcodeError(opcode, `unknown opcode ${hex(opcode, 2)} (ITT ${hex(readU32(bhs, 16), 8)})`);
  }
  // RFC 7143 §11.2.2: only the SCSI Command defines AHS types (extended CDB, bidirectional length).
  if (ahs.length !== 0 && opcode !== Opcode.ScsiCommand) {
    throw refuse(bhs, `TotalAHSLength ${bhs[4]} on an opcode that carries no AHS`);
  }
  return decoder(bhs, ahs, data);
}

// ---------------------------------------------------------------- helpers

function refuse(bhs: Uint8Array, what: string): RemoteProtocolError {
  const opcode = bhs[0]! & 0x3f;
  return new RemoteProtocolError(`${opcodeName(opcode)} (${hex(opcode, 2)}, ITT ${hex(readU32(bhs, 16), 8)}): ${what}`);
}

/** RFC 7143 §11.2.1: the I bit. */
function immediate(bhs: Uint8Array): boolean {
  return (bhs[0]! & 0x40) !== 0;
}

function bit(bhs: Uint8Array, mask: number): boolean {
  return (bhs[1]! & mask) !== 0;
}

function requireNoData(bhs: Uint8Array, data: Uint8Array): void {
  if (data.length !== 0) throw refuse(bhs, `DataSegmentLength ${data.length} on an opcode that carries no data segment`);
}

/** RFC 7143 §11.12.3: CSG and NSG are 0, 1 or 3; 2 is reserved. */
function loginStage(bhs: Uint8Array, field: string, stage: number): LoginStage {
  if (stage === 2) throw refuse(bhs, `${field} 2 is a reserved login stage`);
  return stage as LoginStage;
}

/** Byte 1 of Login Request and Response: T, C, CSG, NSG (RFC 7143 §11.12.1-3, §11.13). */
function loginFlags(bhs: Uint8Array): { transit: boolean; cont: boolean; csg: LoginStage; nsg: LoginStage } {
  const flags = bhs[1]!;
  const transit = (flags & 0x80) !== 0;
  const cont = (flags & 0x40) !== 0;
  if (transit && cont) throw refuse(bhs, "the T and C bits are both set (RFC 7143 §11.12.2)");
  const csg = loginStage(bhs, "CSG", (flags >>> 2) & 3);
  // RFC 7143 §11.12.3: NSG is reserved (ignored) unless T is set; a reserved 2 there reads as 0.
  const rawNsg = flags & 3;
  const nsg = !transit && rawNsg === 2 ? 0 : loginStage(bhs, "NSG", rawNsg);
  return { transit, cont, csg, nsg };
}

/** RFC 7143 §11.10.2, §11.11.2: a text PDU with C set must have F clear. */
function textFinal(bhs: Uint8Array): boolean {
  const final = bit(bhs, 0x80);
  if (final && bit(bhs, 0x40)) throw refuse(bhs, "the F and C bits are both set (RFC 7143 §11.10.2)");
  return final;
}

// ---------------------------------------------------------------- initiator to target

/** RFC 7143 §11.18 */
function decodeNopOut(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): NopOutPdu {
  return {
    opcode: Opcode.NopOut,
    immediate: immediate(bhs),
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    cmdSN: readU32(bhs, 24),
    expStatSN: readU32(bhs, 28),
    data,
  };
}

/** RFC 7143 §11.3 */
function decodeScsiCommand(bhs: Uint8Array, ahs: Uint8Array, data: Uint8Array): ScsiCommandPdu {
  const flags = bhs[1]!;
  const attribute = flags & 0x07;
  if (attribute > 4) throw refuse(bhs, `ATTR ${attribute} is a reserved task attribute (RFC 7143 §11.3.1)`);
  const immediateBit = immediate(bhs);
  const lun = readLun(bhs, 8);
  const initiatorTaskTag = readU32(bhs, 16);
  const expectedDataTransferLength = readU32(bhs, 20);
  const cmdSN = readU32(bhs, 24);
  const expStatSN = readU32(bhs, 28);
  if (ahs.length === 0) {
    return {
      opcode: Opcode.ScsiCommand,
      immediate: immediateBit,
      final: (flags & 0x80) !== 0,
      read: (flags & 0x40) !== 0,
      write: (flags & 0x20) !== 0,
      attribute: attribute as TaskAttribute,
      lun,
      initiatorTaskTag,
      expectedDataTransferLength,
      cmdSN,
      expStatSN,
      cdb: bhs.subarray(32, 32 + BHS_CDB_LENGTH),
      data,
    };
  }
  const { cdb, bidiReadDataLength } = parseCommandAhs(bhs, ahs);
  const pdu: ScsiCommandPdu = {
    opcode: Opcode.ScsiCommand,
    immediate: immediateBit,
    final: (flags & 0x80) !== 0,
    read: (flags & 0x40) !== 0,
    write: (flags & 0x20) !== 0,
    attribute: attribute as TaskAttribute,
    lun,
    initiatorTaskTag,
    expectedDataTransferLength,
    cmdSN,
    expStatSN,
    cdb,
    data,
  };
  // The field is optional: present only when the AHS was, so a decoded PDU equals the one encoded.
  return bidiReadDataLength === undefined ? pdu : { ...pdu, bidiReadDataLength };
}

/** RFC 7143 §11.5 */
function decodeTaskManagementRequest(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): TaskManagementRequestPdu {
  requireNoData(bhs, data);
  const fn = bhs[1]! & 0x7f;
  if (fn < 1 || fn > 8) throw refuse(bhs, `Function ${fn} is not a defined task management function (RFC 7143 §11.5.1)`);
  return {
    opcode: Opcode.TaskManagementRequest,
    immediate: immediate(bhs),
    function: fn as TaskManagementFunction,
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    referencedTaskTag: readU32(bhs, 20),
    cmdSN: readU32(bhs, 24),
    expStatSN: readU32(bhs, 28),
    refCmdSN: readU32(bhs, 32),
    expDataSN: readU32(bhs, 36),
  };
}

/** RFC 7143 §11.12 */
function decodeLoginRequest(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): LoginRequestPdu {
  const { transit, cont, csg, nsg } = loginFlags(bhs);
  return {
    opcode: Opcode.LoginRequest,
    transit,
    continue: cont,
    currentStage: csg,
    nextStage: nsg,
    versionMax: bhs[2]!,
    versionMin: bhs[3]!,
    isid: readU48(bhs, 8),
    tsih: readU16(bhs, 14),
    initiatorTaskTag: readU32(bhs, 16),
    cid: readU16(bhs, 20),
    cmdSN: readU32(bhs, 24),
    expStatSN: readU32(bhs, 28),
    data,
  };
}

/** RFC 7143 §11.10 */
function decodeTextRequest(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): TextRequestPdu {
  return {
    opcode: Opcode.TextRequest,
    immediate: immediate(bhs),
    final: textFinal(bhs),
    continue: bit(bhs, 0x40),
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    cmdSN: readU32(bhs, 24),
    expStatSN: readU32(bhs, 28),
    data,
  };
}

/** RFC 7143 §11.7 */
function decodeDataOut(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): DataOutPdu {
  return {
    opcode: Opcode.DataOut,
    final: bit(bhs, 0x80),
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    expStatSN: readU32(bhs, 28),
    dataSN: readU32(bhs, 36),
    bufferOffset: readU32(bhs, 40),
    data,
  };
}

/** RFC 7143 §11.14 */
function decodeLogoutRequest(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): LogoutRequestPdu {
  requireNoData(bhs, data);
  const reason = bhs[1]! & 0x7f;
  if (reason > 2) throw refuse(bhs, `ReasonCode ${reason} is reserved (RFC 7143 §11.14.1)`);
  return {
    opcode: Opcode.LogoutRequest,
    immediate: immediate(bhs),
    reason: reason as LogoutReason,
    initiatorTaskTag: readU32(bhs, 16),
    cid: readU16(bhs, 20),
    cmdSN: readU32(bhs, 24),
    expStatSN: readU32(bhs, 28),
  };
}

/** RFC 7143 §11.16 */
function decodeSnackRequest(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): SnackRequestPdu {
  requireNoData(bhs, data);
  const type = bhs[1]! & 0x0f;
  if (type > 3) throw refuse(bhs, `Type ${type} is a reserved SNACK type (RFC 7143 §11.16.1)`);
  return {
    opcode: Opcode.SnackRequest,
    type: type as SnackType,
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    expStatSN: readU32(bhs, 28),
    begRun: readU32(bhs, 40),
    runLength: readU32(bhs, 44),
  };
}

// ---------------------------------------------------------------- target to initiator

/** RFC 7143 §11.19 */
function decodeNopIn(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): NopInPdu {
  return {
    opcode: Opcode.NopIn,
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    data,
  };
}

/** RFC 7143 §11.4 */
function decodeScsiResponse(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): ScsiResponsePdu {
  let sense = EMPTY;
  let responseData = EMPTY;
  if (data.length !== 0) {
    // RFC 7143 §11.4.7: a data segment starts with the 2-byte SenseLength.
    if (data.length < 2) throw refuse(bhs, `DataSegmentLength ${data.length} is too short for SenseLength`);
    const senseLength = readU16(data, 0);
    if (2 + senseLength > data.length) {
      throw refuse(bhs, `SenseLength ${senseLength} runs past the data segment (DataSegmentLength ${data.length})`);
    }
    sense = data.subarray(2, 2 + senseLength);
    responseData = data.subarray(2 + senseLength);
  }
  const flags = bhs[1]!;
  return {
    opcode: Opcode.ScsiResponse,
    bidiReadResidualOverflow: (flags & 0x10) !== 0,
    bidiReadResidualUnderflow: (flags & 0x08) !== 0,
    residualOverflow: (flags & 0x04) !== 0,
    residualUnderflow: (flags & 0x02) !== 0,
    response: bhs[2]!,
    status: bhs[3]!,
    initiatorTaskTag: readU32(bhs, 16),
    snackTag: readU32(bhs, 20),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    expDataSN: readU32(bhs, 36),
    bidiReadResidualCount: readU32(bhs, 40),
    residualCount: readU32(bhs, 44),
    sense,
    responseData,
  };
}

/** RFC 7143 §11.6 */
function decodeTaskManagementResponse(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): TaskManagementResponsePdu {
  requireNoData(bhs, data);
  return {
    opcode: Opcode.TaskManagementResponse,
    response: bhs[2]!,
    initiatorTaskTag: readU32(bhs, 16),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
  };
}

/** RFC 7143 §11.13 */
function decodeLoginResponse(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): LoginResponsePdu {
  const { transit, cont, csg, nsg } = loginFlags(bhs);
  return {
    opcode: Opcode.LoginResponse,
    transit,
    continue: cont,
    currentStage: csg,
    nextStage: nsg,
    versionMax: bhs[2]!,
    versionActive: bhs[3]!,
    isid: readU48(bhs, 8),
    tsih: readU16(bhs, 14),
    initiatorTaskTag: readU32(bhs, 16),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    statusClass: bhs[36]!,
    statusDetail: bhs[37]!,
    data,
  };
}

/** RFC 7143 §11.11 */
function decodeTextResponse(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): TextResponsePdu {
  return {
    opcode: Opcode.TextResponse,
    final: textFinal(bhs),
    continue: bit(bhs, 0x40),
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    data,
  };
}

/** RFC 7143 §11.7 */
function decodeDataIn(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): DataInPdu {
  const flags = bhs[1]!;
  const final = (flags & 0x80) !== 0;
  const hasStatus = (flags & 0x01) !== 0;
  // RFC 7143 §11.7: status may only ride on the final Data-In of a command.
  if (hasStatus && !final) throw refuse(bhs, "the S bit is set without the F bit (RFC 7143 §11.7)");
  return {
    opcode: Opcode.DataIn,
    final,
    acknowledge: (flags & 0x40) !== 0,
    residualOverflow: (flags & 0x04) !== 0,
    residualUnderflow: (flags & 0x02) !== 0,
    hasStatus,
    status: bhs[3]!,
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    dataSN: readU32(bhs, 36),
    bufferOffset: readU32(bhs, 40),
    residualCount: readU32(bhs, 44),
    data,
  };
}

/** RFC 7143 §11.15 */
function decodeLogoutResponse(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): LogoutResponsePdu {
  requireNoData(bhs, data);
  return {
    opcode: Opcode.LogoutResponse,
    response: bhs[2]!,
    initiatorTaskTag: readU32(bhs, 16),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    time2Wait: readU16(bhs, 40),
    time2Retain: readU16(bhs, 42),
  };
}

/** RFC 7143 §11.8 */
function decodeR2T(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): R2TPdu {
  requireNoData(bhs, data);
  return {
    opcode: Opcode.R2T,
    lun: readLun(bhs, 8),
    initiatorTaskTag: readU32(bhs, 16),
    targetTransferTag: readU32(bhs, 20),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    r2tSN: readU32(bhs, 36),
    bufferOffset: readU32(bhs, 40),
    desiredDataTransferLength: readU32(bhs, 44),
  };
}

/** RFC 7143 §11.9 */
function decodeAsyncMessage(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): AsyncMessagePdu {
  return {
    opcode: Opcode.AsyncMessage,
    lun: readLun(bhs, 8),
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    asyncEvent: bhs[36]!,
    asyncVCode: bhs[37]!,
    parameter1: readU16(bhs, 38),
    parameter2: readU16(bhs, 40),
    parameter3: readU16(bhs, 42),
    data,
  };
}

/** RFC 7143 §11.17 */
function decodeReject(bhs: Uint8Array, _ahs: Uint8Array, data: Uint8Array): RejectPdu {
  return {
    opcode: Opcode.Reject,
    reason: bhs[2]!,
    statSN: readU32(bhs, 24),
    expCmdSN: readU32(bhs, 28),
    maxCmdSN: readU32(bhs, 32),
    dataSNOrR2TSN: readU32(bhs, 36),
    data,
  };
}

/** The dispatch table: index is the 6-bit opcode. */
const DECODERS: readonly (Decoder | undefined)[] = (() => {
  const table: (Decoder | undefined)[] = new Array<Decoder | undefined>(64).fill(undefined);
  table[Opcode.NopOut] = decodeNopOut;
  table[Opcode.ScsiCommand] = decodeScsiCommand;
  table[Opcode.TaskManagementRequest] = decodeTaskManagementRequest;
  table[Opcode.LoginRequest] = decodeLoginRequest;
  table[Opcode.TextRequest] = decodeTextRequest;
  table[Opcode.DataOut] = decodeDataOut;
  table[Opcode.LogoutRequest] = decodeLogoutRequest;
  table[Opcode.SnackRequest] = decodeSnackRequest;
  table[Opcode.NopIn] = decodeNopIn;
  table[Opcode.ScsiResponse] = decodeScsiResponse;
  table[Opcode.TaskManagementResponse] = decodeTaskManagementResponse;
  table[Opcode.LoginResponse] = decodeLoginResponse;
  table[Opcode.TextResponse] = decodeTextResponse;
  table[Opcode.DataIn] = decodeDataIn;
  table[Opcode.LogoutResponse] = decodeLogoutResponse;
  table[Opcode.R2T] = decodeR2T;
  table[Opcode.AsyncMessage] = decodeAsyncMessage;
  table[Opcode.Reject] = decodeReject;
  return table;
})();
