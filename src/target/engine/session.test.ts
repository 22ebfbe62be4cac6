import { describe, expect, it } from "vitest";
import { InitiatorLogin } from "../../core/login/initiator.js";
import { LoginStatus } from "../../core/login/status.js";
import { encodePdu } from "../../core/pdu/encode.js";
import { AsyncEvent, LogoutReason, Opcode, RESERVED_TAG, RejectReason } from "../../core/pdu/opcodes.js";
import type { SnackRequestPdu } from "../../core/pdu/types.js";
import { buildRead10Cdb, buildTestUnitReadyCdb } from "../../core/scsi/cdb.js";
import { crc32c } from "../../core/digest/crc32c.js";
import { decodeSense } from "../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../core/scsi/status.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../../core/text/parameters.js";
import { nodeSessionDeps } from "../../node/deps.js";
import { INITIATOR, TARGET, TargetPair } from "./pair.test-util.js";

const NO_DIGESTS = { headerDigest: false, dataDigest: false, crc32c };
const ISID = 0x80_00_12_34_56_78;

describe("NOP-Out and NOP-In", () => {
  it("answers an initiator's ping with its data", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const id = side.ping(Uint8Array.of(1, 2, 3, 4, 5));
    const event = side.outcome(id);
    expect(event?.type).toBe("ping-complete");
    if (event?.type === "ping-complete") expect([...event.result.data]).toEqual([1, 2, 3, 4, 5]);
  });

  it("pings an idle initiator and keeps the connection when it answers", () => {
    const pair = new TargetPair({ engine: { nopIn: { intervalMs: 1000, timeoutMs: 500 } }, trace: true });
    pair.initiator().login();
    pair.advance(1000);
    const pings = pair.sent(Opcode.NopIn);
    expect(pings).toHaveLength(1);
    expect(pings[0]).toMatchObject({ initiatorTaskTag: RESERVED_TAG });
    expect(pings[0]?.targetTransferTag).not.toBe(RESERVED_TAG);
    expect(pair.received(Opcode.NopOut).map((p) => p.targetTransferTag)).toEqual([pings[0]?.targetTransferTag]);
    pair.advance(600);
    expect(pair.engine.stats.connectionsOpen).toBe(1);
    expect(pair.engine.stats.nopInPings).toBe(1);
  });

  it("drops a connection whose initiator does not answer the ping in time", () => {
    const pair = new TargetPair({ engine: { nopIn: { intervalMs: 1000, timeoutMs: 500 } } });
    pair.initiator().login();
    pair.links()[0]!.frozen = true;
    pair.advance(1000);
    pair.advance(499);
    expect(pair.engine.stats.connectionsOpen).toBe(1);
    pair.advance(1);
    expect(pair.engine.stats.connectionsOpen).toBe(0);
    expect(pair.events("connection-closed")[0]?.error?.code).toBe("ISCSI_ERR_TIMEOUT");
    expect(pair.events("session-closed")[0]?.reason).toBe("connections-lost");
  });

  it("drops a connection that does not finish its login in time", () => {
    const pair = new TargetPair({ engine: { loginTimeoutMs: 2000 } });
    pair.engine.accept({ localAddress: "127.0.0.1", localPort: 3260, remoteAddress: "127.0.0.1", remotePort: 1 }, 0);
    pair.advance(1999);
    expect(pair.engine.stats.connectionsOpen).toBe(1);
    pair.advance(1);
    expect(pair.engine.stats.connectionsOpen).toBe(0);
    expect(pair.events("login-failed")[0]?.error.message).toMatch(/login not complete within 2000 ms/);
  });
});

describe("discovery", () => {
  it("lists every target with its portal and tag for SendTargets=All", () => {
    const pair = new TargetPair({
      engine: {
        portals: [{ host: "0.0.0.0", port: 3261 }],
        targets: [
          { iqn: TARGET, luns: [{ lun: 0, blocks: 100 }] },
          { iqn: "iqn.2026-11.test:second", alias: "second", luns: [{ lun: 3, blocks: 100 }] },
        ],
      },
    });
    const side = pair.initiator({ sessionType: "Discovery", targetName: undefined });
    pair.connect(side, { localAddress: "::ffff:192.0.2.7", localPort: 3261, remoteAddress: "::ffff:192.0.2.8", remotePort: 5000 });
    expect(side.types()).toContain("login-complete");
    const pairs = side.text([["SendTargets", "All"]]);
    // A wildcard listener answers with the address the initiator reached.
    expect(pairs).toEqual([
      ["TargetName", TARGET],
      ["TargetAddress", "192.0.2.7:3261,1"],
      ["TargetName", "iqn.2026-11.test:second"],
      ["TargetAddress", "192.0.2.7:3261,1"],
    ]);
    expect(pair.events("session-created")[0]?.session.type).toBe("Discovery");
  });

  it("answers SendTargets=<name> with that target only, and a normal session's empty SendTargets with its own", () => {
    const pair = new TargetPair({
      engine: { targets: [{ iqn: TARGET, luns: [{ lun: 0, blocks: 100 }] }, { iqn: "iqn.2026-11.test:second", luns: [{ lun: 0, blocks: 100 }] }] },
    });
    const discovery = pair.initiator({ sessionType: "Discovery", targetName: undefined }).login();
    expect(discovery.text([["SendTargets", "iqn.2026-11.test:second"]])).toEqual([
      ["TargetName", "iqn.2026-11.test:second"],
      ["TargetAddress", "127.0.0.1:3260,1"],
    ]);
    const normal = pair.initiator().login();
    expect(normal.text([["SendTargets", ""]])).toEqual([
      ["TargetName", TARGET],
      ["TargetAddress", "127.0.0.1:3260,1"],
    ]);
  });

  it("sends a long answer in pieces no larger than the initiator accepts (C bit and Target Transfer Tag)", () => {
    const targets = Array.from({ length: 40 }, (_, i) => ({ iqn: `iqn.2026-11.test:target-number-${i.toString().padStart(3, "0")}`, luns: [{ lun: 0, blocks: 8 }] }));
    const pair = new TargetPair({ engine: { targets }, trace: true });
    const side = pair.initiator({ sessionType: "Discovery", targetName: undefined, proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512 } }).login();
    const pairs = side.text([["SendTargets", "All"]]);
    expect(pairs.filter(([k]) => k === "TargetName").map(([, v]) => v)).toEqual(targets.map((t) => t.iqn));
    const responses = pair.sent(Opcode.TextResponse);
    expect(responses.length).toBeGreaterThan(3);
    expect(responses.every((r) => r.data.length <= 512)).toBe(true);
    expect(responses.slice(0, -1).every((r) => r.continue && !r.final && r.targetTransferTag !== RESERVED_TAG)).toBe(true);
    expect(responses.at(-1)).toMatchObject({ final: true, continue: false, targetTransferTag: RESERVED_TAG });
  });

  it("refuses SCSI commands in a discovery session with a Reject", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator({ sessionType: "Discovery", targetName: undefined }).login();
    const link = pair.links()[0]!;
    const command = encodePdu(
      {
        opcode: Opcode.ScsiCommand,
        immediate: true,
        final: true,
        read: false,
        write: false,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: 77,
        expectedDataTransferLength: 0,
        cmdSN: side.session.commandWindow.cmdSN,
        expStatSN: 0,
        cdb: buildTestUnitReadyCdb(),
        data: new Uint8Array(0),
      },
      NO_DIGESTS,
    );
    for (const piece of command) link.target.receive(piece, pair.now);
    pair.pump();
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.CommandNotSupported]);
    expect(pair.events("protocol-error")[0]?.error.message).toMatch(/discovery session/);
  });
});

describe("sessions and connections", () => {
  it("reinstates a session when the initiator logs in again with the same ISID (RFC 7143 §6.3.5)", () => {
    const pair = new TargetPair();
    const first = pair.initiator({ isid: ISID }).login();
    const tsih = first.session.tsih;
    const second = pair.initiator({ isid: ISID }).login();
    expect(second.session.tsih).not.toBe(tsih);
    expect(pair.events("session-closed").map((e) => [e.session.tsih, e.reason])).toEqual([[tsih, "reinstated"]]);
    expect(first.types()).toContain("connection-closed");
    expect(pair.engine.sessions.map((s) => s.tsih)).toEqual([second.session.tsih]);
  });

  it("takes a second connection into a session and answers each command on the connection it came on (MC/S)", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator({ proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2 } }).login();
    expect(side.session.params.maxConnections).toBe(2);
    pair.connect(side);
    expect(side.types().filter((t) => t === "login-complete")).toHaveLength(2);
    const session = pair.engine.sessions[0]!;
    expect(session.connections).toHaveLength(2);
    const ids = Array.from({ length: 8 }, (_, i) => side.submit({ cdb: buildRead10Cdb({ lba: i, blocks: 1 }), dataIn: new Uint8Array(512) }));
    pair.pump();
    for (const id of ids) expect(side.result(id).status).toBe(0);
    const byConnection = new Map<number, Set<number>>();
    for (const t of pair.trace) {
      if (t.pdu.opcode !== Opcode.ScsiCommand && t.pdu.opcode !== Opcode.DataIn) continue;
      const set = byConnection.get(t.pdu.initiatorTaskTag) ?? new Set<number>();
      set.add(t.connectionId);
      byConnection.set(t.pdu.initiatorTaskTag, set);
    }
    const used = new Set<number>();
    for (const set of byConnection.values()) {
      expect(set.size).toBe(1);
      used.add([...set][0]!);
    }
    expect(used.size).toBe(2);
  });

  it("refuses a connection beyond MaxConnections with 'too many connections' (0x0206)", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator({ isid: ISID }).login();
    const deps = nodeSessionDeps();
    const login = new InitiatorLogin({
      initiatorName: INITIATOR,
      targetName: TARGET,
      sessionType: "Normal",
      isid: ISID,
      tsih: side.session.tsih,
      cid: 9,
      cmdSN: side.session.commandWindow.cmdSN,
      initiatorTaskTag: 0x999,
      session: side.session.params,
      hash: deps.hash,
      randomBytes: deps.randomBytes,
    });
    const connection = pair.engine.accept({ localAddress: "127.0.0.1", localPort: 3260, remoteAddress: "127.0.0.1", remotePort: 2 }, pair.now);
    for (const piece of encodePdu(login.start(), NO_DIGESTS)) connection.receive(piece, pair.now);
    pair.pump();
    const response = pair.sent(Opcode.LoginResponse).at(-1);
    expect(response && (response.statusClass << 8) | response.statusDetail).toBe(LoginStatus.TooManyConnections);
    expect(connection.closed).toBe(true);
    expect(pair.engine.sessions[0]?.connections).toHaveLength(1);
  });

  it("ends the session as a logout when the initiator logs out its only connection", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    side.logout(LogoutReason.CloseConnection, side.session.connectionList[0]!.cid);
    expect(pair.events("session-closed").map((e) => e.reason)).toEqual(["logout"]);
  });

  it("closes one connection of a session on a connection logout and keeps the session", () => {
    const pair = new TargetPair();
    const side = pair.initiator({ proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2 } }).login();
    pair.connect(side);
    const cids = side.session.connectionList.map((c) => c.cid);
    side.logout(LogoutReason.CloseConnection, cids[1]);
    expect(pair.engine.sessions[0]?.connections.map((c) => c.cid)).toEqual([cids[0]]);
    expect(pair.events("session-closed")).toHaveLength(0);
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
  });
});

describe("protocol errors", () => {
  it("rejects a SNACK (ErrorRecoveryLevel 0) and goes on", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator().login();
    const snack: SnackRequestPdu = {
      opcode: Opcode.SnackRequest,
      type: 1,
      lun: 0,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: RESERVED_TAG,
      expStatSN: 0,
      begRun: 0,
      runLength: 0,
    };
    for (const piece of encodePdu(snack, NO_DIGESTS)) pair.links()[0]!.target.receive(piece, pair.now);
    pair.pump();
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.ProtocolError]);
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
  });

  it("drops the connection on a header digest mismatch: no length in that header can be trusted", () => {
    const pair = new TargetPair();
    const side = pair.initiator({ proposal: { ...DEFAULT_INITIATOR_PROPOSAL, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] } }).login();
    const link = pair.links()[0]!;
    expect(link.target.params.headerDigest).toBe(true);
    const pieces = encodePdu(
      { opcode: Opcode.NopOut, immediate: true, lun: 0, initiatorTaskTag: 5, targetTransferTag: RESERVED_TAG, cmdSN: side.session.commandWindow.cmdSN, expStatSN: 0, data: new Uint8Array(0) },
      { headerDigest: true, dataDigest: true, crc32c },
    );
    const header = pieces[0]!.slice();
    header[20] = header[20]! ^ 0x01;
    link.target.receive(header, pair.now);
    expect(link.target.closed).toBe(true);
    pair.pump();
    expect(pair.events("connection-closed")[0]?.error?.code).toBe("ISCSI_ERR_DIGEST");
  });

  it("rejects a PDU with a data digest mismatch, then drops the connection (ErrorRecoveryLevel 0)", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator({ proposal: { ...DEFAULT_INITIATOR_PROPOSAL, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] } }).login();
    const link = pair.links()[0]!;
    const pieces = encodePdu(
      { opcode: Opcode.NopOut, immediate: true, lun: 0, initiatorTaskTag: 5, targetTransferTag: RESERVED_TAG, cmdSN: side.session.commandWindow.cmdSN, expStatSN: 0, data: new Uint8Array(8).fill(1) },
      { headerDigest: true, dataDigest: true, crc32c },
    );
    const data = pieces[1]!.slice();
    data[3] = data[3]! ^ 0x40;
    for (const piece of [pieces[0]!, data, pieces[2]!]) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.DataDigestError]);
    expect(link.target.closed).toBe(true);
  });

  it("refuses a Login Request in full feature phase", () => {
    const pair = new TargetPair({ trace: true });
    pair.initiator().login();
    const link = pair.links()[0]!;
    const login = encodePdu(
      {
        opcode: Opcode.LoginRequest,
        transit: false,
        continue: false,
        currentStage: 0,
        nextStage: 0,
        versionMax: 0,
        versionMin: 0,
        isid: ISID,
        tsih: 0,
        initiatorTaskTag: 1,
        cid: 0,
        cmdSN: 0,
        expStatSN: 0,
        data: new Uint8Array(0),
      },
      NO_DIGESTS,
    );
    for (const piece of login) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.ProtocolError]);
    expect(link.target.closed).toBe(true);
  });

  it("rejects an unknown opcode with 'command not supported' and echoes its header", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator().login();
    const bhs = new Uint8Array(48);
    bhs[0] = 0x1c;
    bhs.set([0xde, 0xad, 0xbe, 0xef], 16);
    pair.links()[0]!.target.receive(bhs, pair.now);
    pair.pump();
    const [reject] = pair.sent(Opcode.Reject);
    expect(reject?.reason).toBe(RejectReason.CommandNotSupported);
    expect([...(reject?.data ?? [])]).toEqual([...bhs]);
    expect(pair.events("protocol-error")[0]?.error.message).toMatch(/unknown opcode 0x1c/);
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
  });

  it("rejects a Data-Out that breaks its sequence, naming the field, and ends its command with DATA PHASE ERROR", () => {
    const pair = new TargetPair({ storage: "manual", trace: true, target: { policy: { initialR2T: true, immediateData: false } } });
    const side = pair.initiator({ proposal: { ...DEFAULT_INITIATOR_PROPOSAL, initialR2T: true, immediateData: false } }).login();
    const link = pair.links()[0]!;
    const itt = 0x4242;
    const cmdSN = side.session.commandWindow.cmdSN;
    const write = encodePdu(
      {
        opcode: Opcode.ScsiCommand,
        immediate: true,
        final: true,
        read: false,
        write: true,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: itt,
        expectedDataTransferLength: 1024,
        cmdSN,
        expStatSN: 0,
        cdb: new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 2, 0]),
        data: new Uint8Array(0),
      },
      NO_DIGESTS,
    );
    link.frozen = true;
    for (const piece of write) link.target.receive(piece, pair.now);
    const r2t = link.target.pollTransmit();
    expect(r2t).toBeDefined();
    const dataOut = encodePdu(
      {
        opcode: Opcode.DataOut,
        final: true,
        lun: 0,
        initiatorTaskTag: itt,
        targetTransferTag: 1,
        expStatSN: 0,
        dataSN: 3,
        bufferOffset: 0,
        data: new Uint8Array(1024),
      },
      NO_DIGESTS,
    );
    for (const piece of dataOut) link.target.receive(piece, pair.now);
    expect(link.target.closed).toBe(false);
    const replies = pair.trace.filter((t) => t.direction === "send").map((t) => t.pdu);
    const reject = replies.find((p) => p.opcode === Opcode.Reject);
    expect(reject?.opcode === Opcode.Reject && reject.reason).toBe(RejectReason.ProtocolError);
    const response = replies.find((p) => p.opcode === Opcode.ScsiResponse);
    expect(response?.opcode === Opcode.ScsiResponse && response.initiatorTaskTag).toBe(itt);
    if (response?.opcode === Opcode.ScsiResponse) {
      const sense = decodeSense(response.sense);
      expect([response.status, sense.key, sense.asc, sense.ascq]).toEqual([ScsiStatus.CheckCondition, SenseKey.AbortedCommand, 0x4b, 0x00]);
    }
    pair.pump();
    expect(pair.events("protocol-error").at(-1)?.error.message).toMatch(/DataSN 3, expected 0/);
    // The rest of that command's data is dropped without a word.
    const more = encodePdu({ opcode: Opcode.DataOut, final: true, lun: 0, initiatorTaskTag: itt, targetTransferTag: 1, expStatSN: 0, dataSN: 4, bufferOffset: 512, data: new Uint8Array(512) }, NO_DIGESTS);
    const before = pair.engine.stats.rejects;
    for (const piece of more) link.target.receive(piece, pair.now);
    expect(pair.engine.stats.rejects).toBe(before);
  });
});

describe("commands by CmdSN", () => {
  /** A raw SCSI Command (TEST UNIT READY) with the given CmdSN, ITT and I bit. */
  function tur(cmdSN: number, itt: number, immediate = false): Uint8Array[] {
    return encodePdu(
      {
        opcode: Opcode.ScsiCommand,
        immediate,
        final: true,
        read: false,
        write: false,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: itt,
        expectedDataTransferLength: 0,
        cmdSN,
        expStatSN: 0,
        cdb: buildTestUnitReadyCdb(),
        data: new Uint8Array(0),
      },
      NO_DIGESTS,
    );
  }

  it("runs commands in CmdSN order whatever order they arrive in, and an immediate one at once", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator().login();
    const link = pair.links()[0]!;
    link.frozen = true;
    const next = side.session.commandWindow.cmdSN;
    const send = (pieces: Uint8Array[]): void => {
      for (const piece of pieces) link.target.receive(piece, pair.now);
    };
    send(tur((next + 2) >>> 0, 0x103));
    send(tur((next + 1) >>> 0, 0x102));
    const answered = (): number[] => pair.sent(Opcode.ScsiResponse).map((r) => r.initiatorTaskTag);
    expect(answered()).toEqual([]);
    expect(pair.engine.sessions[0]!.heldCommands).toBe(2);
    send(tur(next, 0x1ff, true));
    expect(answered()).toEqual([0x1ff]);
    send(tur(next, 0x101));
    expect(answered()).toEqual([0x1ff, 0x101, 0x102, 0x103]);
    expect(pair.engine.sessions[0]!.expCmdSN).toBe((next + 3) >>> 0);
  });

  it("ignores a command outside the window, and refuses one reusing a busy task tag", () => {
    const pair = new TargetPair({ trace: true, storage: "manual" });
    const side = pair.initiator().login();
    const link = pair.links()[0]!;
    link.frozen = true;
    const session = pair.engine.sessions[0]!;
    const next = side.session.commandWindow.cmdSN;
    for (const piece of tur((session.maxCmdSN + 1) >>> 0, 0x201)) link.target.receive(piece, pair.now);
    for (const piece of tur((next - 1) >>> 0, 0x202)) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.ScsiResponse)).toHaveLength(0);
    expect(session.expCmdSN).toBe(next);
    const read = encodePdu(
      {
        opcode: Opcode.ScsiCommand,
        immediate: false,
        final: true,
        read: true,
        write: false,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: 0x300,
        expectedDataTransferLength: 512,
        cmdSN: next,
        expStatSN: 0,
        cdb: buildRead10Cdb({ lba: 0, blocks: 1 }),
        data: new Uint8Array(0),
      },
      NO_DIGESTS,
    );
    for (const piece of read) link.target.receive(piece, pair.now);
    for (const piece of tur((next + 1) >>> 0, 0x300)) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.TaskInProgress]);
    // The refused command's CmdSN still counts: the window does not wait for it.
    expect(session.expCmdSN).toBe((next + 2) >>> 0);
    pair.pump();
    expect(pair.events("protocol-error").map((e) => e.error.message).join("\n")).toMatch(/outside the window/);
  });

  it("sends Data-In no larger than a MaxRecvDataSegmentLength the initiator declares in full feature phase", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator().login();
    side.text([["MaxRecvDataSegmentLength", "1024"]]);
    expect(pair.links()[0]!.target.params.maxSendDataSegmentLength).toBe(1024);
    side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 16 }), dataIn: new Uint8Array(8192) });
    const sizes = pair.sent(Opcode.DataIn).map((p) => p.data.length);
    expect(sizes).toEqual(Array(8).fill(1024));
  });
});

describe("asynchronous messages", () => {
  it("asks the initiator to log out (AsyncEvent 1) and the initiator does", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    pair.engine.requestLogout(pair.links()[0]!.target.id, 5);
    pair.pump();
    const event = side.events.find((e) => e.type === "async-event");
    expect(event?.type === "async-event" && event.event.asyncEvent).toBe(AsyncEvent.LogoutRequest);
    expect(event?.type === "async-event" && event.event.parameter3).toBe(5);
  });

  it("asks for renegotiation (AsyncEvent 4) and the initiator answers on that connection with a Text Request declaring its MaxRecvDataSegmentLength", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator().login();
    const link = pair.links()[0]!;
    const before = link.initiator.params;
    pair.engine.requestRenegotiation(link.target.id, 5);
    pair.pump();
    const requests = pair.received(Opcode.TextRequest);
    expect(requests).toHaveLength(1);
    const text = new TextDecoder().decode(requests[0]!.data);
    expect(text).toBe(`MaxRecvDataSegmentLength=${before.maxRecvDataSegmentLength}\0`);
    expect(pair.sent(Opcode.TextResponse)).toHaveLength(1);
    // The exchange is the session's own: no request outcome surfaces, and the session works on.
    expect(side.types().filter((t) => t === "text-complete" || t === "request-failed")).toEqual([]);
    expect(link.initiator.params).toMatchObject({ maxRecvDataSegmentLength: before.maxRecvDataSegmentLength, maxSendDataSegmentLength: before.maxSendDataSegmentLength });
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(ScsiStatus.Good);
  });

  it("starts one renegotiation per connection however often the target asks before it is answered", () => {
    const pair = new TargetPair({ trace: true });
    pair.initiator().login();
    const link = pair.links()[0]!;
    pair.engine.requestRenegotiation(link.target.id, 5);
    pair.engine.requestRenegotiation(link.target.id, 5);
    pair.pump();
    // Both requests arrive before the initiator's Text Request is answered: one exchange covers both.
    expect(pair.received(Opcode.TextRequest)).toHaveLength(1);
  });

  it("announces a connection drop (AsyncEvent 2) and closes it", () => {
    const pair = new TargetPair({ trace: true });
    const side = pair.initiator().login();
    const link = pair.links()[0]!;
    pair.engine.dropConnection(link.target.id, pair.now, true, { time2Wait: 2, time2Retain: 0 });
    pair.pump();
    const [message] = pair.sent(Opcode.AsyncMessage);
    expect(message).toMatchObject({ asyncEvent: AsyncEvent.DropConnection, parameter1: link.initiator.cid, parameter2: 2, parameter3: 0 });
    expect(link.target.closed).toBe(true);
    expect(side.types()).toContain("connection-closed");
  });
});
