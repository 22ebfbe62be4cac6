/**
 * Splitting a read's data into Data-In PDUs (RFC 7143 §11.7): each carries at most the
 * initiator's MaxRecvDataSegmentLength (§13.12); a sequence ends (F bit) every MaxBurstLength
 * bytes (§13.13) and at the end; DataSN counts every Data-In of the command from 0 (§11.7.5). The
 * payloads are views of the caller's data: nothing is copied.
 *
 * Status rides on the last PDU (S bit, §11.7.1 "phase collapse") when the caller gives one; it
 * then carries the residual and consumes a StatSN.
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
}

/** Emits the Data-In PDUs for `data` (at least one byte); returns how many were sent. */
export function sendDataIn(send: (pdu: DataInPdu) => void, data: Uint8Array, o: DataInOptions): number {
  if (data.length === 0) throw new LocalProtocolError("sendDataIn: no data (send a SCSI Response instead)");
  if (o.maxSegment < 1 || o.maxBurst < 1) throw new LocalProtocolError(`sendDataIn: segment ${o.maxSegment} / burst ${o.maxBurst}`);
  let dataSN = 0;
  let offset = 0;
  while (offset < data.length) {
    // The sequence this PDU belongs to ends at the next MaxBurstLength boundary (or the data's end).
    const burstEnd = Math.min(data.length, (Math.floor(offset / o.maxBurst) + 1) * o.maxBurst);
    const size = Math.min(o.maxSegment, burstEnd - offset);
    const end = offset + size;
    const last = end === data.length;
    const status = last ? o.status : undefined;
    send({
      opcode: Opcode.DataIn,
      final: end === burstEnd,
      acknowledge: false,
      residualOverflow: status?.residualOverflow ?? false,
      residualUnderflow: status?.residualUnderflow ?? false,
      hasStatus: status !== undefined,
      status: status?.status ?? 0,
      lun: o.lun,
      initiatorTaskTag: o.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: status?.statSN ?? o.statSN,
      expCmdSN: o.expCmdSN,
      maxCmdSN: o.maxCmdSN,
      dataSN: dataSN++,
      bufferOffset: offset,
      residualCount: status?.residualCount ?? 0,
      data: data.subarray(offset, end),
    });
    offset = end;
  }
  return dataSN;
}
