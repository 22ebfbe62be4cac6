/**
 * Answering SNACK Requests at ErrorRecoveryLevel 1 (RFC 7143 §11.16), from what the connection's
 * `Retention` kept:
 * - Data/R2T SNACK: the Data-In PDUs numbered BegRun..BegRun+RunLength-1 (0: all from BegRun)
 *   again, as exact replicas but for ExpCmdSN and MaxCmdSN; for a write still running, its
 *   outstanding R2Ts with those R2TSNs;
 * - Status SNACK: the numbered responses with StatSN in the run, with their StatSN;
 * - DataACK: frees the read data below BegRun (RunLength must be 0);
 * - R-Data SNACK (resegmentation after a MaxRecvDataSegmentLength change) is refused.
 *
 * A SNACK for something never sent or already acknowledged is refused with Reject (Protocol
 * Error, §11.16.1). One for something that was sent but not kept (the session's retention budget
 * was full) cannot be answered at ERL 1: the connection is dropped, as at ERL 0, and the
 * initiator's session recovery takes over.
 */
import { type IscsiError, RemoteProtocolError, TargetFailureError } from "../../core/errors.js";
import { hex } from "../../core/hex.js";
import { Opcode, RejectReason, SnackType } from "../../core/pdu/opcodes.js";
import type { SnackRequestPdu, TargetPdu } from "../../core/pdu/types.js";
import type { TargetConnection } from "./connection.js";
import { resendDataIn } from "./data-in.js";
import type { Retention } from "./retention.js";
import type { R2TPlan } from "./write-transfer.js";

/** What answering a SNACK needs from the session. */
export interface SnackHost {
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** The outstanding R2Ts of a write of this connection still running, for an R2T SNACK. */
  outstandingR2Ts(connection: TargetConnection, itt: number): { readonly lun: number; readonly r2ts: readonly R2TPlan[] } | undefined;
  /** Refuses the SNACK with Reject. */
  refuse(reason: number, error: RemoteProtocolError): void;
  /** Drops the connection: what was asked for was not kept (ERL 0 behaviour). */
  fallBack(error: IscsiError): void;
  /** A Data, R2T or Status SNACK answered with `pdus` PDUs sent again. */
  answered(pdus: number): void;
  /** A DataACK taken (data freed). */
  dataAcknowledged(): void;
}

export function answerSnack(host: SnackHost, connection: TargetConnection, retention: Retention, pdu: SnackRequestPdu): void {
  const what = `SNACK type ${pdu.type} (ITT ${hex(pdu.initiatorTaskTag)}, BegRun ${pdu.begRun}, RunLength ${pdu.runLength})`;
  switch (pdu.type) {
    case SnackType.DataR2T:
      dataSnack(host, connection, retention, pdu, what);
      return;
    case SnackType.Status:
      statusSnack(host, connection, retention, pdu, what);
      return;
    case SnackType.DataAck:
      // RFC 7143 §11.16.1: RunLength MUST be 0 for a DataACK.
      if (pdu.runLength !== 0) {
        host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: a DataACK with RunLength ${pdu.runLength}, not 0`));
        return;
      }
      if (!retention.dataAck(pdu.targetTransferTag, pdu.begRun)) {
        host.refuse(RejectReason.InvalidDataAck, new RemoteProtocolError(`${what}: DataACK for Target Transfer Tag ${hex(pdu.targetTransferTag)}, which names no read kept`));
        return;
      }
      host.dataAcknowledged();
      return;
    default:
      // R-Data SNACK follows a renegotiated MaxRecvDataSegmentLength; resegmenting is not done.
      host.refuse(RejectReason.SnackReject, new RemoteProtocolError(`${what}: R-Data SNACK is not supported`));
  }
}

function dataSnack(host: SnackHost, connection: TargetConnection, retention: Retention, pdu: SnackRequestPdu, what: string): void {
  const itt = pdu.initiatorTaskTag;
  const first = pdu.begRun;
  const read = retention.read(itt);
  if (read !== undefined) {
    const end = pdu.runLength === 0 ? read.count : first + pdu.runLength;
    if (first < read.ackedBelow) {
      host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: Data-In below DataSN ${read.ackedBelow} were acknowledged by DataACK`));
      return;
    }
    if (first >= read.count || end > read.count) {
      host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: the read was sent in ${read.count} Data-In PDUs (DataSN 0..${read.count - 1})`));
      return;
    }
    const sent = resendDataIn(
      (dataIn) => connection.send(dataIn),
      read.length,
      (offset, stop) => read.slice(offset, stop),
      // RFC 7143 §11.16.1: replicas, but for the current ExpCmdSN and MaxCmdSN.
      { ...read.options, expCmdSN: host.expCmdSN, maxCmdSN: host.maxCmdSN },
      first,
      end,
    );
    host.answered(sent);
    return;
  }
  const write = host.outstandingR2Ts(connection, itt);
  if (write !== undefined) {
    const end = pdu.runLength === 0 ? Number.POSITIVE_INFINITY : first + pdu.runLength;
    const again = write.r2ts.filter((r) => r.r2tSN >= first && r.r2tSN < end);
    if (again.length === 0) {
      host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: no outstanding R2T of this write has an R2TSN in the run`));
      return;
    }
    for (const r2t of again) {
      connection.send({
        opcode: Opcode.R2T,
        lun: write.lun,
        initiatorTaskTag: itt,
        targetTransferTag: r2t.targetTransferTag,
        statSN: connection.statSN,
        expCmdSN: host.expCmdSN,
        maxCmdSN: host.maxCmdSN,
        r2tSN: r2t.r2tSN,
        bufferOffset: r2t.offset,
        desiredDataTransferLength: r2t.length,
      });
    }
    host.answered(again.length);
    return;
  }
  if (retention.skippedTask(itt)) {
    host.fallBack(new TargetFailureError(0x01, `${what}: the read's data was not kept (the session's ErrorRecoveryLevel 1 retention budget was full); dropping the connection as at ErrorRecoveryLevel 0`));
    return;
  }
  host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: no read or write of this connection with that tag is kept (never sent, or already acknowledged)`));
}

function statusSnack(host: SnackHost, connection: TargetConnection, retention: Retention, pdu: SnackRequestPdu, what: string): void {
  const next = connection.statSN;
  // Serial distance from BegRun to the next StatSN: how many were sent from BegRun on.
  const sentSince = (next - pdu.begRun) >>> 0;
  if (sentSince === 0 || sentSince >= 0x8000_0000) {
    host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: StatSN ${pdu.begRun} was not sent yet (next is ${next})`));
    return;
  }
  const count = pdu.runLength === 0 ? sentSince : pdu.runLength;
  if (count > sentSince) {
    host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: asks for StatSN up to ${(pdu.begRun + count - 1) >>> 0}, but the last sent is ${(next - 1) >>> 0}`));
    return;
  }
  // Everything in the run must be at hand before anything goes out; the loop is bounded by what
  // was kept, since it stops at the first StatSN that was not.
  const again: TargetPdu[] = [];
  for (let i = 0; i < count; i++) {
    const statSN = (pdu.begRun + i) >>> 0;
    const kept = retention.status(statSN);
    if (kept !== undefined) {
      again.push(kept);
      continue;
    }
    if (retention.skippedStatus(statSN)) {
      host.fallBack(new TargetFailureError(0x01, `${what}: the response with StatSN ${statSN} was not kept (the session's ErrorRecoveryLevel 1 retention budget was full); dropping the connection as at ErrorRecoveryLevel 0`));
      return;
    }
    host.refuse(RejectReason.ProtocolError, new RemoteProtocolError(`${what}: StatSN ${statSN} was already acknowledged or carried no response`));
    return;
  }
  for (const kept of again) connection.send("expCmdSN" in kept ? { ...kept, expCmdSN: host.expCmdSN, maxCmdSN: host.maxCmdSN } : kept);
  host.answered(again.length);
}
