/**
 * The SCSI data path of the initiator (RFC 7143 §3.2.4, §11.3, §11.4, §11.7, §11.8): issuing a
 * command with its immediate and unsolicited data, answering R2Ts with Data-Out, placing Data-In
 * in the caller's buffer, and completing on status.
 */
import { RemoteProtocolError, ShortTransferError, TargetFailureError } from "../errors.js";
import { readU32 } from "../bytes.js";
import { hex } from "../hex.js";
import type { Frame } from "../pdu/framer.js";
import { Opcode, RESERVED_TAG, SnackType, TaskAttribute } from "../pdu/opcodes.js";
import type { DataInPdu, R2TPdu, ScsiCommandPdu, ScsiResponsePdu } from "../pdu/types.js";
import { scsiCommandName } from "../scsi/opcodes.js";
import { ScsiStatus } from "../scsi/status.js";
import { demandsWholeTransfer } from "../scsi/transfer.js";
import type { CommandResult } from "./command.js";
import type { Connection } from "./connection.js";
import { type DataPathContext, EMPTY } from "./context.js";
import { cover } from "./coverage.js";
import { serialGt } from "../serial.js";
import { dataOutSequence, planUnsolicited, UNSOLICITED_TTT } from "./data-out.js";
import type { ScsiTask, Task } from "./task.js";
import { TaskTimer } from "./timers.js";

/** Sends a SCSI Command and whatever data goes with it before any R2T (RFC 7143 §3.2.4.2). */
export function issue<C>(ctx: DataPathContext<C>, task: ScsiTask<C>, connection: Connection, now: number): void {
  task.cmdSN = ctx.window.take();
  task.attempts++;
  // The newest CmdSN: no other command waits behind it at the target, so it may wait to share a write.
  send(ctx, task, connection, now, true);
}

/**
 * Sends a command again with the same ITT and CmdSN (RFC 7143 §6.2.1 "retry"): the target
 * discarded it (a data digest error in its immediate data) and its CmdSN is a hole in the
 * target's window that only this PDU can fill.
 */
export function reissueSame<C>(ctx: DataPathContext<C>, task: ScsiTask<C>, connection: Connection, now: number): void {
  // Its CmdSN is a hole the target's later commands wait behind: it goes at once.
  send(ctx, task, connection, now, false);
}

function send<C>(ctx: DataPathContext<C>, task: ScsiTask<C>, connection: Connection, now: number, fresh: boolean): void {
  const request = task.request;
  const write = request.dataOut !== undefined && task.transferLength > 0;
  task.phase = "issued";
  task.cid = connection.cid;
  ctx.attach(task, connection);
  task.issuedAt = now;
  task.dataInBytes = 0;
  task.dataInAhead = undefined;
  task.nextDataSN = 0;
  task.dataOutBytes = 0;
  task.dataOutAhead = undefined;
  task.nextR2TSN = 0;
  task.escalation = 0;
  task.nextOffset = 0;
  task.missingDataSN = undefined;
  task.pendingStatus = undefined;
  if (request.timeoutMs !== undefined) {
    // Each attempt gets the whole timeout: a command re-issued after a reconnect starts again.
    task.deadline = now + request.timeoutMs;
    ctx.arm(task, TaskTimer.Attempt, task.deadline);
  }
  let immediate = 0;
  let unsolicited = 0;
  if (write) {
    const plan = planUnsolicited(task.transferLength, {
      immediateData: ctx.params.immediateData,
      initialR2T: ctx.params.initialR2T,
      firstBurstLength: ctx.params.firstBurstLength,
      maxSendDataSegmentLength: connection.params.maxSendDataSegmentLength,
    });
    immediate = plan.immediate;
    unsolicited = plan.unsolicited;
  }
  const data = request.dataOut;
  const command: ScsiCommandPdu = {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    // RFC 7143 §11.3.1: F is set when no unsolicited Data-Out follows the command.
    final: unsolicited === 0,
    read: request.dataIn !== undefined && task.transferLength > 0,
    write,
    attribute: request.attribute ?? TaskAttribute.Simple,
    lun: request.lun,
    initiatorTaskTag: task.itt,
    expectedDataTransferLength: task.transferLength,
    cmdSN: task.cmdSN,
    expStatSN: connection.expStatSN,
    cdb: request.cdb,
    data: immediate > 0 && data !== undefined ? data.subarray(0, immediate) : EMPTY,
  };
  connection.send(command, fresh);
  task.dataOutBytes = immediate;
  connection.counters.bytesOut += immediate + unsolicited;
  if (unsolicited > 0 && data !== undefined) {
    dataOutSequence(
      (pdu) => connection.send(pdu),
      data,
      { lun: request.lun, initiatorTaskTag: task.itt, targetTransferTag: UNSOLICITED_TTT, expStatSN: connection.expStatSN },
      immediate,
      unsolicited,
      connection.params.maxSendDataSegmentLength,
    );
    task.dataOutBytes += unsolicited;
  }
}

/** The framer asks where a Data-In payload goes: straight into the caller's buffer. */
export function placeData<C>(ctx: DataPathContext<C>, bhs: Uint8Array, length: number): Uint8Array | undefined {
  if (((bhs[0] as number) & 0x3f) !== Opcode.DataIn) return undefined;
  const task = ctx.tasks.get(readU32(bhs, 16));
  if (task === undefined || task.kind !== "scsi" || task.phase !== "issued") return undefined;
  const buffer = task.request.dataIn;
  if (buffer === undefined) return undefined;
  const offset = readU32(bhs, 40);
  if (offset + length > buffer.length) return undefined;
  // One Data-In carrying the whole read (most small reads): the buffer itself, no view.
  return offset === 0 && length === buffer.length ? buffer : buffer.subarray(offset, offset + length);
}

export function scsiTask<C>(ctx: DataPathContext<C>, itt: number, what: string): ScsiTask<C> {
  const task: Task<C> | undefined = ctx.tasks.get(itt);
  if (task === undefined || task.kind !== "scsi" || task.phase !== "issued") {
    throw new RemoteProtocolError(`${what} for unknown Initiator Task Tag ${hex(itt)}`);
  }
  return task;
}

export function onDataIn<C>(ctx: DataPathContext<C>, connection: Connection, pdu: DataInPdu, frame: Frame): void {
  const task = scsiTask(ctx, pdu.initiatorTaskTag, "Data-In");
  const buffer = task.request.dataIn;
  if (buffer === undefined) throw new RemoteProtocolError(`Data-In for task ${hex(task.itt)}, which reads no data`);
  if (task.cid !== connection.cid) {
    throw new RemoteProtocolError(`Data-In for task ${hex(task.itt)} on connection ${connection.cid}, not its own (RFC 7143 §7.1.2)`);
  }
  const length = pdu.data.length;
  if (length > 0 && pdu.bufferOffset + length > buffer.length) {
    throw new RemoteProtocolError(
      `Data-In beyond the buffer: offset ${pdu.bufferOffset} + ${length} > ${buffer.length} (ITT ${hex(task.itt)})`,
    );
  }
  const missing = task.missingDataSN;
  const retransmission = missing !== undefined && missing.includes(pdu.dataSN);
  if (!retransmission) {
    if (pdu.dataSN !== task.nextDataSN) {
      throw new RemoteProtocolError(`Data-In DataSN ${pdu.dataSN}, expected ${task.nextDataSN} (ITT ${hex(task.itt)})`);
    }
    if (length > 0 && ctx.params.dataPDUInOrder && pdu.bufferOffset !== task.nextOffset) {
      throw new RemoteProtocolError(`Data-In out of order: offset ${pdu.bufferOffset}, expected ${task.nextOffset} (DataPDUInOrder=Yes)`);
    }
    task.nextDataSN = (task.nextDataSN + 1) >>> 0;
    task.nextOffset = pdu.bufferOffset + length;
  }
  if (frame.dataDigestError) {
    // RFC 7143 §7.3 (ERL 1): discard the PDU and ask for it again with a Data SNACK. The header
    // is sound (its digest checked), so a status it carries is kept for when the data is whole.
    if (!retransmission) (task.missingDataSN ??= []).push(pdu.dataSN);
    if (pdu.hasStatus) {
      task.pendingStatus = { status: pdu.status, residualCount: pdu.residualCount, underflow: pdu.residualUnderflow, overflow: pdu.residualOverflow };
    }
    connection.send({
      opcode: Opcode.SnackRequest,
      type: SnackType.DataR2T,
      lun: task.request.lun,
      initiatorTaskTag: task.itt,
      targetTransferTag: RESERVED_TAG,
      expStatSN: connection.expStatSN,
      begRun: pdu.dataSN,
      runLength: 1,
    });
    return;
  }
  if (length > 0) {
    connection.counters.bytesIn += length;
    // The framer placed the bytes already when it could; otherwise copy them now (once).
    if (!frame.dataPlaced) buffer.set(pdu.data, pdu.bufferOffset);
    if (pdu.bufferOffset === task.dataInBytes && task.dataInAhead === undefined) task.dataInBytes += length;
    else ({ end: task.dataInBytes, ahead: task.dataInAhead } = cover(task.dataInBytes, task.dataInAhead, pdu.bufferOffset, length));
  }
  if (retransmission) {
    missing.splice(missing.indexOf(pdu.dataSN), 1);
    if (missing.length === 0) task.missingDataSN = undefined;
  }
  if (pdu.acknowledge && ctx.params.errorRecoveryLevel > 0 && pdu.targetTransferTag !== RESERVED_TAG) {
    // RFC 7143 §11.16.3: acknowledge the data so the target may release it.
    connection.send({
      opcode: Opcode.SnackRequest,
      type: SnackType.DataAck,
      lun: task.request.lun,
      // RFC 7143 §11.16: a DataACK names the data by its Target Transfer Tag; the ITT is reserved.
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: pdu.targetTransferTag,
      expStatSN: connection.expStatSN,
      begRun: task.missingDataSN?.[0] ?? task.nextDataSN,
      runLength: 0,
    });
  }
  if (pdu.hasStatus) {
    if (!pdu.final) throw new RemoteProtocolError("Data-In with the S bit but not the F bit (RFC 7143 §11.7.1)");
    task.pendingStatus = { status: pdu.status, residualCount: pdu.residualCount, underflow: pdu.residualUnderflow, overflow: pdu.residualOverflow };
  }
  const status = task.pendingStatus;
  if (status !== undefined && task.missingDataSN === undefined) {
    complete(ctx, task, {
      status: status.status,
      sense: EMPTY,
      bytesIn: task.dataInBytes,
      residualCount: status.residualCount,
      residualUnderflow: status.underflow,
      residualOverflow: status.overflow,
    });
  }
}

/** ERL 1: a SCSI Response whose data (sense) failed its digest is asked for again (Status SNACK). */
export function requestStatusAgain<C>(ctx: DataPathContext<C>, connection: Connection, pdu: ScsiResponsePdu): void {
  const task = scsiTask(ctx, pdu.initiatorTaskTag, "SCSI Response");
  connection.send({
    opcode: Opcode.SnackRequest,
    type: SnackType.Status,
    lun: task.request.lun,
    initiatorTaskTag: RESERVED_TAG,
    targetTransferTag: RESERVED_TAG,
    expStatSN: connection.expStatSN,
    begRun: pdu.statSN,
    runLength: 1,
  });
}

export function onScsiResponse<C>(ctx: DataPathContext<C>, connection: Connection, pdu: ScsiResponsePdu): void {
  const task = scsiTask(ctx, pdu.initiatorTaskTag, "SCSI Response");
  if (task.cid !== connection.cid) {
    throw new RemoteProtocolError(`SCSI Response for task ${hex(task.itt)} on connection ${connection.cid}, not its own`);
  }
  if (pdu.response !== 0) {
    ctx.failTask(
      task,
      new TargetFailureError(pdu.response, `target failure (iSCSI response ${hex(pdu.response)}) for CDB opcode ${hex(task.request.cdb[0] ?? 0)}`),
    );
    return;
  }
  if (task.missingDataSN !== undefined) {
    // ERL 1: Data-In asked for again has not arrived yet; the status waits for it.
    throw new RemoteProtocolError(`SCSI Response for task ${hex(task.itt)} before the Data-In it asked for again (DataSN ${task.missingDataSN.join(",")})`);
  }
  complete(ctx, task, {
    status: pdu.status,
    sense: pdu.sense.length > 0 ? pdu.sense.slice() : EMPTY,
    bytesIn: task.dataInBytes,
    residualCount: pdu.residualCount,
    residualUnderflow: pdu.residualUnderflow,
    residualOverflow: pdu.residualOverflow,
  });
}

function complete<C>(ctx: DataPathContext<C>, task: ScsiTask<C>, result: CommandResult): void {
  const short = result.status === ScsiStatus.Good ? shortfall(task, result) : undefined;
  if (short !== undefined) {
    ctx.failTask(task, short);
    return;
  }
  ctx.forget(task);
  ctx.detach(task);
  ctx.emit({ type: "command-complete", context: task.request.context, result });
}

/**
 * A GOOD status promises the command was done; for a READ or WRITE that means every byte its CDB
 * names moved. We know what moved (Data-In placed, Data-Out sent) and the target states a residual
 * (RFC 7143 §11.4.5): a shortfall in either, on a command that demands its whole transfer, is a
 * failure, never a success with stale bytes in the buffer or blocks left unwritten.
 */
function shortfall<C>(task: ScsiTask<C>, result: CommandResult): ShortTransferError | undefined {
  const request = task.request;
  const expected = task.transferLength;
  if (expected === 0) return undefined;
  if ((request.shortTransfer ?? (demandsWholeTransfer(request.cdb) ? "fail" : "allow")) === "allow") return undefined;
  const direction = request.dataIn !== undefined ? "in" : "out";
  const moved = direction === "in" ? result.bytesIn : task.dataOutBytes;
  const residual = result.residualUnderflow && result.residualCount > 0 ? result.residualCount : undefined;
  if (moved >= expected && residual === undefined) return undefined;
  const what = `${scsiCommandName(request.cdb)} on LUN ${request.lun} (ITT ${hex(task.itt)})`;
  const stated = residual === undefined ? "no residual" : `a residual underflow of ${residual} bytes`;
  const message =
    direction === "in"
      ? `${what} ended GOOD with ${moved} of ${expected} bytes of Data-In and ${stated}: the data is incomplete and was not used`
      : `${what} ended GOOD after ${moved} of ${expected} bytes were sent, with ${stated}: the write is incomplete`;
  return new ShortTransferError(direction, expected, moved, residual, message);
}

/** RFC 7143 §11.8: the target asks for a burst of write data. */
export function onR2T<C>(ctx: DataPathContext<C>, connection: Connection, pdu: R2TPdu): void {
  const task = scsiTask(ctx, pdu.initiatorTaskTag, "R2T");
  const data = task.request.dataOut;
  if (data === undefined) throw new RemoteProtocolError(`R2T for task ${hex(task.itt)}, which writes no data`);
  if (task.cid !== connection.cid) throw new RemoteProtocolError(`R2T for task ${hex(task.itt)} on connection ${connection.cid}, not its own`);
  // ERL 2: after TASK REASSIGN the target's R2TSN goes on past R2Ts lost with the old connection.
  if (task.reassigned === true && serialGt(pdu.r2tSN, task.nextR2TSN)) task.nextR2TSN = pdu.r2tSN;
  if (pdu.r2tSN !== task.nextR2TSN) {
    throw new RemoteProtocolError(`R2T R2TSN ${pdu.r2tSN}, expected ${task.nextR2TSN} (ITT ${hex(task.itt)})`);
  }
  const length = pdu.desiredDataTransferLength;
  if (length === 0) throw new RemoteProtocolError("R2T with a Desired Data Transfer Length of 0 (RFC 7143 §11.8.4)");
  if (pdu.bufferOffset + length > task.transferLength) {
    throw new RemoteProtocolError(
      `R2T beyond the transfer: offset ${pdu.bufferOffset} + ${length} > ${task.transferLength} (ITT ${hex(task.itt)})`,
    );
  }
  if (length > ctx.params.maxBurstLength) {
    throw new RemoteProtocolError(`R2T asks ${length} bytes, more than MaxBurstLength ${ctx.params.maxBurstLength}`);
  }
  if (pdu.targetTransferTag === RESERVED_TAG) throw new RemoteProtocolError("R2T with the reserved Target Transfer Tag");
  task.nextR2TSN = (task.nextR2TSN + 1) >>> 0;
  connection.counters.bytesOut += length;
  dataOutSequence(
    (out) => connection.send(out),
    data,
    { lun: task.request.lun, initiatorTaskTag: task.itt, targetTransferTag: pdu.targetTransferTag, expStatSN: connection.expStatSN },
    pdu.bufferOffset,
    length,
    connection.params.maxSendDataSegmentLength,
  );
  // What was sent, not what was asked: a repeated R2T does not count twice (coverage.ts).
  if (pdu.bufferOffset === task.dataOutBytes && task.dataOutAhead === undefined) task.dataOutBytes += length;
  else ({ end: task.dataOutBytes, ahead: task.dataOutAhead } = cover(task.dataOutBytes, task.dataOutAhead, pdu.bufferOffset, length));
}
