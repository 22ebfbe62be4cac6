/**
 * ErrorRecoveryLevel 2 in the target engine (RFC 7143 §6.2.2, §7.1.4, §11.5.1, §11.14.1): the
 * real initiator core logs in (it negotiates level 2), then the links are frozen and a scripted
 * initiator speaks raw PDUs on them, so that a connection can be lost at an exact point and its
 * tasks reassigned by hand.
 */
import { describe, expect, it } from "vitest";
import { crc32c } from "../../core/digest/crc32c.js";
import { ConfigError } from "../../core/errors.js";
import { encodePdu } from "../../core/pdu/encode.js";
import { LogoutReason, LogoutResponseCode, Opcode, TaskManagementFunction, TaskManagementResponseCode } from "../../core/pdu/opcodes.js";
import type { DataOutPdu, InitiatorPdu, Pdu } from "../../core/pdu/types.js";
import { buildRead10Cdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";
import { ScsiStatus } from "../../core/scsi/status.js";
import { DEFAULT_INITIATOR_PROPOSAL, type OperationalProposal, type TargetPolicy } from "../../core/text/parameters.js";
import { nodeSessionDeps } from "../../node/deps.js";
import { TargetEngine } from "./engine.js";
import { type PairLink, type PairOptions, TargetPair, pattern } from "./pair.test-util.js";

const PLAIN = { headerDigest: false, dataDigest: false, crc32c };

/** Small segments and bursts, so that a read or a write takes several PDUs and sequences. */
const SMALL: Partial<TargetPolicy> = { maxRecvDataSegmentLength: 512, firstBurstLength: 1024, maxBurstLength: 2048, maxOutstandingR2T: 1, initialR2T: true, immediateData: false };

function proposal(o: Partial<OperationalProposal> = {}): OperationalProposal {
  return { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512, errorRecoveryLevel: 2, defaultTime2Retain: 20, maxConnections: 4, ...o };
}

/**
 * A session at ERL 2 with `connections` connections, every link frozen: from here on the test is
 * the initiator, with its own CmdSN counter.
 */
function erl2(o: { connections?: number; policy?: Partial<TargetPolicy>; initiator?: Partial<OperationalProposal>; pair?: PairOptions } = {}) {
  const pair = new TargetPair({ trace: true, storage: "manual", ...o.pair, target: { policy: { ...SMALL, errorRecoveryLevel: 2, ...o.policy } } });
  const side = pair.initiator({ proposal: proposal(o.initiator) }).login();
  for (let i = 1; i < (o.connections ?? 2); i++) pair.connect(side);
  const links = [...pair.links()];
  for (const link of links) link.frozen = true;
  let cmdSN = side.session.commandWindow.cmdSN;
  let nextItt = 0x1000;
  const script = {
    pair,
    side,
    links,
    session: () => pair.engine.sessions[0]!,
    /** Feeds one PDU to the target on `link` as the initiator would send it, then lets the engine run. */
    send(link: PairLink, pdu: InitiatorPdu): void {
      for (const piece of encodePdu(pdu, PLAIN)) link.target.receive(piece, pair.now);
      pair.pump();
    },
    /** What the target sent on `link` since the test began (and after `from`). */
    sent(link: PairLink, from = 0): Pdu[] {
      return pair.trace.slice(from).filter((t) => t.direction === "send" && t.connectionId === link.target.id).map((t) => t.pdu);
    },
    mark(): number {
      return pair.trace.length;
    },
    read(link: PairLink, lba: number, blocks: number): number {
      const itt = nextItt++;
      script.send(link, {
        opcode: Opcode.ScsiCommand,
        immediate: false,
        final: true,
        read: true,
        write: false,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: itt,
        expectedDataTransferLength: blocks * 512,
        cmdSN: cmdSN++,
        expStatSN: link.target.statSN,
        cdb: buildRead10Cdb({ lba, blocks }),
        data: new Uint8Array(0),
      });
      return itt;
    },
    write(link: PairLink, lba: number, blocks: number): number {
      const itt = nextItt++;
      script.send(link, {
        opcode: Opcode.ScsiCommand,
        immediate: false,
        final: true,
        read: false,
        write: true,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: itt,
        expectedDataTransferLength: blocks * 512,
        cmdSN: cmdSN++,
        expStatSN: link.target.statSN,
        cdb: buildWrite10Cdb({ lba, blocks }),
        data: new Uint8Array(0),
      });
      return itt;
    },
    /** Answers an R2T with Data-Out PDUs of at most 512 bytes from `data`. */
    dataOut(link: PairLink, r2t: { initiatorTaskTag: number; targetTransferTag: number; bufferOffset: number; desiredDataTransferLength: number }, data: Uint8Array, upTo = r2t.desiredDataTransferLength): void {
      let dataSN = 0;
      for (let at = 0; at < upTo; at += 512) {
        const length = Math.min(512, upTo - at);
        const pdu: DataOutPdu = {
          opcode: Opcode.DataOut,
          final: at + length === r2t.desiredDataTransferLength,
          lun: 0,
          initiatorTaskTag: r2t.initiatorTaskTag,
          targetTransferTag: r2t.targetTransferTag,
          expStatSN: link.target.statSN,
          dataSN: dataSN++,
          bufferOffset: r2t.bufferOffset + at,
          data: data.subarray(r2t.bufferOffset + at, r2t.bufferOffset + at + length),
        };
        script.send(link, pdu);
      }
    },
    reassign(link: PairLink, itt: number, expDataSN = 0): number {
      const tag = nextItt++;
      script.send(link, {
        opcode: Opcode.TaskManagementRequest,
        immediate: true,
        function: TaskManagementFunction.TaskReassign,
        lun: 0,
        initiatorTaskTag: tag,
        referencedTaskTag: itt,
        cmdSN,
        expStatSN: link.target.statSN,
        refCmdSN: 0,
        expDataSN,
      });
      return tag;
    },
    logoutForRecovery(link: PairLink, cid: number): void {
      script.send(link, {
        opcode: Opcode.LogoutRequest,
        immediate: true,
        reason: LogoutReason.RemoveConnectionForRecovery,
        initiatorTaskTag: nextItt++,
        cid,
        cmdSN,
        expStatSN: link.target.statSN,
      });
    },
    /** The connection is lost under the target (reset, cable): nobody logged it out. */
    lose(link: PairLink): void {
      link.target.transportClosed(pair.now);
      pair.pump();
    },
  };
  return script;
}

function tmfResponse(pdus: readonly Pdu[], tag: number): number | undefined {
  const pdu = pdus.find((p) => p.opcode === Opcode.TaskManagementResponse && p.initiatorTaskTag === tag);
  return pdu?.opcode === Opcode.TaskManagementResponse ? pdu.response : undefined;
}

/** The Data-In payloads for `itt` in `pdus`, joined by Buffer Offset, and the status they ended with. */
function readBack(pdus: readonly Pdu[], itt: number, length: number): { data: Uint8Array; dataSNs: number[]; status: number | undefined; opcodes: number[] } {
  const data = new Uint8Array(length);
  const dataSNs: number[] = [];
  let status: number | undefined;
  const opcodes: number[] = [];
  for (const pdu of pdus) {
    if (pdu.opcode === Opcode.DataIn && pdu.initiatorTaskTag === itt) {
      data.set(pdu.data, pdu.bufferOffset);
      dataSNs.push(pdu.dataSN);
      opcodes.push(pdu.opcode);
      if (pdu.hasStatus) status = pdu.status;
    } else if (pdu.opcode === Opcode.ScsiResponse && pdu.initiatorTaskTag === itt) {
      status = pdu.status;
      opcodes.push(pdu.opcode);
    }
  }
  return { data, dataSNs, status, opcodes };
}

describe("ErrorRecoveryLevel 2: negotiation", () => {
  it("negotiates ErrorRecoveryLevel 2 when the target's policy and the initiator both offer it", () => {
    const { side, session } = erl2({ connections: 1 });
    expect(side.session.params.errorRecoveryLevel).toBe(2);
    expect(session().params.errorRecoveryLevel).toBe(2);
    expect(session().recoverable).toBe(true);
  });

  it("settles on the lower offer: 1 when the initiator offers 1 to a target allowing 2", () => {
    const { side, session } = erl2({ connections: 1, initiator: { errorRecoveryLevel: 1 } });
    expect(side.session.params.errorRecoveryLevel).toBe(1);
    expect(session().recoverable).toBe(false);
  });

  it("keeps nothing for reassignment at ERL 2 with DefaultTime2Retain 0", () => {
    const { session } = erl2({ connections: 1, initiator: { defaultTime2Retain: 0 } });
    expect(session().params.errorRecoveryLevel).toBe(2);
    expect(session().params.defaultTime2Retain).toBe(0);
    expect(session().recoverable).toBe(false);
  });

  it("refuses ErrorRecoveryLevel 3 in a target's policy", () => {
    const deps = nodeSessionDeps();
    expect(
      () =>
        new TargetEngine(
          { targets: [{ iqn: "iqn.2026-11.test:erl3", luns: [{ lun: 0, blocks: 8 }], policy: { errorRecoveryLevel: 3 } }], portals: [] },
          { crc32c: deps.crc32c, hash: deps.hash, randomBytes: deps.randomBytes },
        ),
    ).toThrow(ConfigError);
  });
});

describe("ErrorRecoveryLevel 2: a read whose connection is lost", () => {
  it("sends the whole read and its status on the connection a TASK REASSIGN names, when it ended while orphaned", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const expected = pattern(4096, 7);
    s.pair.memory().write(0, expected);
    const itt = s.read(a, 0, 8);
    expect(s.pair.pending).toHaveLength(1);
    s.lose(a);
    expect(s.session().closed).toBe(false);
    expect(s.session().orphanCount).toBe(1);
    // The storage completes while no connection has the task: its answer is held.
    s.pair.completeStorage();
    expect(s.sent(a).filter((p) => p.opcode === Opcode.DataIn)).toHaveLength(0);
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    const after = s.sent(b, from);
    expect(tmfResponse(after, tag)).toBe(TaskManagementResponseCode.FunctionComplete);
    // RFC 7143 §11.5.1: the Task Management Response comes first, then the task's data.
    expect(after[0]?.opcode).toBe(Opcode.TaskManagementResponse);
    const back = readBack(after, itt, 4096);
    expect(back.data).toEqual(expected);
    expect(back.dataSNs).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(back.status).toBe(ScsiStatus.Good);
    expect(s.session().orphanCount).toBe(0);
  });

  it("resends only the Data-In from the TASK REASSIGN's ExpDataSN, with its status, for a read answered but not acknowledged", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const expected = pattern(4096, 9);
    s.pair.memory().write(0, expected);
    const itt = s.read(a, 0, 8);
    s.pair.completeStorage();
    const first = readBack(s.sent(a), itt, 4096);
    expect(first.dataSNs).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // The initiator got DataSN 0..4 before the connection went: it asks from 5.
    s.lose(a);
    const from = s.mark();
    const tag = s.reassign(b, itt, 5);
    const after = s.sent(b, from);
    expect(tmfResponse(after, tag)).toBe(TaskManagementResponseCode.FunctionComplete);
    const back = readBack(after, itt, 4096);
    expect(back.dataSNs).toEqual([5, 6, 7]);
    expect(back.data.subarray(2560)).toEqual(expected.subarray(2560));
    expect(back.status).toBe(ScsiStatus.Good);
    // The status took a StatSN of the new connection (StatSN is per connection).
    const last = after.filter((p) => p.opcode === Opcode.DataIn).at(-1);
    expect(last?.opcode === Opcode.DataIn && last.hasStatus).toBe(true);
  });

  it("answers a read whose data all arrived but not its status with a SCSI Response alone", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 2);
    s.pair.completeStorage();
    s.lose(a);
    const from = s.mark();
    s.reassign(b, itt, 2);
    const back = readBack(s.sent(b, from), itt, 1024);
    expect(back.opcodes).toEqual([Opcode.ScsiResponse]);
    expect(back.status).toBe(ScsiStatus.Good);
  });

  it("keeps nothing for a status the initiator acknowledged with ExpStatSN before the loss", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 1);
    s.pair.completeStorage();
    // A later command's ExpStatSN acknowledges the read's status.
    s.read(a, 1, 1);
    s.lose(a);
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    expect(tmfResponse(s.sent(b, from), tag)).toBe(TaskManagementResponseCode.TaskDoesNotExist);
  });
});

describe("ErrorRecoveryLevel 2: a write whose connection is lost", () => {
  it("asks with R2T on the new connection only for the data it has not got, then completes the write", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const data = pattern(4096, 3);
    const itt = s.write(a, 16, 8);
    const [r2t] = s.sent(a).filter((p) => p.opcode === Opcode.R2T);
    expect(r2t).toMatchObject({ r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 2048 });
    if (r2t?.opcode !== Opcode.R2T) throw new Error("no R2T");
    // Three of the burst's four PDUs arrive; then the connection goes.
    s.dataOut(a, r2t, data, 1536);
    s.lose(a);
    expect(s.session().orphanCount).toBe(1);
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    const after = s.sent(b, from);
    expect(tmfResponse(after, tag)).toBe(TaskManagementResponseCode.FunctionComplete);
    const r2ts = after.filter((p) => p.opcode === Opcode.R2T);
    // R2TSN goes on from the old connection's; the 1536 bytes received are not asked for again.
    expect(r2ts.map((p) => p.opcode === Opcode.R2T && [p.r2tSN, p.bufferOffset, p.desiredDataTransferLength])).toEqual([[1, 1536, 512]]);
    for (;;) {
      const pending = s.sent(b, from).filter((p) => p.opcode === Opcode.R2T);
      const next = pending[pending.length - 1];
      if (next?.opcode !== Opcode.R2T) break;
      const before = pending.length;
      s.dataOut(b, next, data);
      if (s.sent(b, from).filter((p) => p.opcode === Opcode.R2T).length === before) break;
    }
    expect(s.pair.pending).toHaveLength(1);
    s.pair.completeStorage();
    const response = s.sent(b, from).find((p) => p.opcode === Opcode.ScsiResponse && p.initiatorTaskTag === itt);
    expect(response?.opcode === Opcode.ScsiResponse && response.status).toBe(ScsiStatus.Good);
    expect(s.pair.memory().read(16 * 512, 4096)).toEqual(data);
    expect(s.sent(b, from).filter((p) => p.opcode === Opcode.R2T).map((p) => p.opcode === Opcode.R2T && p.bufferOffset)).toEqual([1536, 2048]);
  });
});

describe("ErrorRecoveryLevel 2: the session outlives a lost connection", () => {
  it("keeps a session whose only connection is lost for Time2Retain, and lets a new connection log in with its TSIH and take its task", () => {
    const s = erl2({ connections: 1 });
    const [a] = s.links as [PairLink];
    const tsih = s.session().tsih;
    const expected = pattern(1024, 11);
    s.pair.memory().write(0, expected);
    const itt = s.read(a, 0, 2);
    s.lose(a);
    expect(s.pair.engine.session(tsih)?.closed).toBe(false);
    s.pair.completeStorage();
    s.pair.advance(5_000);
    // A new connection joins the session with its TSIH (the initiator core does the login).
    const b = s.pair.connect(s.side);
    b.frozen = true;
    expect(s.pair.engine.session(tsih)?.connections.map((c) => c.id)).toEqual([b.target.id]);
    const from = s.mark();
    s.reassign(b, itt, 0);
    const back = readBack(s.sent(b, from), itt, 1024);
    expect(back.data).toEqual(expected);
    expect(back.status).toBe(ScsiStatus.Good);
    expect(s.pair.events("session-closed")).toHaveLength(0);
  });

  it("ends a session left without a connection once Time2Retain passes, as at ERL 0", () => {
    const s = erl2({ connections: 1 });
    const [a] = s.links as [PairLink];
    const tsih = s.session().tsih;
    s.read(a, 0, 1);
    s.lose(a);
    s.pair.advance(19_999);
    expect(s.pair.engine.session(tsih)?.closed).toBe(false);
    expect(s.pair.engine.pollTimeout()).toBe(20_000);
    s.pair.advance(1);
    expect(s.pair.engine.session(tsih)).toBeUndefined();
    expect(s.pair.events("session-closed").map((e) => e.reason)).toEqual(["connections-lost"]);
    // The orphaned read's storage finishes later: nothing is sent, nothing breaks.
    s.pair.completeStorage();
  });

  it("answers 'task does not exist' to a TASK REASSIGN after Time2Retain, while the session goes on", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 1);
    s.lose(a);
    s.pair.advance(20_000);
    expect(s.session().orphanCount).toBe(0);
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    expect(tmfResponse(s.sent(b, from), tag)).toBe(TaskManagementResponseCode.TaskDoesNotExist);
    expect(s.session().closed).toBe(false);
    s.pair.completeStorage();
  });
});

describe("ErrorRecoveryLevel 2: refusals", () => {
  it("answers 'task does not exist' for an orphaned task a LOGICAL UNIT RESET cleared meanwhile", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 1);
    s.lose(a);
    expect(s.session().orphanCount).toBe(1);
    s.send(b, {
      opcode: Opcode.TaskManagementRequest,
      immediate: true,
      function: TaskManagementFunction.LogicalUnitReset,
      lun: 0,
      initiatorTaskTag: 0x7777,
      referencedTaskTag: 0xffff_ffff,
      cmdSN: s.side.session.commandWindow.cmdSN + 1,
      expStatSN: b.target.statSN,
      refCmdSN: 0,
      expDataSN: 0,
    });
    expect(s.session().orphanCount).toBe(0);
    s.pair.completeStorage();
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    expect(tmfResponse(s.sent(b, from), tag)).toBe(TaskManagementResponseCode.TaskDoesNotExist);
  });

  it("answers 'task still allegiant' when the task's connection is alive", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 1);
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    expect(tmfResponse(s.sent(b, from), tag)).toBe(TaskManagementResponseCode.TaskStillAllegiant);
    s.pair.completeStorage();
    expect(readBack(s.sent(a), itt, 512).status).toBe(ScsiStatus.Good);
  });

  it("answers 'reassignment not supported' and aborts a lost connection's tasks below level 2", () => {
    const s = erl2({ initiator: { errorRecoveryLevel: 1 } });
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 1);
    s.lose(a);
    expect(s.session().taskCount).toBe(0);
    const from = s.mark();
    const tag = s.reassign(b, itt, 0);
    expect(tmfResponse(s.sent(b, from), tag)).toBe(TaskManagementResponseCode.TaskAllegianceReassignmentNotSupported);
    s.pair.completeStorage();
  });
});

describe("ErrorRecoveryLevel 2: Logout to remove a connection for recovery (reason 2)", () => {
  it("closes the named connection, keeps its tasks for reassignment, and answers with Time2Wait and Time2Retain", () => {
    const s = erl2({ initiator: { defaultTime2Wait: 3 } });
    const [a, b] = s.links as [PairLink, PairLink];
    const itt = s.read(a, 0, 1);
    const from = s.mark();
    s.logoutForRecovery(b, a.initiator.cid);
    const response = s.sent(b, from).find((p) => p.opcode === Opcode.LogoutResponse);
    expect(response).toMatchObject({ response: LogoutResponseCode.Success, time2Wait: 3, time2Retain: 20 });
    expect(a.target.closed).toBe(true);
    expect(s.session().orphanCount).toBe(1);
    s.pair.completeStorage();
    s.reassign(b, itt, 0);
    expect(readBack(s.sent(b, from), itt, 512).status).toBe(ScsiStatus.Good);
  });

  it("answers success for a CID already lost, and 'CID not found' for one never seen", () => {
    const s = erl2();
    const [a, b] = s.links as [PairLink, PairLink];
    s.lose(a);
    const from = s.mark();
    s.logoutForRecovery(b, a.initiator.cid);
    s.logoutForRecovery(b, 77);
    const responses = s.sent(b, from).filter((p) => p.opcode === Opcode.LogoutResponse).map((p) => p.opcode === Opcode.LogoutResponse && p.response);
    expect(responses).toEqual([LogoutResponseCode.Success, LogoutResponseCode.CidNotFound]);
    expect(b.target.closed).toBe(false);
  });

  it("answers 'recovery not supported' below level 2", () => {
    const s = erl2({ initiator: { errorRecoveryLevel: 1 } });
    const [a, b] = s.links as [PairLink, PairLink];
    const from = s.mark();
    s.logoutForRecovery(b, a.initiator.cid);
    const response = s.sent(b, from).find((p) => p.opcode === Opcode.LogoutResponse);
    expect(response).toMatchObject({ response: LogoutResponseCode.RecoveryNotSupported, time2Wait: 0, time2Retain: 0 });
    expect(a.target.closed).toBe(false);
  });
});
