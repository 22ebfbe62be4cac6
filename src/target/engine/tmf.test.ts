import { describe, expect, it } from "vitest";
import { AbortedError } from "../../core/errors.js";
import { Opcode, TaskManagementFunction, TaskManagementResponseCode } from "../../core/pdu/opcodes.js";
import { buildRead10Cdb, buildRequestSenseCdb, buildTestUnitReadyCdb } from "../../core/scsi/cdb.js";
import { decodeSense } from "../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../core/scsi/status.js";
import { INITIATOR, type InitiatorSide, TargetPair } from "./pair.test-util.js";

function tmfResponse(side: InitiatorSide, id: number): number | undefined {
  const event = side.outcome(id);
  return event?.type === "tmf-complete" ? event.result.response : undefined;
}

const read = (lba = 0): { cdb: Uint8Array; dataIn: Uint8Array } => ({ cdb: buildRead10Cdb({ lba, blocks: 1 }), dataIn: new Uint8Array(512) });

describe("task management", () => {
  it("aborts a task waiting for storage: 'function complete', no response for it ever, and its slot reopens", () => {
    const pair = new TargetPair({ storage: "manual", trace: true, engine: { queueDepth: 4 } });
    const side = pair.initiator().login();
    const id = side.submit(read());
    pair.pump();
    expect(pair.pending).toHaveLength(1);
    const tmf = side.taskManagement(TaskManagementFunction.AbortTask, { referencedTaskTag: side.itt(id) });
    expect(tmfResponse(side, tmf)).toBe(TaskManagementResponseCode.FunctionComplete);
    const failed = side.outcome(id);
    expect(failed?.type).toBe("command-failed");
    if (failed?.type === "command-failed") expect(failed.error).toBeInstanceOf(AbortedError);
    const maxBefore = pair.engine.sessions[0]!.maxCmdSN;
    pair.completeStorage();
    // The storage finished after the abort: nothing is said about the task.
    expect(pair.sent(Opcode.DataIn).filter((p) => p.initiatorTaskTag === side.itt(id))).toHaveLength(0);
    expect(pair.sent(Opcode.ScsiResponse).filter((p) => p.initiatorTaskTag === side.itt(id))).toHaveLength(0);
    expect(pair.engine.sessions[0]!.maxCmdSN).toBe((maxBefore + 1) >>> 0);
    expect(side.session.state).toBe("LOGGED_IN");
    const next = side.submit(read());
    pair.pump();
    pair.completeStorage();
    expect(side.result(next).status).toBe(ScsiStatus.Good);
  });

  it("answers 'task does not exist' for a tag that names no task", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const tmf = side.taskManagement(TaskManagementFunction.AbortTask, { referencedTaskTag: 0x1234_5678 });
    expect(tmfResponse(side, tmf)).toBe(TaskManagementResponseCode.TaskDoesNotExist);
  });

  it("aborts every task of the LUN with ABORT TASK SET", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const ids = [0, 1, 2].map((i) => side.submit(read(i)));
    pair.pump();
    const tmf = side.taskManagement(TaskManagementFunction.AbortTaskSet, { lun: 0 });
    expect(tmfResponse(side, tmf)).toBe(TaskManagementResponseCode.FunctionComplete);
    for (const id of ids) expect(side.outcome(id)?.type).toBe("command-failed");
    expect(pair.engine.sessions[0]!.taskCount).toBe(0);
    pair.completeStorage();
    expect(side.session.state).toBe("LOGGED_IN");
  });

  it("answers 'LUN does not exist' for a reset of a LUN that is not there", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const tmf = side.taskManagement(TaskManagementFunction.LogicalUnitReset, { lun: 9 });
    expect(tmfResponse(side, tmf)).toBe(TaskManagementResponseCode.LunDoesNotExist);
  });

  it("ends another initiator's tasks with TASK ABORTED on a LOGICAL UNIT RESET, and reports the reset to it", () => {
    const pair = new TargetPair({ storage: "manual", engine: { unitAttentionOnNewNexus: true } });
    const a = pair.initiator().login();
    const b = pair.initiator({ initiatorName: `${INITIATOR}-b` }).login();
    // Both nexuses start with the power-on unit attention; REQUEST SENSE clears it.
    for (const side of [a, b]) {
      side.submit({ cdb: buildRequestSenseCdb({ allocationLength: 18 }), dataIn: new Uint8Array(18) });
      pair.pump();
    }
    const mine = a.submit(read());
    const theirs = b.submit(read(1));
    pair.pump();
    expect(pair.pending).toHaveLength(2);
    const tmf = a.taskManagement(TaskManagementFunction.LogicalUnitReset, { lun: 0 });
    expect(tmfResponse(a, tmf)).toBe(TaskManagementResponseCode.FunctionComplete);
    expect(a.outcome(mine)?.type).toBe("command-failed");
    expect(b.result(theirs).status).toBe(ScsiStatus.TaskAborted);
    pair.completeStorage();
    // SAM-5: the other nexus sees BUS DEVICE RESET FUNCTION OCCURRED once.
    const id = b.submit({ cdb: buildTestUnitReadyCdb() });
    pair.pump();
    const ua = b.result(id);
    expect(ua.status).toBe(ScsiStatus.CheckCondition);
    const sense = decodeSense(ua.sense);
    expect([sense.key, sense.asc, sense.ascq]).toEqual([SenseKey.UnitAttention, 0x29, 0x03]);
    const again = b.submit({ cdb: buildTestUnitReadyCdb() });
    pair.pump();
    expect(b.result(again).status).toBe(ScsiStatus.Good);
    // The nexus that reset the unit gets no unit attention for it.
    const own = a.submit({ cdb: buildTestUnitReadyCdb() });
    pair.pump();
    expect(a.result(own).status).toBe(ScsiStatus.Good);
  });

  it("completes a TARGET WARM RESET and keeps the session", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const tmf = side.taskManagement(TaskManagementFunction.TargetWarmReset, {});
    expect(tmfResponse(side, tmf)).toBe(TaskManagementResponseCode.FunctionComplete);
    expect(side.run(read()).status).toBe(ScsiStatus.Good);
  });

  it("closes every connection of the target after answering a TARGET COLD RESET", () => {
    const pair = new TargetPair();
    const a = pair.initiator().login();
    pair.initiator({ initiatorName: `${INITIATOR}-b` }).login();
    const tmf = a.taskManagement(TaskManagementFunction.TargetColdReset, {});
    expect(tmfResponse(a, tmf)).toBe(TaskManagementResponseCode.FunctionComplete);
    expect(pair.engine.stats.connectionsOpen).toBe(0);
    expect(pair.events("session-closed").map((e) => e.reason)).toEqual(["reset", "reset"]);
  });

  it("answers 'not supported' to CLEAR ACA and 'reassignment not supported' to TASK REASSIGN", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    expect(tmfResponse(side, side.taskManagement(TaskManagementFunction.ClearAca, { lun: 0 }))).toBe(TaskManagementResponseCode.NotSupported);
    const reassign = side.taskManagement(TaskManagementFunction.TaskReassign, { referencedTaskTag: 5 });
    expect(tmfResponse(side, reassign)).toBe(TaskManagementResponseCode.TaskAllegianceReassignmentNotSupported);
  });
});
