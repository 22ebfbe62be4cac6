/**
 * The session's control requests and their answers: NOP-Out/NOP-In (RFC 7143 §11.18, §11.19),
 * task management (§11.5, §11.6), text exchanges (§11.10, §11.11) and Reject (§11.17).
 */
import { AbortedError, LocalProtocolError, RejectError, RemoteProtocolError, SessionClosedError } from "../errors.js";
import { readU32 } from "../bytes.js";
import { Opcode, RESERVED_TAG, TaskManagementFunction, TaskManagementResponseCode } from "../pdu/opcodes.js";
import type { NopInPdu, RejectPdu, TaskManagementResponsePdu, TextResponsePdu } from "../pdu/types.js";
import { parseText } from "../text/codec.js";
import type { Connection } from "./connection.js";
import { type ControlContext, EMPTY } from "./context.js";
import type { PingTask, ScsiTask, TaskManagementTask, TextTask } from "./task.js";
import { ConnectionTimer, TaskTimer } from "./timers.js";

/** Bound on a whole Text Response sequence (SendTargets of a large target list fits well). */
export const MAX_TEXT_RESPONSE = 1024 * 1024;
const REPEATABLE_TEXT_KEYS: ReadonlySet<string> = new Set(["TargetName", "TargetAddress", "TargetAlias"]);

export function sendPing<C>(
  ctx: ControlContext<C>,
  connection: Connection,
  context: C | undefined,
  internal: boolean,
  now: number,
  data: Uint8Array,
): number {
  const itt = ctx.tasks.allocate();
  const deadline = internal ? undefined : now + (ctx.config.requestTimeoutMs ?? 30_000);
  const task: PingTask<C> = { kind: "ping", itt, cid: connection.cid, sentAt: now, context, internal, deadline };
  ctx.tasks.add(task);
  if (deadline !== undefined) ctx.arm(task, TaskTimer.Request, deadline);
  connection.send({
    opcode: Opcode.NopOut,
    immediate: true,
    lun: 0,
    initiatorTaskTag: itt,
    targetTransferTag: RESERVED_TAG,
    cmdSN: ctx.window.cmdSN,
    expStatSN: connection.expStatSN,
    data,
  });
  return itt;
}

export function onNopIn<C>(
  ctx: ControlContext<C>,
  connection: Connection,
  pdu: NopInPdu,
  now: number,
  keepAliveIntervalMs: number | undefined,
): void {
  if (pdu.initiatorTaskTag === RESERVED_TAG) {
    // RFC 7143 §11.19: the target pings us; answer when it asks (TTT != 0xffffffff).
    if (pdu.targetTransferTag !== RESERVED_TAG) {
      connection.send({
        opcode: Opcode.NopOut,
        immediate: true,
        lun: pdu.lun,
        initiatorTaskTag: RESERVED_TAG,
        targetTransferTag: pdu.targetTransferTag,
        cmdSN: ctx.window.cmdSN,
        expStatSN: connection.expStatSN,
        data: pdu.data.length > 0 ? pdu.data.slice() : EMPTY,
      });
    }
    return;
  }
  const task = ctx.tasks.get(pdu.initiatorTaskTag);
  if (task === undefined && ctx.wasExpired(pdu.initiatorTaskTag)) return;
  if (task === undefined || task.kind !== "ping") {
    throw new RemoteProtocolError(`NOP-In for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
  }
  ctx.forget(task);
  if (task.internal) {
    connection.pingOutstanding = undefined;
    ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveTimeout, undefined);
    if (keepAliveIntervalMs !== undefined) ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveInterval, now + keepAliveIntervalMs);
    return;
  }
  ctx.emit({
    type: "ping-complete",
    context: task.context as C,
    result: { roundTripMs: now - task.sentAt, data: pdu.data.slice() },
  });
}

export interface TaskManagementTarget {
  readonly lun?: number;
  readonly referencedTaskTag?: number;
  /** TASK REASSIGN (ERL 2, erl2.ts): the next Data-In we need (RFC 7143 §11.5.6). */
  readonly expDataSN?: number;
  /** TASK REASSIGN: the connection the task moves to (the request goes on it, §11.5.1). */
  readonly cid?: number;
}

/** Sends a task management request as an immediate command (RFC 7143 §11.5). */
export function sendTaskManagement<C>(
  ctx: ControlContext<C>,
  fn: TaskManagementFunction,
  target: TaskManagementTarget,
  origin: { readonly context: C | undefined; readonly internal?: (response: number | undefined) => void; readonly deadline?: number },
): number {
  let lun = target.lun ?? 0;
  let refCmdSN = ctx.window.cmdSN;
  let referenced = RESERVED_TAG;
  let connection: Connection | undefined;
  if (fn === TaskManagementFunction.AbortTask) {
    if (target.referencedTaskTag === undefined) throw new LocalProtocolError("ABORT TASK needs the tag of the task to abort");
    referenced = target.referencedTaskTag;
    const victim = ctx.tasks.get(referenced);
    if (victim !== undefined && victim.kind === "scsi") {
      lun = victim.request.lun;
      refCmdSN = victim.cmdSN;
      // RFC 7143 §11.5.1: the abort must be sent on the connection the task has allegiance to.
      connection = ctx.connections.get(victim.cid);
    }
  }
  if (fn === TaskManagementFunction.TaskReassign) {
    if (target.referencedTaskTag === undefined) throw new LocalProtocolError("TASK REASSIGN needs the tag of the task to move");
    referenced = target.referencedTaskTag;
    const victim = ctx.tasks.get(referenced);
    if (victim !== undefined && victim.kind === "scsi") refCmdSN = victim.cmdSN;
    // RFC 7143 §11.5.1: TASK REASSIGN is sent on the connection the task is to move to.
    if (target.cid !== undefined) connection = ctx.connections.get(target.cid);
  }
  if (connection === undefined || !connection.usable) connection = ctx.pickConnection();
  if (connection === undefined) throw new SessionClosedError("no connection is logged in");
  const itt = ctx.tasks.allocate();
  const task: TaskManagementTask<C> = {
    kind: "tmf",
    itt,
    cid: connection.cid,
    function: fn,
    referencedTaskTag: referenced,
    lun,
    context: origin.context,
    ...(origin.internal === undefined ? {} : { internal: origin.internal }),
    deadline: origin.deadline,
  };
  ctx.tasks.add(task);
  if (origin.deadline !== undefined) ctx.arm(task, TaskTimer.Request, origin.deadline);
  connection.send({
    opcode: Opcode.TaskManagementRequest,
    immediate: true,
    function: fn,
    lun,
    initiatorTaskTag: itt,
    referencedTaskTag: referenced,
    cmdSN: ctx.window.cmdSN,
    expStatSN: connection.expStatSN,
    refCmdSN,
    expDataSN: target.expDataSN ?? 0,
  });
  return itt;
}

/** The SCSI tasks a completed task management function ended on the target (RFC 7143 §11.5.1). */
export function tasksEndedBy<C>(ctx: ControlContext<C>, tmf: TaskManagementTask<C>): ScsiTask<C>[] {
  const hit: ScsiTask<C>[] = [];
  for (const task of ctx.tasks.values()) {
    if (task.kind !== "scsi" || task.phase !== "issued") continue;
    switch (tmf.function) {
      case TaskManagementFunction.AbortTask:
        if (task.itt === tmf.referencedTaskTag) hit.push(task);
        break;
      case TaskManagementFunction.TargetWarmReset:
      case TaskManagementFunction.TargetColdReset:
        hit.push(task);
        break;
      case TaskManagementFunction.AbortTaskSet:
      case TaskManagementFunction.ClearTaskSet:
      case TaskManagementFunction.LogicalUnitReset:
        if (task.request.lun === tmf.lun) hit.push(task);
        break;
    }
  }
  return hit;
}

/** Handles a Task Management Response; returns the finished request for the caller to act on. */
export function onTaskManagementResponse<C>(ctx: ControlContext<C>, pdu: TaskManagementResponsePdu): void {
  const task = ctx.tasks.get(pdu.initiatorTaskTag);
  if (task === undefined || task.kind !== "tmf") {
    throw new RemoteProtocolError(`Task Management Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
  }
  ctx.forget(task);
  if (task.internal !== undefined) {
    task.internal(pdu.response);
    return;
  }
  if (pdu.response === TaskManagementResponseCode.FunctionComplete) {
    const why = `aborted by ${tmfName(task.function)}`;
    for (const other of tasksEndedBy(ctx, task)) ctx.failTask(other, new AbortedError(`command 0x${other.itt.toString(16)} ${why}`));
  }
  ctx.emit({ type: "tmf-complete", context: task.context as C, result: { response: pdu.response } });
}

/** Sends (the first, or a continuation) Text Request of a text task. */
export function sendText<C>(ctx: ControlContext<C>, task: TextTask<C>, connection: Connection, ttt: number): void {
  task.cid = connection.cid;
  // A continuation (an empty request asking for more) carries the target's TTT (RFC 7143 §11.10.4).
  const first = ttt === RESERVED_TAG;
  connection.send({
    opcode: Opcode.TextRequest,
    immediate: false,
    final: true,
    continue: false,
    lun: 0,
    initiatorTaskTag: task.itt,
    targetTransferTag: ttt,
    cmdSN: ctx.window.take(),
    expStatSN: connection.expStatSN,
    data: first ? task.request : EMPTY,
  });
}

export function onTextResponse<C>(ctx: ControlContext<C>, connection: Connection, pdu: TextResponsePdu): void {
  const task = ctx.tasks.get(pdu.initiatorTaskTag);
  if (task === undefined && ctx.wasExpired(pdu.initiatorTaskTag)) return;
  if (task === undefined || task.kind !== "text") {
    throw new RemoteProtocolError(`Text Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
  }
  task.receivedBytes += pdu.data.length;
  if (task.receivedBytes > MAX_TEXT_RESPONSE) {
    throw new RemoteProtocolError(`Text Response longer than ${MAX_TEXT_RESPONSE} bytes`);
  }
  if (pdu.data.length > 0) task.chunks.push(pdu.data.slice());
  if (pdu.continue || !pdu.final) {
    // RFC 7143 §11.11.1: ask for the rest with an empty Text Request carrying the TTT.
    if (pdu.targetTransferTag === RESERVED_TAG) {
      throw new RemoteProtocolError("Text Response expects a continuation but has the reserved Target Transfer Tag");
    }
    sendText(ctx, task, connection, pdu.targetTransferTag);
    return;
  }
  const all = concat(task.chunks, task.receivedBytes);
  // RFC 7143 Appendix D: SendTargets answers repeat TargetName, TargetAddress and TargetAlias.
  // Parse before forgetting the task, so a malformed answer fails the request it belongs to.
  const pairs = parseText(all, { repeatable: REPEATABLE_TEXT_KEYS, where: "Text Response" });
  ctx.forget(task);
  if (task.renegotiation !== undefined) {
    // RFC 7143 §6.2: what was renegotiated holds on this connection from now on. A key the
    // target offered back in its answer is answered by the negotiator but not sent on: the
    // renegotiation we started is complete once our own declarations are delivered.
    const outcome = task.renegotiation.negotiation.receive(pairs);
    connection.applyParameters(outcome.connection);
    if (!task.renegotiation.internal) ctx.emit({ type: "text-complete", context: task.context, pairs });
    return;
  }
  ctx.emit({ type: "text-complete", context: task.context, pairs });
}

export function onReject<C>(ctx: ControlContext<C>, pdu: RejectPdu): void {
  // RFC 7143 §11.17.3: the data segment holds the rejected PDU's header; its ITT is at 16.
  if (pdu.data.length < 48) throw new RemoteProtocolError("Reject without the rejected PDU's header");
  const itt = readU32(pdu.data, 16);
  const task = ctx.tasks.get(itt);
  const error = new RejectError(pdu.reason, `target rejected a PDU (${rejectReasonName(pdu.reason)}) for ITT 0x${itt.toString(16)}`);
  if (task !== undefined) ctx.failTask(task, error);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export function tmfName(fn: number): string {
  const names: Record<number, string> = {
    1: "ABORT TASK",
    2: "ABORT TASK SET",
    3: "CLEAR ACA",
    4: "CLEAR TASK SET",
    5: "LOGICAL UNIT RESET",
    6: "TARGET WARM RESET",
    7: "TARGET COLD RESET",
    8: "TASK REASSIGN",
  };
  return names[fn] ?? `task management function ${fn}`;
}

export function tmfResponseName(response: number): string {
  const names: Record<number, string> = {
    0: "function complete",
    1: "task does not exist",
    2: "LUN does not exist",
    3: "task still allegiant",
    4: "task allegiance reassignment not supported",
    5: "task management function not supported",
    6: "function authorization failed",
    255: "function rejected",
  };
  return names[response] ?? `response ${response}`;
}

export function rejectReasonName(reason: number): string {
  const names: Record<number, string> = {
    0x02: "data digest error",
    0x03: "SNACK reject",
    0x04: "protocol error",
    0x05: "command not supported",
    0x06: "immediate command reject",
    0x07: "task in progress",
    0x08: "invalid DataACK",
    0x09: "invalid PDU field",
    0x0a: "long operation reject",
    0x0b: "deprecated negotiation reset",
    0x0c: "waiting for logout",
  };
  return names[reason] ?? `reason 0x${reason.toString(16)}`;
}
