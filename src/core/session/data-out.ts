import { Opcode, RESERVED_TAG } from "../pdu/opcodes.js";
import type { DataOutPdu } from "../pdu/types.js";

/**
 * Splits one Data-Out sequence into PDUs (RFC 7143 §11.7): each carries at most
 * `maxSegment` bytes (the target's MaxRecvDataSegmentLength), DataSN counts from 0 within the
 * sequence (§11.7.5), and the F bit marks the sequence's last PDU. The payloads are views of the
 * caller's buffer: no byte is copied here.
 *
 * `ttt` is the R2T's Target Transfer Tag, or RESERVED_TAG for unsolicited data (§11.7.4).
 */
export function dataOutSequence(
  send: (pdu: DataOutPdu) => void,
  data: Uint8Array,
  fields: {
    readonly lun: number;
    readonly initiatorTaskTag: number;
    readonly targetTransferTag: number;
    readonly expStatSN: number;
  },
  offset: number,
  length: number,
  maxSegment: number,
): void {
  const end = offset + length;
  let dataSN = 0;
  for (let at = offset; at < end; at += maxSegment) {
    const size = Math.min(maxSegment, end - at);
    send({
      opcode: Opcode.DataOut,
      final: at + size >= end,
      lun: fields.lun,
      initiatorTaskTag: fields.initiatorTaskTag,
      targetTransferTag: fields.targetTransferTag,
      expStatSN: fields.expStatSN,
      dataSN: dataSN++,
      bufferOffset: at,
      data: data.subarray(at, at + size),
    });
  }
}

/** How a write's data goes out before any R2T (RFC 7143 §13.10, §13.11, §13.14). */
export interface UnsolicitedPlan {
  /** Bytes carried in the SCSI Command PDU itself. */
  readonly immediate: number;
  /** Bytes sent in unsolicited Data-Out PDUs right after the command. */
  readonly unsolicited: number;
}

export function planUnsolicited(
  transferLength: number,
  params: {
    readonly immediateData: boolean;
    readonly initialR2T: boolean;
    readonly firstBurstLength: number;
    readonly maxSendDataSegmentLength: number;
  },
): UnsolicitedPlan {
  if (transferLength === 0) return { immediate: 0, unsolicited: 0 };
  // RFC 7143 §13.14: FirstBurstLength bounds immediate plus unsolicited Data-Out together.
  const burst = Math.min(transferLength, params.firstBurstLength);
  const immediate = params.immediateData ? Math.min(burst, params.maxSendDataSegmentLength) : 0;
  const unsolicited = params.initialR2T ? 0 : burst - immediate;
  return { immediate, unsolicited };
}

export const UNSOLICITED_TTT = RESERVED_TAG;
