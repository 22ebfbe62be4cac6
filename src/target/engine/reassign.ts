/**
 * ErrorRecoveryLevel 2 (RFC 7143 §6.2.2, §7.1.4, §11.5.1): what a task whose connection was lost
 * sends on the connection a TASK REASSIGN moves it to, once its status is known.
 *
 * - Read data: the Data-In PDUs from the TMF's ExpDataSN on (the initiator has those below it),
 *   numbered as they were first made; the layout (segment, burst) is the first sending's, unless
 *   the new connection takes smaller segments: then every PDU goes again, from DataSN 0, in the new
 *   connection's layout (the initiator places Data-In by Buffer Offset, so that is safe).
 * - Status: with a new StatSN of the new connection (StatSN is per connection, §4.2.2.2), on the
 *   last Data-In when it rode there and that PDU is sent again, else in a SCSI Response.
 *
 * Nothing is kept here: the caller holds the data until the task is reassigned or Time2Retain ends.
 */
import { Opcode } from "../../core/pdu/opcodes.js";
import type { ScsiResponsePdu, TargetPdu } from "../../core/pdu/types.js";
import { ScsiStatus } from "../../core/scsi/status.js";
import type { TargetConnection } from "./connection.js";
import { type DataInOptions, dataInCount, resendDataIn } from "./data-in.js";
import type { KeptRead } from "./retention.js";

/** What a task ended with, kept for reassignment. */
export interface Resumable {
  readonly itt: number;
  readonly lun: number;
  /** Read data, if the task read any (only what the initiator expected). */
  readonly data:
    | {
        readonly length: number;
        slice(offset: number, end: number): Uint8Array;
        /** The layout it was (or would have been) first sent in. */
        readonly maxSegment: number;
        readonly maxBurst: number;
      }
    | undefined;
  readonly status: number;
  readonly sense: Uint8Array;
  readonly residualOverflow: boolean;
  readonly residualUnderflow: boolean;
  readonly residualCount: number;
  /** R2Ts sent for the task, for the SCSI Response's ExpDataSN (§11.4.8). */
  readonly r2tCount: number;
}

/** Status may ride on the last Data-In only when it is GOOD with no sense (§11.7.1). */
function collapsible(r: Resumable): boolean {
  return r.data !== undefined && r.data.length > 0 && r.status === ScsiStatus.Good && r.sense.length === 0;
}

/**
 * Sends what `r` needs on `connection` after a TASK REASSIGN naming `expDataSN`; returns the
 * number of PDUs sent.
 */
export function resume(connection: TargetConnection, window: { readonly expCmdSN: number; readonly maxCmdSN: number }, r: Resumable, expDataSN: number, maxBurst: number): number {
  const data = r.data;
  let sent = 0;
  let count = 0;
  const withData = data !== undefined && data.length > 0;
  if (withData) {
    let maxSegment = data.maxSegment;
    let burst = data.maxBurst;
    let from = expDataSN;
    const limit = connection.params.maxSendDataSegmentLength;
    if (maxSegment > limit) {
      // RFC 7143 §13.12: the new connection's initiator takes no larger segments: send it all
      // again in its layout, since DataSNs of the old layout mean nothing in the new one.
      maxSegment = limit;
      burst = maxBurst;
      from = 0;
    }
    count = dataInCount(data.length, maxSegment, burst);
    if (from < count) {
      const options: DataInOptions = {
        lun: r.lun,
        initiatorTaskTag: r.itt,
        statSN: connection.statSN,
        expCmdSN: window.expCmdSN,
        maxCmdSN: window.maxCmdSN,
        maxSegment,
        maxBurst: burst,
        status: collapsible(r)
          ? { status: r.status, statSN: connection.takeStatSN(), residualOverflow: r.residualOverflow, residualUnderflow: r.residualUnderflow, residualCount: r.residualCount }
          : undefined,
      };
      sent += resendDataIn((pdu) => connection.send(pdu), data.length, (o, e) => data.slice(o, e), options, from, count);
      if (options.status !== undefined) return sent;
    }
  }
  const response: ScsiResponsePdu = {
    opcode: Opcode.ScsiResponse,
    bidiReadResidualOverflow: false,
    bidiReadResidualUnderflow: false,
    residualOverflow: r.residualOverflow,
    residualUnderflow: r.residualUnderflow,
    response: 0,
    status: r.status,
    initiatorTaskTag: r.itt,
    snackTag: 0,
    statSN: connection.takeStatSN(),
    expCmdSN: window.expCmdSN,
    maxCmdSN: window.maxCmdSN,
    expDataSN: count + r.r2tCount,
    bidiReadResidualCount: 0,
    residualCount: r.residualCount,
    sense: r.sense,
    responseData: new Uint8Array(0),
  };
  connection.send(response);
  return sent + 1;
}

/**
 * A task that ended before its connection was lost, from what the connection kept for SNACKs: its
 * unacknowledged status (SCSI Response, or Data-In with status) and read data.
 */
export function keptResumable(status: TargetPdu, read: KeptRead | undefined): Resumable | undefined {
  const data =
    read === undefined
      ? undefined
      : { length: read.length, slice: (o: number, e: number) => read.slice(o, e), maxSegment: read.options.maxSegment, maxBurst: read.options.maxBurst };
  if (status.opcode === Opcode.ScsiResponse) {
    const pdus = read === undefined ? 0 : read.count;
    return {
      itt: status.initiatorTaskTag,
      lun: read?.options.lun ?? 0,
      data,
      status: status.status,
      sense: status.sense,
      residualOverflow: status.residualOverflow,
      residualUnderflow: status.residualUnderflow,
      residualCount: status.residualCount,
      r2tCount: Math.max(0, status.expDataSN - pdus),
    };
  }
  if (status.opcode === Opcode.DataIn && read !== undefined) {
    return {
      itt: status.initiatorTaskTag,
      lun: status.lun,
      data,
      status: status.status,
      sense: new Uint8Array(0),
      residualOverflow: status.residualOverflow,
      residualUnderflow: status.residualUnderflow,
      residualCount: status.residualCount,
      r2tCount: 0,
    };
  }
  return undefined;
}
