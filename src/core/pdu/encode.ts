/**
 * PDU encoding (RFC 7143 §11): free functions writing each opcode's fields at their fixed BHS
 * offsets. The data segment is handed back as the caller's own view, never copied (except the
 * SCSI Response's, which has to be assembled from SenseLength, sense and response data).
 *
 * The encoder checks what it writes: every field must fit its width, and it refuses to produce
 * anything `decodePdu` would reject (reserved enumeration values, the T and C bits together, S
 * without F), with a LocalProtocolError naming the opcode and field.
 */
import { LocalProtocolError } from "../errors.js";
import type { Crc32c } from "../digest/crc32c.js";
import { BHS_LENGTH, MAX_DATA_SEGMENT_LENGTH_FIELD, Opcode, RESERVED_TAG, opcodeName } from "./opcodes.js";
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
import { EMPTY, padding, writeDigest, writeU16, writeU24, writeU32, writeU48 } from "../bytes.js";
import { writeLun } from "./lun.js";
import { AHS_TYPE_BIDI_READ_LENGTH, AHS_TYPE_EXTENDED_CDB, BHS_CDB_LENGTH, MAX_AHS_LENGTH } from "./ahs.js";

export interface DigestSettings {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  readonly crc32c: Crc32c;
}

const DIGEST_LENGTH = 4;

/**
 * Encodes a PDU into the pieces to write, in order:
 *   [0] header: BHS (48) + AHS + header digest (4, if on): one freshly written Uint8Array;
 *   [1] the data segment itself, as given (not copied), only if it is not empty;
 *   [2] padding to a 4-byte boundary + data digest (4, if on), only if that is not empty.
 * RFC 7143 §11.2.3 and §13.1: the data digest covers the data and its padding; a PDU without a
 * data segment carries no data digest.
 */
export function encodePdu(pdu: Pdu, digests: DigestSettings): Uint8Array[] {
  const data = dataSegmentOf(pdu);
  const ahsLength = ahsLengthOf(pdu);
  const covered = BHS_LENGTH + ahsLength;
  const header = new Uint8Array(covered + (digests.headerDigest ? DIGEST_LENGTH : 0));
  writeFields(pdu, header, 0, data.length, ahsLength);
  if (ahsLength !== 0) writeAhs(pdu as ScsiCommandPdu, header, BHS_LENGTH);
  // RFC 7143 §13.1: the header digest covers BHS and AHS.
  if (digests.headerDigest) writeDigest(header, covered, digests.crc32c(header.subarray(0, covered)));
  if (data.length === 0) return [header];

  const pad = padding(data.length);
  const trailerLength = pad + (digests.dataDigest ? DIGEST_LENGTH : 0);
  if (trailerLength === 0) return [header, data];
  const trailer = new Uint8Array(trailerLength);
  if (digests.dataDigest) {
    let crc = digests.crc32c(data);
    if (pad !== 0) crc = digests.crc32c(trailer.subarray(0, pad), crc);
    writeDigest(trailer, pad, crc);
  }
  return [header, data, trailer];
}

/** The total number of bytes `encodePdu` produces for `pdu`. */
export function encodedLength(pdu: Pdu, digests: DigestSettings): number {
  const dataLength = dataSegmentLengthOf(pdu);
  let length = BHS_LENGTH + ahsLengthOf(pdu) + (digests.headerDigest ? DIGEST_LENGTH : 0);
  if (dataLength !== 0) length += dataLength + padding(dataLength) + (digests.dataDigest ? DIGEST_LENGTH : 0);
  return length;
}

/**
 * Writes just the 48-byte BHS of `pdu` into `target` at `offset`, TotalAHSLength and
 * DataSegmentLength included (reserved bytes are zeroed). The AHS (a SCSI Command's extended CDB
 * or bidirectional read length) and digests are not written: use `encodePdu` for those.
 */
export function writeBhs(pdu: Pdu, target: Uint8Array, offset: number): void {
  if (offset < 0 || offset + BHS_LENGTH > target.length) {
    throw new LocalProtocolError(`writeBhs: no room for 48 bytes at offset ${offset} of a ${target.length}-byte buffer`);
  }
  target.fill(0, offset, offset + BHS_LENGTH);
  writeFields(pdu, target, offset, dataSegmentLengthOf(pdu), ahsLengthOf(pdu));
}

// ---------------------------------------------------------------- lengths and payloads

function dataSegmentLengthOf(pdu: Pdu): number {
  switch (pdu.opcode) {
    case Opcode.ScsiResponse: {
      const { sense, responseData } = pdu;
      return sense.length === 0 && responseData.length === 0 ? 0 : 2 + sense.length + responseData.length;
    }
    case Opcode.TaskManagementRequest:
    case Opcode.LogoutRequest:
    case Opcode.SnackRequest:
    case Opcode.TaskManagementResponse:
    case Opcode.LogoutResponse:
    case Opcode.R2T:
      return 0;
    default:
      return pdu.data.length;
  }
}

/** The data segment to send. Only a SCSI Response's is built here; all others are the caller's view. */
function dataSegmentOf(pdu: Pdu): Uint8Array {
  switch (pdu.opcode) {
    case Opcode.ScsiResponse:
      return scsiResponseDataSegment(pdu);
    case Opcode.TaskManagementRequest:
    case Opcode.LogoutRequest:
    case Opcode.SnackRequest:
    case Opcode.TaskManagementResponse:
    case Opcode.LogoutResponse:
    case Opcode.R2T:
      return EMPTY;
    default:
      return pdu.data;
  }
}

/** RFC 7143 §11.4.7: SenseLength (2 bytes), sense data, response data; nothing if both are empty. */
function scsiResponseDataSegment(pdu: ScsiResponsePdu): Uint8Array {
  const { sense, responseData } = pdu;
  if (sense.length === 0 && responseData.length === 0) return EMPTY;
  if (sense.length > 0xffff) throw invalid(pdu.opcode, "sense length", sense.length, "at most 65535 bytes");
  const out = new Uint8Array(2 + sense.length + responseData.length);
  writeU16(out, 0, sense.length);
  out.set(sense, 2);
  out.set(responseData, 2 + sense.length);
  return out;
}

/** Bytes of AHS the PDU needs: only a SCSI Command carries any (RFC 7143 §11.2.2). */
function ahsLengthOf(pdu: Pdu): number {
  if (pdu.opcode !== Opcode.ScsiCommand) return 0;
  let length = 0;
  if (pdu.cdb.length > BHS_CDB_LENGTH) {
    const extra = pdu.cdb.length - BHS_CDB_LENGTH;
    length += 4 + extra + padding(extra);
  }
  if (pdu.bidiReadDataLength !== undefined) length += 8;
  if (length > MAX_AHS_LENGTH) {
    throw invalid(pdu.opcode, "CDB length", pdu.cdb.length, `short enough for the AHS to fit ${MAX_AHS_LENGTH} bytes`);
  }
  return length;
}

/** RFC 7143 §11.2.2.3 and §11.2.2.4: the Extended CDB AHS, then the Bidirectional Read AHS. */
function writeAhs(pdu: ScsiCommandPdu, b: Uint8Array, o: number): void {
  if (pdu.cdb.length > BHS_CDB_LENGTH) {
    const extra = pdu.cdb.length - BHS_CDB_LENGTH;
    // AHSLength counts the reserved byte and the CDB bytes past the first 16: CDBLength - 15.
    writeU16(b, o, extra + 1);
    b[o + 2] = AHS_TYPE_EXTENDED_CDB;
    b.set(pdu.cdb.subarray(BHS_CDB_LENGTH), o + 4);
    o += 4 + extra + padding(extra);
  }
  if (pdu.bidiReadDataLength !== undefined) {
    writeU16(b, o, 5);
    b[o + 2] = AHS_TYPE_BIDI_READ_LENGTH;
    writeU32(b, o + 4, u32(pdu.opcode, "BidiReadExpectedDataTransferLength", pdu.bidiReadDataLength));
  }
}

// ---------------------------------------------------------------- the BHS, opcode by opcode

/** Writes the BHS into zeroed bytes b[o .. o+48). */
function writeFields(pdu: Pdu, b: Uint8Array, o: number, dataLength: number, ahsLength: number): void {
  if (dataLength > MAX_DATA_SEGMENT_LENGTH_FIELD) {
    throw invalid(pdu.opcode, "DataSegmentLength", dataLength, `at most ${MAX_DATA_SEGMENT_LENGTH_FIELD} (24 bits)`);
  }
  b[o + 4] = ahsLength >>> 2;
  writeU24(b, o + 5, dataLength);
  switch (pdu.opcode) {
    case Opcode.NopOut:
      return writeNopOut(pdu, b, o);
    case Opcode.ScsiCommand:
      return writeScsiCommand(pdu, b, o);
    case Opcode.TaskManagementRequest:
      return writeTaskManagementRequest(pdu, b, o);
    case Opcode.LoginRequest:
      return writeLoginRequest(pdu, b, o);
    case Opcode.TextRequest:
      return writeTextRequest(pdu, b, o);
    case Opcode.DataOut:
      return writeDataOut(pdu, b, o);
    case Opcode.LogoutRequest:
      return writeLogoutRequest(pdu, b, o);
    case Opcode.SnackRequest:
      return writeSnackRequest(pdu, b, o);
    case Opcode.NopIn:
      return writeNopIn(pdu, b, o);
    case Opcode.ScsiResponse:
      return writeScsiResponse(pdu, b, o);
    case Opcode.TaskManagementResponse:
      return writeTaskManagementResponse(pdu, b, o);
    case Opcode.LoginResponse:
      return writeLoginResponse(pdu, b, o);
    case Opcode.TextResponse:
      return writeTextResponse(pdu, b, o);
    case Opcode.DataIn:
      return writeDataIn(pdu, b, o);
    case Opcode.LogoutResponse:
      return writeLogoutResponse(pdu, b, o);
    case Opcode.R2T:
      return writeR2T(pdu, b, o);
    case Opcode.AsyncMessage:
      return writeAsyncMessage(pdu, b, o);
    case Opcode.Reject:
      return writeReject(pdu, b, o);
    default:
      throw new LocalProtocolError(`encodePdu: unknown opcode ${String((pdu as { opcode: unknown }).opcode)}`);
  }
}

/** RFC 7143 §11.2.1: the I bit, byte 0 bit 6, on the opcodes that may be immediate. */
function immediateBit(immediate: boolean): number {
  return immediate ? 0x40 : 0;
}

/** RFC 7143 §11.18 */
function writeNopOut(p: NopOutPdu, b: Uint8Array, o: number): void {
  b[o] = immediateBit(p.immediate) | Opcode.NopOut;
  b[o + 1] = 0x80;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeU32(b, o + 24, u32(p.opcode, "CmdSN", p.cmdSN));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
}

/** RFC 7143 §11.3 */
function writeScsiCommand(p: ScsiCommandPdu, b: Uint8Array, o: number): void {
  if (!Number.isInteger(p.attribute) || p.attribute < 0 || p.attribute > 4) {
    throw invalid(p.opcode, "ATTR", p.attribute, "a task attribute 0-4 (RFC 7143 §11.3.1)");
  }
  b[o] = immediateBit(p.immediate) | Opcode.ScsiCommand;
  b[o + 1] = (p.final ? 0x80 : 0) | (p.read ? 0x40 : 0) | (p.write ? 0x20 : 0) | p.attribute;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "ExpectedDataTransferLength", p.expectedDataTransferLength));
  writeU32(b, o + 24, u32(p.opcode, "CmdSN", p.cmdSN));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
  // RFC 7143 §11.3.5: a CDB shorter than 16 bytes is padded with zeros (already there).
  const cdb = p.cdb.length > BHS_CDB_LENGTH ? p.cdb.subarray(0, BHS_CDB_LENGTH) : p.cdb;
  b.set(cdb, o + 32);
}

/** RFC 7143 §11.5 */
function writeTaskManagementRequest(p: TaskManagementRequestPdu, b: Uint8Array, o: number): void {
  if (!Number.isInteger(p.function) || p.function < 1 || p.function > 8) {
    throw invalid(p.opcode, "Function", p.function, "a function code 1-8 (RFC 7143 §11.5.1)");
  }
  b[o] = immediateBit(p.immediate) | Opcode.TaskManagementRequest;
  b[o + 1] = 0x80 | p.function;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "ReferencedTaskTag", p.referencedTaskTag));
  writeU32(b, o + 24, u32(p.opcode, "CmdSN", p.cmdSN));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
  writeU32(b, o + 32, u32(p.opcode, "RefCmdSN", p.refCmdSN));
  writeU32(b, o + 36, u32(p.opcode, "ExpDataSN", p.expDataSN));
}

/** RFC 7143 §11.12.1-3: T, C, CSG and NSG share byte 1 of Login Request and Response. */
function loginFlags(opcode: number, transit: boolean, cont: boolean, csg: number, nsg: number): number {
  if (transit && cont) throw refuse(opcode, "the T and C bits may not both be set (RFC 7143 §11.12.2)");
  checkStage(opcode, "CSG", csg);
  checkStage(opcode, "NSG", nsg);
  return (transit ? 0x80 : 0) | (cont ? 0x40 : 0) | (csg << 2) | nsg;
}

function checkStage(opcode: number, field: string, stage: number): void {
  if (stage !== 0 && stage !== 1 && stage !== 3) throw invalid(opcode, field, stage, "a login stage 0, 1 or 3");
}

/** RFC 7143 §11.12 */
function writeLoginRequest(p: LoginRequestPdu, b: Uint8Array, o: number): void {
  // RFC 7143 §11.12: the I bit is always 1 on a Login Request.
  b[o] = 0x40 | Opcode.LoginRequest;
  b[o + 1] = loginFlags(p.opcode, p.transit, p.continue, p.currentStage, p.nextStage);
  b[o + 2] = u8(p.opcode, "Version-max", p.versionMax);
  b[o + 3] = u8(p.opcode, "Version-min", p.versionMin);
  writeU48(b, o + 8, u48(p.opcode, "ISID", p.isid));
  writeU16(b, o + 14, u16(p.opcode, "TSIH", p.tsih));
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU16(b, o + 20, u16(p.opcode, "CID", p.cid));
  writeU32(b, o + 24, u32(p.opcode, "CmdSN", p.cmdSN));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
}

/** RFC 7143 §11.10.1-2, §11.11.1-2: F and C; "C set requires F clear". */
function textFlags(opcode: number, final: boolean, cont: boolean): number {
  if (final && cont) throw refuse(opcode, "the F and C bits may not both be set (RFC 7143 §11.10.2)");
  return (final ? 0x80 : 0) | (cont ? 0x40 : 0);
}

/** RFC 7143 §11.10 */
function writeTextRequest(p: TextRequestPdu, b: Uint8Array, o: number): void {
  b[o] = immediateBit(p.immediate) | Opcode.TextRequest;
  b[o + 1] = textFlags(p.opcode, p.final, p.continue);
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeU32(b, o + 24, u32(p.opcode, "CmdSN", p.cmdSN));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
}

/** RFC 7143 §11.7 */
function writeDataOut(p: DataOutPdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.DataOut;
  b[o + 1] = p.final ? 0x80 : 0;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
  writeU32(b, o + 36, u32(p.opcode, "DataSN", p.dataSN));
  writeU32(b, o + 40, u32(p.opcode, "BufferOffset", p.bufferOffset));
}

/** RFC 7143 §11.14 */
function writeLogoutRequest(p: LogoutRequestPdu, b: Uint8Array, o: number): void {
  if (!Number.isInteger(p.reason) || p.reason < 0 || p.reason > 2) {
    throw invalid(p.opcode, "ReasonCode", p.reason, "a reason code 0-2 (RFC 7143 §11.14.1)");
  }
  b[o] = immediateBit(p.immediate) | Opcode.LogoutRequest;
  b[o + 1] = 0x80 | p.reason;
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU16(b, o + 20, u16(p.opcode, "CID", p.cid));
  writeU32(b, o + 24, u32(p.opcode, "CmdSN", p.cmdSN));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
}

/** RFC 7143 §11.16 */
function writeSnackRequest(p: SnackRequestPdu, b: Uint8Array, o: number): void {
  if (!Number.isInteger(p.type) || p.type < 0 || p.type > 3) {
    throw invalid(p.opcode, "Type", p.type, "a SNACK type 0-3 (RFC 7143 §11.16.1)");
  }
  b[o] = Opcode.SnackRequest;
  b[o + 1] = 0x80 | p.type;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeU32(b, o + 28, u32(p.opcode, "ExpStatSN", p.expStatSN));
  writeU32(b, o + 40, u32(p.opcode, "BegRun", p.begRun));
  writeU32(b, o + 44, u32(p.opcode, "RunLength", p.runLength));
}

/** StatSN, ExpCmdSN and MaxCmdSN sit at 24, 28 and 32 in every target PDU that has them. */
function writeStatus(opcode: number, b: Uint8Array, o: number, statSN: number, expCmdSN: number, maxCmdSN: number): void {
  writeU32(b, o + 24, u32(opcode, "StatSN", statSN));
  writeU32(b, o + 28, u32(opcode, "ExpCmdSN", expCmdSN));
  writeU32(b, o + 32, u32(opcode, "MaxCmdSN", maxCmdSN));
}

/** RFC 7143 §11.19 */
function writeNopIn(p: NopInPdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.NopIn;
  b[o + 1] = 0x80;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
}

/** RFC 7143 §11.4 */
function writeScsiResponse(p: ScsiResponsePdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.ScsiResponse;
  b[o + 1] =
    0x80 |
    (p.bidiReadResidualOverflow ? 0x10 : 0) |
    (p.bidiReadResidualUnderflow ? 0x08 : 0) |
    (p.residualOverflow ? 0x04 : 0) |
    (p.residualUnderflow ? 0x02 : 0);
  b[o + 2] = u8(p.opcode, "Response", p.response);
  b[o + 3] = u8(p.opcode, "Status", p.status);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "SNACKTag", p.snackTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  writeU32(b, o + 36, u32(p.opcode, "ExpDataSN", p.expDataSN));
  writeU32(b, o + 40, u32(p.opcode, "BidiReadResidualCount", p.bidiReadResidualCount));
  writeU32(b, o + 44, u32(p.opcode, "ResidualCount", p.residualCount));
}

/** RFC 7143 §11.6 */
function writeTaskManagementResponse(p: TaskManagementResponsePdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.TaskManagementResponse;
  b[o + 1] = 0x80;
  b[o + 2] = u8(p.opcode, "Response", p.response);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
}

/** RFC 7143 §11.13 */
function writeLoginResponse(p: LoginResponsePdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.LoginResponse;
  b[o + 1] = loginFlags(p.opcode, p.transit, p.continue, p.currentStage, p.nextStage);
  b[o + 2] = u8(p.opcode, "Version-max", p.versionMax);
  b[o + 3] = u8(p.opcode, "Version-active", p.versionActive);
  writeU48(b, o + 8, u48(p.opcode, "ISID", p.isid));
  writeU16(b, o + 14, u16(p.opcode, "TSIH", p.tsih));
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  b[o + 36] = u8(p.opcode, "Status-Class", p.statusClass);
  b[o + 37] = u8(p.opcode, "Status-Detail", p.statusDetail);
}

/** RFC 7143 §11.11 */
function writeTextResponse(p: TextResponsePdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.TextResponse;
  b[o + 1] = textFlags(p.opcode, p.final, p.continue);
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
}

/** RFC 7143 §11.7 */
function writeDataIn(p: DataInPdu, b: Uint8Array, o: number): void {
  // RFC 7143 §11.7: status may only ride on the final Data-In of a command.
  if (p.hasStatus && !p.final) throw refuse(p.opcode, "the S bit requires the F bit (RFC 7143 §11.7)");
  b[o] = Opcode.DataIn;
  b[o + 1] =
    (p.final ? 0x80 : 0) |
    (p.acknowledge ? 0x40 : 0) |
    (p.residualOverflow ? 0x04 : 0) |
    (p.residualUnderflow ? 0x02 : 0) |
    (p.hasStatus ? 0x01 : 0);
  b[o + 3] = u8(p.opcode, "Status", p.status);
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  writeU32(b, o + 36, u32(p.opcode, "DataSN", p.dataSN));
  writeU32(b, o + 40, u32(p.opcode, "BufferOffset", p.bufferOffset));
  writeU32(b, o + 44, u32(p.opcode, "ResidualCount", p.residualCount));
}

/** RFC 7143 §11.15 */
function writeLogoutResponse(p: LogoutResponsePdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.LogoutResponse;
  b[o + 1] = 0x80;
  b[o + 2] = u8(p.opcode, "Response", p.response);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  writeU16(b, o + 40, u16(p.opcode, "Time2Wait", p.time2Wait));
  writeU16(b, o + 42, u16(p.opcode, "Time2Retain", p.time2Retain));
}

/** RFC 7143 §11.8 */
function writeR2T(p: R2TPdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.R2T;
  b[o + 1] = 0x80;
  writeLun(b, o + 8, p.lun);
  writeU32(b, o + 16, u32(p.opcode, "InitiatorTaskTag", p.initiatorTaskTag));
  writeU32(b, o + 20, u32(p.opcode, "TargetTransferTag", p.targetTransferTag));
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  writeU32(b, o + 36, u32(p.opcode, "R2TSN", p.r2tSN));
  writeU32(b, o + 40, u32(p.opcode, "BufferOffset", p.bufferOffset));
  writeU32(b, o + 44, u32(p.opcode, "DesiredDataTransferLength", p.desiredDataTransferLength));
}

/** RFC 7143 §11.9 */
function writeAsyncMessage(p: AsyncMessagePdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.AsyncMessage;
  b[o + 1] = 0x80;
  writeLun(b, o + 8, p.lun);
  // RFC 7143 §11.9: the ITT field of an Async Message is always the reserved tag.
  writeU32(b, o + 16, RESERVED_TAG);
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  b[o + 36] = u8(p.opcode, "AsyncEvent", p.asyncEvent);
  b[o + 37] = u8(p.opcode, "AsyncVCode", p.asyncVCode);
  writeU16(b, o + 38, u16(p.opcode, "Parameter1", p.parameter1));
  writeU16(b, o + 40, u16(p.opcode, "Parameter2", p.parameter2));
  writeU16(b, o + 42, u16(p.opcode, "Parameter3", p.parameter3));
}

/** RFC 7143 §11.17 */
function writeReject(p: RejectPdu, b: Uint8Array, o: number): void {
  b[o] = Opcode.Reject;
  b[o + 1] = 0x80;
  b[o + 2] = u8(p.opcode, "Reason", p.reason);
  // RFC 7143 §11.17: the ITT field of a Reject is always the reserved tag.
  writeU32(b, o + 16, RESERVED_TAG);
  writeStatus(p.opcode, b, o, p.statSN, p.expCmdSN, p.maxCmdSN);
  writeU32(b, o + 36, u32(p.opcode, "DataSN/R2TSN", p.dataSNOrR2TSN));
}

// ---------------------------------------------------------------- field checks

function invalid(opcode: number, field: string, value: number, what: string): LocalProtocolError {
  return new LocalProtocolError(`encodePdu ${opcodeName(opcode)}: ${field} ${value} is not ${what}`);
}

function refuse(opcode: number, text: string): LocalProtocolError {
  return new LocalProtocolError(`encodePdu ${opcodeName(opcode)}: ${text}`);
}

function u32(opcode: number, field: string, v: number): number {
  if (v >>> 0 !== v) throw invalid(opcode, field, v, "an unsigned 32-bit integer");
  return v;
}

function u16(opcode: number, field: string, v: number): number {
  if ((v & 0xffff) !== v) throw invalid(opcode, field, v, "an unsigned 16-bit integer");
  return v;
}

function u8(opcode: number, field: string, v: number): number {
  if ((v & 0xff) !== v) throw invalid(opcode, field, v, "an unsigned 8-bit integer");
  return v;
}

function u48(opcode: number, field: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff_ffff) throw invalid(opcode, field, v, "an unsigned 48-bit integer");
  return v;
}
