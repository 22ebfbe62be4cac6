/**
 * Splitting a read's data into Data-In PDUs (RFC 7143 §11.7): each carries at most the
 * initiator's MaxRecvDataSegmentLength (§13.12); a sequence ends (F bit) every MaxBurstLength
 * bytes (§13.13) and at the end; DataSN counts every Data-In of the command from 0 (§11.7.5). The
 * payloads are views of the caller's data: nothing is copied.
 *
 * Status rides on the last PDU (S bit, §11.7.1 "phase collapse") when the caller gives one; it
 * then carries the residual and consumes a StatSN.
 *
 * The split is a pure function of the length, the segment and the burst, so at ErrorRecoveryLevel
 * 1 any PDU can be made again from its DataSN: a Data SNACK asks for exact replicas (RFC 7143
 * §11.16.1), which `resendDataIn` gives from the data the task kept.
 */
import { LocalProtocolError } from "../../core/errors.js";
import { Opcode, RESERVED_TAG } from "../../core/pdu/opcodes.js";
import type { DataInPdu } from "../../core/pdu/types.js";

export interface DataInStatus {
  readonly status: number;
  readonly statSN: number;
  readonly residualOverflow: boolean;
  readonly residualUnderflow: boolean;
  readonly residualCount: number;
}

export interface DataInOptions {
  readonly lun: number;
  readonly initiatorTaskTag: number;
  /** The connection's next StatSN, carried (not consumed) by PDUs without status. */
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** The initiator's MaxRecvDataSegmentLength. */
  readonly maxSegment: number;
  readonly maxBurst: number;
  /** Status for the last PDU, or undefined to send a SCSI Response after. */
  readonly status: DataInStatus | undefined;
  /**
   * ERL >= 1: the Target Transfer Tag the initiator's DataACK names. When given, the last PDU of
   * every sequence but the final one sets the A bit (RFC 7143 §11.7.2: at most once per
   * MaxBurstLength; the final PDU's status is acknowledged by ExpStatSN instead).
   */
  readonly ackTag?: number;
}

/** Where PDU `dataSN` of a transfer of `length` bytes lies. */
export interface DataInPiece {
  readonly offset: number;
  readonly end: number;
  /** Ends a sequence (F bit). */
  readonly final: boolean;
  /** The last PDU of the transfer. */
  readonly last: boolean;
}

/** How many Data-In PDUs carry `length` bytes. */
export function dataInCount(length: number, maxSegment: number, maxBurst: number): number {
  const perBurst = Math.ceil(maxBurst / maxSegment);
  const fullBursts = Math.floor(length / maxBurst);
  const rest = length - fullBursts * maxBurst;
  return fullBursts * perBurst + Math.ceil(rest / maxSegment);
}

/** The piece of the data PDU `dataSN` carries, or undefined past the end. */
export function dataInPiece(length: number, maxSegment: number, maxBurst: number, dataSN: number): DataInPiece | undefined {
  // Every full burst holds the same number of PDUs; only the last burst may be shorter.
  const perBurst = Math.ceil(maxBurst / maxSegment);
  const burst = Math.floor(dataSN / perBurst);
  const offset = burst * maxBurst + (dataSN - burst * perBurst) * maxSegment;
  if (offset >= length) return undefined;
  const burstEnd = Math.min(length, (burst + 1) * maxBurst);
  const end = Math.min(offset + maxSegment, burstEnd);
  return { offset, end, final: end === burstEnd, last: end === length };
}

function check(length: number, o: DataInOptions): void {
  if (length === 0) throw new LocalProtocolError("sendDataIn: no data (send a SCSI Response instead)");
  if (o.maxSegment < 1 || o.maxBurst < 1) throw new LocalProtocolError(`sendDataIn: segment ${o.maxSegment} / burst ${o.maxBurst}`);
}

function pduAt(piece: DataInPiece, dataSN: number, data: Uint8Array, o: DataInOptions): DataInPdu {
  const status = piece.last ? o.status : undefined;
  const acknowledge = o.ackTag !== undefined && piece.final && !piece.last;
  return {
    opcode: Opcode.DataIn,
    final: piece.final,
    acknowledge,
    residualOverflow: status?.residualOverflow ?? false,
    residualUnderflow: status?.residualUnderflow ?? false,
    hasStatus: status !== undefined,
    status: status?.status ?? 0,
    lun: o.lun,
    initiatorTaskTag: o.initiatorTaskTag,
    targetTransferTag: acknowledge ? (o.ackTag as number) : RESERVED_TAG,
    statSN: status?.statSN ?? o.statSN,
    expCmdSN: o.expCmdSN,
    maxCmdSN: o.maxCmdSN,
    dataSN,
    bufferOffset: piece.offset,
    residualCount: status?.residualCount ?? 0,
    data,
  };
}

/** Emits the Data-In PDUs for `data` (at least one byte); returns how many were sent. */
export function sendDataIn(send: (pdu: DataInPdu) => void, data: Uint8Array, o: DataInOptions): number {
  check(data.length, o);
  let dataSN = 0;
  for (;;) {
    const piece = dataInPiece(data.length, o.maxSegment, o.maxBurst, dataSN);
    if (piece === undefined) return dataSN;
    send(pduAt(piece, dataSN, data.subarray(piece.offset, piece.end), o));
    dataSN++;
  }
}

/**
 * Emits again the Data-In PDUs numbered `first` up to (not including) `end` of a transfer of
 * `length` bytes, as the first sending made them; `slice(offset, end)` gives each payload.
 * Returns how many were sent.
 */
export function resendDataIn(
  send: (pdu: DataInPdu) => void,
  length: number,
  slice: (offset: number, end: number) => Uint8Array,
  o: DataInOptions,
  first: number,
  end: number,
): number {
  check(length, o);
  let sent = 0;
  for (let dataSN = first; dataSN < end; dataSN++) {
    const piece = dataInPiece(length, o.maxSegment, o.maxBurst, dataSN);
    if (piece === undefined) break;
    send(pduAt(piece, dataSN, slice(piece.offset, piece.end), o));
    sent++;
  }
  return sent;
}
