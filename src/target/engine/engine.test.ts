import { describe, expect, it } from "vitest";
import { Secret } from "../../core/auth/secret.js";
import type { ChapAlgorithm } from "../../core/auth/hash.js";
import { AuthenticationError } from "../../core/errors.js";
import { crc32c } from "../../core/digest/crc32c.js";
import { encodePdu } from "../../core/pdu/encode.js";
import { LogoutReason, Opcode } from "../../core/pdu/opcodes.js";
import type { LoginRequestPdu } from "../../core/pdu/types.js";
import { encodeText } from "../../core/text/codec.js";
import { buildInquiryCdb, buildRead10Cdb, buildReadCapacity16Cdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";
import { parseReadCapacity16Data } from "../../core/scsi/capacity.js";
import { parseInquiryData } from "../../core/scsi/inquiry.js";
import { INITIATOR, TARGET, TargetPair, pattern } from "./pair.test-util.js";

/** Feeds the engine's connection one Login Request (no digests: login PDUs carry none). */
function loginRequest(connection: { receive(bytes: Uint8Array, now: number): void }, isid: number, csg: 0 | 1, nsg: 1 | 3, pairs: [string, string][]): void {
  const pdu: LoginRequestPdu = {
    opcode: Opcode.LoginRequest,
    transit: true,
    continue: false,
    currentStage: csg,
    nextStage: nsg,
    versionMax: 0,
    versionMin: 0,
    isid,
    tsih: 0,
    initiatorTaskTag: 1,
    cid: 0,
    cmdSN: 5,
    expStatSN: 0,
    data: encodeText(pairs),
  };
  for (const piece of encodePdu(pdu, { headerDigest: false, dataDigest: false, crc32c })) connection.receive(piece, 0);
}

describe("login to the engine", () => {
  it("logs the initiator core in without authentication and creates a session", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    expect(side.session.state).toBe("LOGGED_IN");
    const [created] = pair.events("session-created");
    expect(created?.session).toMatchObject({ initiatorName: INITIATOR, targetName: TARGET, type: "Normal", tsih: side.session.tsih });
    expect(pair.engine.stats.sessionsOpen).toBe(1);
  });

  it("answers a login to an unknown target with 'target not found' and closes the connection", () => {
    const pair = new TargetPair();
    const side = pair.initiator({ targetName: "iqn.2026-11.test:nobody" });
    expect(() => side.login()).toThrow(/not found/);
    expect(pair.events("login-failed")).toHaveLength(1);
    expect(pair.events("connection-closed")).toHaveLength(1);
    expect(pair.engine.stats.sessionsOpen).toBe(0);
  });

  for (const algorithm of [5, 6, 7, 8] as const satisfies readonly ChapAlgorithm[]) {
    it(`authenticates with CHAP algorithm ${algorithm}, one-way and mutual`, () => {
      const pair = new TargetPair({
        engine: { chapAlgorithms: [algorithm] },
        target: {
          chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] },
          mutualChap: { username: "tgt", secret: Secret.fromString("target-secret-2") },
        },
      });
      pair.initiator({ chap: { username: "alice", secret: Secret.fromString("alice-secret-1"), algorithms: [8, 7, 6, 5] } }).login();
      pair
        .initiator({
          chap: {
            username: "alice",
            secret: Secret.fromString("alice-secret-1"),
            targetUsername: "tgt",
            targetSecret: Secret.fromString("target-secret-2"),
            algorithms: [algorithm],
          },
        })
        .login();
      expect(pair.events("session-created")).toHaveLength(2);
    });
  }

  it("refuses a wrong CHAP secret with an authentication failure", () => {
    const pair = new TargetPair({ target: { chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] } } });
    const side = pair.initiator({ chap: { username: "alice", secret: Secret.fromString("not-the-secret") } });
    expect(() => side.login()).toThrow(AuthenticationError);
    const [failed] = pair.events("login-failed");
    expect(failed?.error).toBeInstanceOf(AuthenticationError);
    expect(String(failed?.error.message)).not.toContain("alice-secret-1");
    expect(String(failed?.error.message)).not.toContain("not-the-secret");
  });

  it("takes InitiatorName and SessionType repeated with the same value in the operational stage, as libiscsi sends them", () => {
    const pair = new TargetPair({ trace: true });
    const connection = pair.engine.accept({ localAddress: "127.0.0.1", localPort: 3260, remoteAddress: "127.0.0.1", remotePort: 9 }, 0);
    const request = (csg: 0 | 1, nsg: 1 | 3, pairs: [string, string][]): void => loginRequest(connection, 0x80_00_00_00_00_01, csg, nsg, pairs);
    request(0, 1, [["InitiatorName", INITIATOR], ["SessionType", "Discovery"], ["AuthMethod", "CHAP,None"]]);
    request(1, 3, [["InitiatorName", INITIATOR], ["SessionType", "Discovery"], ["MaxRecvDataSegmentLength", "65536"]]);
    pair.pump();
    const responses = pair.sent(Opcode.LoginResponse);
    expect(responses.map((r) => [r.statusClass, r.statusDetail, r.nextStage])).toEqual([
      [0, 0, 1],
      [0, 0, 3],
    ]);
    expect(connection.phase).toBe("full-feature");
  });

  it("still refuses InitiatorName repeated with another value", () => {
    const pair = new TargetPair({ trace: true });
    const connection = pair.engine.accept({ localAddress: "127.0.0.1", localPort: 3260, remoteAddress: "127.0.0.1", remotePort: 9 }, 0);
    const send = (csg: 0 | 1, nsg: 1 | 3, pairs: [string, string][]): void => loginRequest(connection, 0x80_00_00_00_00_02, csg, nsg, pairs);
    send(0, 1, [["InitiatorName", INITIATOR], ["SessionType", "Discovery"]]);
    send(1, 3, [["InitiatorName", `${INITIATOR}-other`]]);
    pair.pump();
    expect(pair.sent(Opcode.LoginResponse).at(-1)?.statusClass).toBe(2);
    expect(connection.closed).toBe(true);
  });

  it("refuses an initiator without CHAP when the target requires it", () => {
    const pair = new TargetPair({ target: { chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] } } });
    expect(() => pair.initiator().login()).toThrow(/authentication/i);
  });
});

describe("SCSI through the engine", () => {
  it("answers INQUIRY and READ CAPACITY(16) with the unit's identity and size", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const inquiry = new Uint8Array(96);
    const inq = side.run({ cdb: buildInquiryCdb({ allocationLength: 96 }), dataIn: inquiry });
    expect(inq.status).toBe(0);
    const data = parseInquiryData(inquiry.subarray(0, inq.bytesIn));
    expect(data.vendor).toBe("ISCSI-TS");
    expect(data.peripheralQualifier).toBe(0);
    const capacity = new Uint8Array(32);
    side.run({ cdb: buildReadCapacity16Cdb({ allocationLength: 32 }), dataIn: capacity });
    const cap = parseReadCapacity16Data(capacity);
    expect(cap.blocks).toBe(8192);
    expect(cap.blockLength).toBe(512);
    expect(cap.lbpme).toBe(true);
  });

  it("writes data and reads the same bytes back, and they are in the backend at the right offset", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const data = pattern(64 * 1024, 7);
    expect(side.run({ cdb: buildWrite10Cdb({ lba: 100, blocks: 128 }), dataOut: data }).status).toBe(0);
    const back = new Uint8Array(data.length);
    const read = side.run({ cdb: buildRead10Cdb({ lba: 100, blocks: 128 }), dataIn: back });
    expect(read.status).toBe(0);
    expect(read.bytesIn).toBe(data.length);
    expect(back).toEqual(data);
    expect(pair.memory().read(100 * 512, data.length)).toEqual(data);
    expect(pair.engine.stats.bytesWritten).toBe(data.length);
    expect(pair.engine.stats.bytesRead).toBe(data.length);
  });
});

describe("logout", () => {
  it("closes the session and its connection on a session logout", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    side.logout(LogoutReason.CloseSession);
    expect(side.types()).toContain("logout-complete");
    const [closed] = pair.events("session-closed");
    expect(closed?.reason).toBe("logout");
    expect(pair.engine.stats.connectionsOpen).toBe(0);
  });
});
