/**
 * Task management (RFC 7143 §11.5, §11.6; SAM-5 §7): what each function does to the tasks of
 * this session and of the other sessions of the target, and the response it gets.
 *
 * Tasks this initiator aborts (ABORT TASK, ABORT TASK SET, and its own tasks under CLEAR TASK SET
 * and the resets) end with no response: the Task Management Response tells it they are gone
 * (RFC 7143 §11.5.1). Tasks of other initiators ended by a reset or CLEAR TASK SET get TASK
 * ABORTED status (the Control mode page reports TAS=1), so that they do not wait forever.
 */
import { Opcode, TaskManagementFunction, TaskManagementResponseCode } from "../../core/pdu/opcodes.js";
import type { TaskManagementRequestPdu } from "../../core/pdu/types.js";
import { serialLt } from "../../core/serial.js";
import type { TargetConnection } from "./connection.js";
import type { ScsiTask } from "./scsi-task.js";

/** The session as task management sees it. */
export interface TmfSession {
  readonly type: "Normal" | "Discovery";
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly units: ReadonlyMap<number, unknown>;
  task(itt: number): ScsiTask | undefined;
  tasksOn(lun: number | undefined): readonly ScsiTask[];
  /** Ends a task of this session with no response. */
  abortTask(task: ScsiTask): void;
  /** RFC 7143 §11.5.1: a command whose CmdSN is in the window but never arrived counts as received. */
  considerReceived(cmdSN: number): boolean;
  /** ERL 2 TASK REASSIGN: the response, and what follows it (the task's data and status). */
  reassignTask(connection: TargetConnection, pdu: TaskManagementRequestPdu): { readonly response: number; readonly then?: () => void };
}

export interface TmfHooks {
  /** The other sessions of this target: their tasks end with TASK ABORTED. */
  terminateElsewhere(lun: number | undefined): void;
  /** Unit attention for the other I_T nexuses (when the engine reports them). */
  unitAttentionElsewhere(lun: number | undefined, asc: number, ascq: number): void;
  /** TARGET COLD RESET: every connection to the target closes after the response. */
  coldReset(): void;
}

export function handleTaskManagement(
  session: TmfSession,
  hooks: TmfHooks,
  connection: TargetConnection,
  pdu: TaskManagementRequestPdu,
): number {
  const respond = (response: number): number => {
    connection.send({
      opcode: Opcode.TaskManagementResponse,
      response,
      initiatorTaskTag: pdu.initiatorTaskTag,
      statSN: connection.takeStatSN(),
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
    });
    return response;
  };
  if (session.type === "Discovery") return respond(TaskManagementResponseCode.Rejected);
  const abortAll = (lun: number | undefined): void => {
    for (const task of session.tasksOn(lun)) session.abortTask(task);
  };
  const lunExists = session.units.has(pdu.lun);
  switch (pdu.function) {
    case TaskManagementFunction.AbortTask: {
      const task = session.task(pdu.referencedTaskTag);
      if (task !== undefined) {
        if (task.request.lun !== pdu.lun) return respond(TaskManagementResponseCode.TaskDoesNotExist);
        session.abortTask(task);
        return respond(TaskManagementResponseCode.FunctionComplete);
      }
      // RFC 7143 §11.5.1: not found, but RefCmdSN is in the window and before this request: the
      // command was lost or is late; it is considered received (and will not run).
      if (serialLt(pdu.refCmdSN, pdu.cmdSN) && session.considerReceived(pdu.refCmdSN)) {
        return respond(TaskManagementResponseCode.FunctionComplete);
      }
      return respond(TaskManagementResponseCode.TaskDoesNotExist);
    }
    case TaskManagementFunction.AbortTaskSet:
      if (!lunExists) return respond(TaskManagementResponseCode.LunDoesNotExist);
      abortAll(pdu.lun);
      return respond(TaskManagementResponseCode.FunctionComplete);
    case TaskManagementFunction.ClearTaskSet:
      if (!lunExists) return respond(TaskManagementResponseCode.LunDoesNotExist);
      abortAll(pdu.lun);
      hooks.terminateElsewhere(pdu.lun);
      // SAM-5: the other nexuses learn their commands were cleared (2Fh/00h).
      hooks.unitAttentionElsewhere(pdu.lun, 0x2f, 0x00);
      return respond(TaskManagementResponseCode.FunctionComplete);
    case TaskManagementFunction.LogicalUnitReset:
      if (!lunExists) return respond(TaskManagementResponseCode.LunDoesNotExist);
      abortAll(pdu.lun);
      hooks.terminateElsewhere(pdu.lun);
      // SAM-5: BUS DEVICE RESET FUNCTION OCCURRED (29h/03h).
      hooks.unitAttentionElsewhere(pdu.lun, 0x29, 0x03);
      return respond(TaskManagementResponseCode.FunctionComplete);
    case TaskManagementFunction.TargetWarmReset:
    case TaskManagementFunction.TargetColdReset: {
      abortAll(undefined);
      hooks.terminateElsewhere(undefined);
      // SAM-5: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h).
      hooks.unitAttentionElsewhere(undefined, 0x29, 0x00);
      const response = respond(TaskManagementResponseCode.FunctionComplete);
      if (pdu.function === TaskManagementFunction.TargetColdReset) hooks.coldReset();
      return response;
    }
    case TaskManagementFunction.TaskReassign: {
      // RFC 7143 §11.5.1: reassignment needs ErrorRecoveryLevel 2 (the session answers 4 below
      // it); the task's Data-In and status follow the response, on this connection.
      const { response, then } = session.reassignTask(connection, pdu);
      respond(response);
      then?.();
      return response;
    }
    case TaskManagementFunction.ClearAca:
      // We report NormACA=0 in INQUIRY: there is never an ACA to clear.
      return respond(TaskManagementResponseCode.NotSupported);
    default:
      return respond(TaskManagementResponseCode.NotSupported);
  }
}
