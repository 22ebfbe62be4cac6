/**
 * ErrorRecoveryLevel 2 in the initiator core (erl2.ts), against the embedded target's engine in
 * memory (src/target/engine/pair.test-util.ts): connection recovery inside the session, TASK
 * REASSIGN, Logout reason 2, and the fallback to session reinstatement past Time2Retain.
 */
import { describe, expect, it } from "vitest";
import { LogoutReason, Opcode, TaskManagementFunction } from "../pdu/opcodes.js";
import { buildRead10Cdb, buildWrite10Cdb } from "../scsi/cdb.js";
import { ScsiStatus } from "../scsi/status.js";
import { DEFAULT_INITIATOR_PROPOSAL, type TargetPolicy } from "../text/parameters.js";
import { type InitiatorSide, type PairLink, TargetPair } from "../../target/engine/pair.test-util.js";
import { SessionPhase } from "./machine.js";

const SMALL: Partial<TargetPolicy> = { maxRecvDataSegmentLength: 512, firstBurstLength: 1024, maxBurstLength: 2048, maxOutstandingR2T: 1, initialR2T: true, immediateData: false };

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

/** A pair at ERL 2 (Time2Wait 1 s, Time2Retain 20 s) with `connections` connections logged in. */
function erl2(o: { connections?: number; storage?: "sync" | "manual"; erl?: number } = {}) {
  const pair = new TargetPair({ trace: true, storage: o.storage ?? "manual", target: { policy: { ...SMALL, errorRecoveryLevel: 2, defaultTime2Wait: 1 } } });
  const side = pair.initiator({
    proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512, errorRecoveryLevel: o.erl ?? 2, defaultTime2Wait: 1, defaultTime2Retain: 20, maxConnections: 4 },
    recovery: { enabled: true, initialBackoffMs: 100 },
  }).login();
  for (let i = 1; i < (o.connections ?? 1); i++) pair.connect(side);
  return { pair, side };
}

/** The connection is cut under both ends (a reset): each side learns it from its transport. */
function cut(pair: TargetPair, link: PairLink): void {
  link.frozen = true;
  link.target.transportClosed(pair.now);
  link.side.session.transportClosed(link.initiator, undefined, pair.now);
  pair.pump();
}

/** Answers the core's "reconnect" events as a host does: a new connection, logged in. */
function reconnect(pair: TargetPair, side: InitiatorSide, seen: number): number {
  let made = 0;
  for (const event of side.events.slice(seen)) {
    if (event.type !== "reconnect") continue;
    pair.connect(side);
    made++;
  }
  return made;
}

describe("ErrorRecoveryLevel 2 in the initiator: a single-connection session", () => {
  it("recovers a write cut mid-transfer inside the session: same TSIH, a new connection with the same CID, TASK REASSIGN, and the write completes", () => {
    const { pair, side } = erl2();
    const tsih = side.session.tsih;
    const data = pattern(4096, 1);
    const [a] = pair.links() as [PairLink];
    // The target's second R2T is lost with the connection: the cut comes mid-write.
    let r2ts = 0;
    pair.tamper = (direction, pieces) => (direction === "to-initiator" ? pieces.filter((p) => p[0] !== Opcode.R2T || r2ts++ < 1) : pieces);
    const id = side.submit({ cdb: buildWrite10Cdb({ lba: 32, blocks: 8 }), dataOut: data });
    pair.pump();
    pair.tamper = undefined;
    expect(pair.sent(Opcode.R2T).map((r) => r.r2tSN)).toEqual([0, 1]);
    cut(pair, a);
    expect(side.session.state).toBe("FAILED");
    expect(side.outcome(id)).toBeUndefined();
    const seen = side.events.length;
    // DefaultTime2Wait (1 s) before the new connection.
    pair.advance(999);
    expect(side.events.slice(seen).some((e) => e.type === "reconnect")).toBe(false);
    pair.advance(1);
    expect(side.events.slice(seen).filter((e) => e.type === "reconnect")).toEqual([{ type: "reconnect", attempt: 1, cid: a.initiator.cid }]);
    expect(reconnect(pair, side, seen)).toBe(1);
    pair.completeStorage();
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(32 * 512, 4096)).toEqual(data);
    expect(side.session.tsih).toBe(tsih);
    expect(pair.engine.sessions.map((s) => s.tsih)).toEqual([tsih]);
    // The new connection took the lost CID: no Logout reason 2 was needed (implicit logout).
    const b = pair.links()[1]!;
    expect(b.initiator.cid).toBe(a.initiator.cid);
    expect(pair.received(Opcode.LogoutRequest)).toHaveLength(0);
    const reassign = pair.received(Opcode.TaskManagementRequest).filter((t) => t.function === TaskManagementFunction.TaskReassign);
    expect(reassign.map((t) => t.referencedTaskTag)).toEqual([side.itt(id)]);
    // The first burst arrived before the cut: only the second is asked for again (R2TSN 2).
    expect(pair.sent(Opcode.R2T).map((r) => [r.r2tSN, r.bufferOffset, r.desiredDataTransferLength])).toEqual([
      [0, 0, 2048],
      [1, 2048, 2048],
      [2, 2048, 2048],
    ]);
    expect(side.types()).toContain("connection-recovery");
    expect(side.session.recoveries).toHaveLength(0);
    expect(pair.events("session-closed")).toHaveLength(0);
  });

  it("asks for a read's Data-In only from the next DataSN it needs when the cut came mid-read", () => {
    const { pair, side } = erl2({ storage: "sync" });
    const expected = pattern(8192, 2);
    pair.memory().write(0, expected);
    const [a] = pair.links() as [PairLink];
    // Let the first three Data-In through, then cut.
    let passed = 0;
    pair.tamper = (direction, pieces, link) => {
      if (direction !== "to-initiator" || link !== a) return pieces;
      const out: Uint8Array[] = [];
      for (const piece of pieces) {
        if (piece[0] === Opcode.DataIn && passed >= 3) continue;
        if (piece[0] === Opcode.DataIn) passed++;
        out.push(piece);
      }
      return out;
    };
    const buffer = new Uint8Array(8192);
    const id = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 16 }), dataIn: buffer });
    pair.pump();
    pair.tamper = undefined;
    cut(pair, a);
    const seen = side.events.length;
    pair.advance(1000);
    reconnect(pair, side, seen);
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(buffer).toEqual(expected);
    const [reassign] = pair.received(Opcode.TaskManagementRequest).filter((t) => t.function === TaskManagementFunction.TaskReassign);
    expect(reassign?.expDataSN).toBe(3);
  });

  it("falls back to session reinstatement when no connection comes back within Time2Retain", () => {
    const { pair, side } = erl2();
    const tsih = side.session.tsih;
    const id = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512), retry: "safe" } as never);
    pair.pump();
    const [a] = pair.links() as [PairLink];
    cut(pair, a);
    // The host never answers "reconnect" for the connection: Time2Retain (20 s) passes.
    pair.advance(20_000);
    expect(side.types()).toContain("connection-recovery");
    const fell = side.events.find((e) => e.type === "connection-recovery" && e.phase === "fell-back");
    expect(fell).toBeDefined();
    expect(side.session.recoveries).toHaveLength(1);
    // Reinstatement as at ERL 0: a leading login with TSIH 0.
    const seen = side.events.length;
    pair.advance(1_000);
    reconnect(pair, side, seen);
    pair.completeStorage();
    expect(side.session.state).toBe("LOGGED_IN");
    expect(side.session.tsih).not.toBe(tsih);
    expect(side.outcome(id)).toBeDefined();
  });

  it("recovers a connection the network silenced (keep-alive timeout) while the target still holds it: the login with the same CID logs the old one out implicitly", () => {
    const pair = new TargetPair({ trace: true, storage: "manual", target: { policy: { ...SMALL, errorRecoveryLevel: 2, defaultTime2Wait: 1 } } });
    const side = pair.initiator({
      proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512, errorRecoveryLevel: 2, defaultTime2Wait: 1, defaultTime2Retain: 20 },
      recovery: { enabled: true },
      keepAlive: { intervalMs: 1_000, timeoutMs: 2_000 },
    }).login();
    const tsih = side.session.tsih;
    const data = pattern(2048, 9);
    const id = side.submit({ cdb: buildWrite10Cdb({ lba: 8, blocks: 4 }), dataOut: data });
    pair.pump();
    const [a] = pair.links() as [PairLink];
    a.frozen = true;
    const seen = side.events.length;
    for (let t = 0; t < 4_000 && !side.events.slice(seen).some((e) => e.type === "reconnect"); t += 250) pair.advance(250);
    expect(a.target.closed).toBe(false);
    expect(side.events.slice(seen).some((e) => e.type === "connection-recovery")).toBe(true);
    reconnect(pair, side, seen);
    // The target closed the old connection when the new one logged in with its CID (RFC 7143 §6.3.4).
    expect(a.target.closed).toBe(true);
    pair.completeStorage();
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(8 * 512, 2048)).toEqual(data);
    expect(side.session.tsih).toBe(tsih);
    expect(pair.engine.sessions.map((s) => s.tsih)).toEqual([tsih]);
  });

  it("recovers a connection the target drops with AsyncEvent 2 after the Time2Wait it names", () => {
    const { pair, side } = erl2();
    const tsih = side.session.tsih;
    const id = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 2 }), dataIn: new Uint8Array(1024) });
    pair.pump();
    const [a] = pair.links() as [PairLink];
    const seen = side.events.length;
    // RFC 7143 §11.9.1 AsyncEvent 2: Parameter2 Time2Wait 3 s, Parameter3 Time2Retain 20 s.
    pair.engine.dropConnection(a.target.id, pair.now, true, { time2Wait: 3, time2Retain: 20 });
    pair.pump();
    expect(side.events.slice(seen).some((e) => e.type === "connection-recovery" && e.phase === "started")).toBe(true);
    pair.advance(2_999);
    expect(side.events.slice(seen).some((e) => e.type === "reconnect")).toBe(false);
    pair.advance(1);
    expect(reconnect(pair, side, seen)).toBe(1);
    pair.completeStorage();
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(side.session.tsih).toBe(tsih);
    expect(side.session.recoveries).toHaveLength(0);
  });

  it("recovers again when the replacing connection is lost before its TASK REASSIGN is answered", () => {
    const { pair, side } = erl2();
    const tsih = side.session.tsih;
    const data = pattern(2048, 4);
    const id = side.submit({ cdb: buildWrite10Cdb({ lba: 200, blocks: 4 }), dataOut: data });
    pair.pump();
    const [a] = pair.links() as [PairLink];
    cut(pair, a);
    let seen = side.events.length;
    pair.advance(1000);
    // The Task Management Response on the replacing connection never arrives; then it is cut too.
    pair.tamper = (direction, pieces) => (direction === "to-initiator" ? pieces.filter((p) => p[0] !== Opcode.TaskManagementResponse) : pieces);
    expect(reconnect(pair, side, seen)).toBe(1);
    pair.tamper = undefined;
    const b = pair.links()[1]!;
    cut(pair, b);
    expect(side.outcome(id)).toBeUndefined();
    seen = side.events.length;
    pair.advance(1000);
    expect(reconnect(pair, side, seen)).toBe(1);
    pair.completeStorage();
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(200 * 512, 2048)).toEqual(data);
    expect(side.session.tsih).toBe(tsih);
    expect(side.session.recoveries).toHaveLength(0);
    expect(pair.received(Opcode.TaskManagementRequest).filter((t) => t.function === TaskManagementFunction.TaskReassign)).toHaveLength(2);
  });

  it("sends again, with the same ITT and CmdSN, a command lost with the connection, and the command after it (held for the gap) is reassigned", () => {
    const { pair, side } = erl2({ storage: "sync" });
    const [a] = pair.links() as [PairLink];
    const first = pattern(1024, 6);
    const second = pattern(1024, 7);
    // The first WRITE's command PDU never reaches the target; the second does, and waits for it.
    let dropped = false;
    pair.tamper = (direction, pieces) =>
      direction === "to-target"
        ? pieces.filter((p) => {
            if (dropped || p[0] !== Opcode.ScsiCommand) return true;
            dropped = true;
            return false;
          })
        : pieces;
    const one = side.submit({ cdb: buildWrite10Cdb({ lba: 300, blocks: 2 }), dataOut: first });
    const two = side.submit({ cdb: buildWrite10Cdb({ lba: 310, blocks: 2 }), dataOut: second });
    pair.pump();
    pair.tamper = undefined;
    expect(pair.engine.sessions[0]!.heldCommands).toBe(1);
    cut(pair, a);
    const seen = side.events.length;
    pair.advance(1000);
    reconnect(pair, side, seen);
    expect(side.result(one).status).toBe(ScsiStatus.Good);
    expect(side.result(two).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(300 * 512, 1024)).toEqual(first);
    expect(pair.memory().read(310 * 512, 1024)).toEqual(second);
    const commands = pair.received(Opcode.ScsiCommand).filter((c) => c.initiatorTaskTag === side.itt(one));
    // RFC 7143 §6.2.1: the retry carries the lost command's ITT and CmdSN.
    expect(commands).toHaveLength(1);
    expect(side.session.recoveries).toHaveLength(0);
  });

  it("recovers by reinstatement, as today, when the target settles on ErrorRecoveryLevel 1", () => {
    const { pair, side } = erl2({ erl: 1 });
    expect(side.session.params.errorRecoveryLevel).toBe(1);
    const [a] = pair.links() as [PairLink];
    cut(pair, a);
    expect(side.types()).not.toContain("connection-recovery");
    expect(side.session.recoveries).toHaveLength(1);
  });
});

describe("ErrorRecoveryLevel 2 in the initiator: MC/S", () => {
  it("keeps I/O on the other three connections while one of four recovers, and loses no write", () => {
    const { pair, side } = erl2({ connections: 4, storage: "sync" });
    expect(side.session.connectionList).toHaveLength(4);
    const links = [...pair.links()];
    const victim = links[1]!;
    cut(pair, victim);
    expect(side.session.state).toBe("LOGGED_IN");
    // New writes flow on the survivors meanwhile.
    const writes = Array.from({ length: 12 }, (_, i) => ({ lba: 100 + i * 8, data: pattern(4096, 10 + i) }));
    const ids = writes.map((w) => side.submit({ cdb: buildWrite10Cdb({ lba: w.lba, blocks: 8 }), dataOut: w.data }));
    pair.pump();
    for (const id of ids) expect(side.result(id).status).toBe(ScsiStatus.Good);
    const seen = side.events.length;
    pair.advance(1000);
    expect(reconnect(pair, side, seen)).toBe(1);
    expect(side.session.connectionList.filter((c) => c.usable)).toHaveLength(4);
    for (const w of writes) expect(pair.memory().read(w.lba * 512, 4096)).toEqual(w.data);
    expect(pair.engine.sessions).toHaveLength(1);
  });

  it("moves a lost connection's tasks to a surviving one with Logout reason 2 when no new connection can be made", () => {
    const { pair, side } = erl2({ connections: 2 });
    const data = pattern(4096, 5);
    const id = side.submit({ cdb: buildWrite10Cdb({ lba: 64, blocks: 8 }), dataOut: data });
    pair.pump();
    const owner = side.session.connectionList.find((c) => c.counters.outstanding > 0)!;
    const link = pair.links().find((l) => l.initiator === owner)!;
    cut(pair, link);
    const seen = side.events.length;
    pair.advance(1000);
    expect(side.events.slice(seen).some((e) => e.type === "reconnect")).toBe(true);
    // The host tries, and the connection cannot be made.
    const attempt = side.session.openConnection(pair.now);
    side.session.transportClosed(attempt, undefined, pair.now);
    pair.pump();
    const logout = pair.received(Opcode.LogoutRequest);
    expect(logout.map((l) => [l.reason, l.cid])).toEqual([[LogoutReason.RemoveConnectionForRecovery, owner.cid]]);
    pair.completeStorage();
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(64 * 512, 4096)).toEqual(data);
    expect(side.session.state).toBe("LOGGED_IN");
  });
});

describe("ErrorRecoveryLevel 2: the session's states", () => {
  it("passes through CONNECTION_RECOVERY and IN_CONTINUE back to LOGGED_IN", () => {
    const { pair, side } = erl2();
    const [a] = pair.links() as [PairLink];
    const phases: string[] = [];
    const session = side.session as unknown as { ctx: { machine: { phase: string } } };
    cut(pair, a);
    phases.push(session.ctx.machine.phase);
    const seen = side.events.length;
    pair.advance(1000);
    reconnect(pair, side, seen);
    phases.push(session.ctx.machine.phase);
    expect(phases).toEqual([SessionPhase.ConnectionRecovery, SessionPhase.LoggedIn]);
  });
});
