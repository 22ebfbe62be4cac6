import { describe, expect, it } from "vitest";
import { Secret } from "../../core/auth/secret.js";
import { ConfigError, IscsiError } from "../../core/errors.js";
import { Opcode } from "../../core/pdu/opcodes.js";
import type { Pdu } from "../../core/pdu/types.js";
import { buildRead10Cdb, buildTestUnitReadyCdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";
import { serialGt, serialLt } from "../../core/serial.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../../core/text/parameters.js";
import { TargetPair } from "../engine/pair.test-util.js";
import { type HostileBehaviour, checkHostile } from "./behaviour.js";

const DIGESTS = { ...DEFAULT_INITIATOR_PROPOSAL, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] } as const;

function hostilePair(hostile: HostileBehaviour, target: ConstructorParameters<typeof TargetPair>[0] = {}): TargetPair {
  return new TargetPair({ trace: true, ...target, engine: { ...target.engine, hostile } });
}

function loginError(pair: TargetPair, config: Parameters<TargetPair["initiator"]>[0] = {}): IscsiError {
  try {
    pair.initiator(config).login();
  } catch (error) {
    expect(error).toBeInstanceOf(IscsiError);
    return error as IscsiError;
  }
  throw new Error("test: the login succeeded");
}

describe("hostile mode", () => {
  it("refuses behaviours that cannot be sent", () => {
    expect(() => checkHostile({ kind: "huge-data-segment", length: 0x100_0000 })).toThrow(ConfigError);
    expect(() => checkHostile({ kind: "statsn-jump", by: 0 })).toThrow(ConfigError);
    expect(() => checkHostile({ kind: "negotiation-out-of-range", key: "Bad Key", value: "1" })).toThrow(ConfigError);
    expect(() => checkHostile({ kind: "unknown-task-tag", pdu: "data-in", skip: -1 })).toThrow(ConfigError);
    expect(checkHostile({ kind: "bad-digest", which: "data" })).toEqual({ kind: "bad-digest", which: "data" });
  });

  it("keeps the header digest right on a header that claims 16 MiB, so the length is what the initiator refuses", () => {
    const pair = hostilePair({ kind: "huge-data-segment" });
    const side = pair.initiator({ proposal: DIGESTS }).login();
    const id = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512) });
    pair.pump();
    const event = side.outcome(id);
    expect(event?.type).toBe("command-failed");
    if (event?.type === "command-failed") {
      expect(event.error.code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
      expect(event.error.message).toMatch(/DataSegmentLength 16777215/);
    }
    expect(pair.links()[0]!.target.closed).toBe(true);
  });

  it("sends login text longer than 8192 bytes in pieces with the C bit, answering the initiator's empty requests", () => {
    const pair = hostilePair({ kind: "garbage-login-keys", variant: "many-keys", count: 2000 });
    const error = loginError(pair);
    const responses = pair.sent(Opcode.LoginResponse);
    expect(responses).toHaveLength(1);
    // The trace shows what the login machine wrote; on the wire it went in pieces, each answered.
    const requests = pair.received(Opcode.LoginRequest);
    expect(requests.length).toBeGreaterThanOrEqual(4);
    expect(requests.slice(1).every((r) => r.data.length === 0)).toBe(true);
    // 2000 unknown keys fit the initiator's 64 KiB bound; it refuses them as keys it does not know.
    expect(error.code).toMatch(/ISCSI_ERR_(REMOTE_PROTOCOL|NEGOTIATION)/);
  });

  it("answers the initiator's challenge with the response of the initiator's own secret, which it refuses", () => {
    const pair = hostilePair(
      { kind: "chap-reflect" },
      {
        target: {
          chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-01") }] },
          mutualChap: { username: "tgt", secret: Secret.fromString("target-secret-02") },
        },
      },
    );
    const chap = { username: "alice", secret: Secret.fromString("alice-secret-01"), targetUsername: "tgt", targetSecret: Secret.fromString("target-secret-02") };
    const error = loginError(pair, { chap });
    expect(error.code).toBe("ISCSI_ERR_MUTUAL_AUTH");
  });

  it("misbehaves once per connection, after the PDUs it was told to let through", () => {
    const pair = hostilePair({ kind: "statsn-jump", skip: 2 });
    const side = pair.initiator().login();
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
    const id = side.submit({ cdb: buildTestUnitReadyCdb() });
    pair.pump();
    const event = side.outcome(id);
    expect(event?.type === "command-failed" && event.error.message).toMatch(/StatSN jumped/);
  });
});

describe("hostile mode: the command window (RFC 7143 §4.2.2.1)", () => {
  it("maxcmdsn-backwards: a status newer than any before shuts out a command already sent, which the initiator refuses", () => {
    // Manual storage: both reads reach the target before the first status goes out.
    const pair = hostilePair({ kind: "maxcmdsn-backwards" }, { storage: "manual" });
    const side = pair.initiator().login();
    const first = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512) });
    const second = side.submit({ cdb: buildRead10Cdb({ lba: 1, blocks: 1 }), dataIn: new Uint8Array(512) });
    pair.pump();
    expect(pair.received(Opcode.ScsiCommand)).toHaveLength(2);
    pair.completeStorage(1);
    for (const id of [first, second]) {
      const event = side.outcome(id);
      expect(event?.type === "command-failed" && event.error.message).toMatch(/MaxCmdSN went back to \d+ \(from \d+\) in a PDU newer than any before/);
    }
  });

  it("maxcmdsn-stale: windows carried late on two connections are taken quietly, and every command completes", () => {
    const pair = hostilePair({ kind: "maxcmdsn-stale" }, { engine: { queueDepth: 4 }, target: { policy: { maxConnections: 2 } } });
    // Data-In of 8 KiB and R2Ts for all write data: many PDUs that carry the window late.
    const proposal = { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2, maxRecvDataSegmentLength: 8192, initialR2T: true, immediateData: false };
    // What the initiator received: a MaxCmdSN below the highest one before it and below a CmdSN
    // already sent is what a check for a shrinking window must not take for one.
    let sentCmdSN: number | undefined;
    let highest: number | undefined;
    let staleBelowSent = 0;
    const commandsByCid = new Map<number, number>();
    const trace = (direction: "send" | "receive", cid: number, pdu: Pdu): void => {
      if (direction === "send") {
        if (pdu.opcode !== Opcode.ScsiCommand || pdu.immediate) return;
        commandsByCid.set(cid, (commandsByCid.get(cid) ?? 0) + 1);
        if (sentCmdSN === undefined || serialGt(pdu.cmdSN, sentCmdSN)) sentCmdSN = pdu.cmdSN;
        return;
      }
      if (!("maxCmdSN" in pdu) || pdu.opcode === Opcode.LoginResponse) return;
      if (highest !== undefined && serialLt(pdu.maxCmdSN, highest) && sentCmdSN !== undefined && serialLt(pdu.maxCmdSN, sentCmdSN)) staleBelowSent++;
      if (highest === undefined || serialGt(pdu.maxCmdSN, highest)) highest = pdu.maxCmdSN;
    };
    const side = pair.initiator({ proposal, trace }).login();
    pair.connect(side);
    expect(side.session.connectionList).toHaveLength(2);
    const blocks = 32;
    const data = Array.from({ length: 8 }, (_, i) => new Uint8Array(blocks * 512).map((_, j) => (j * 7 + i * 13) & 0xff));
    const writes = data.map((d, i) => side.submit({ cdb: buildWrite10Cdb({ lba: i * blocks, blocks }), dataOut: d }));
    pair.pump();
    for (const id of writes) expect(side.result(id).status).toBe(0);
    const buffers = data.map(() => new Uint8Array(blocks * 512));
    const reads = buffers.map((b, i) => side.submit({ cdb: buildRead10Cdb({ lba: i * blocks, blocks }), dataIn: b }));
    pair.pump();
    for (const id of reads) expect(side.result(id).status).toBe(0);
    buffers.forEach((b, i) => expect(b).toEqual(data[i]));
    expect(side.events.filter((e) => e.type === "connection-closed")).toEqual([]);
    expect(side.session.connectionList).toHaveLength(2);
    // Commands went over both connections, and the late windows did go below commands sent.
    expect(side.session.connectionList.map((c) => (commandsByCid.get(c.cid) ?? 0) > 0)).toEqual([true, true]);
    expect(staleBelowSent).toBeGreaterThan(0);
  });
});
