import { describe, expect, it } from "vitest";
import { Secret } from "../../core/auth/secret.js";
import { ConfigError, IscsiError } from "../../core/errors.js";
import { Opcode } from "../../core/pdu/opcodes.js";
import { buildRead10Cdb, buildTestUnitReadyCdb } from "../../core/scsi/cdb.js";
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
