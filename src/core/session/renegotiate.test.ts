/**
 * The initiator starts a renegotiation (RFC 7143 §6.2) against the embedded target's engine: the
 * real core on both sides, in memory (src/target/engine/pair.test-util.ts).
 */
import { describe, expect, it } from "vitest";
import { buildRead10Cdb } from "../scsi/cdb.js";
import { LocalProtocolError } from "../errors.js";
import { Opcode } from "../pdu/opcodes.js";
import { parseText } from "../text/codec.js";
import { TargetPair } from "../../target/engine/pair.test-util.js";

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + 3) & 0xff;
  return out;
}

/**
 * A pair logged in, with 64 KiB of a known pattern at LBA 0 of LUN 0. The renegotiations below use
 * contexts from 1000: the pair numbers its own commands from 1.
 */
function loggedIn() {
  const pair = new TargetPair({ trace: true });
  const side = pair.initiator().login();
  const data = pattern(64 * 1024);
  pair.memory().write(0, data);
  const connection = pair.links()[0]!.initiator;
  return { pair, side, data, connection };
}

/** Reads 64 KiB from LBA 0; returns the bytes and the sizes of the Data-In PDUs that carried them. */
function read64k(pair: TargetPair, side: ReturnType<typeof loggedIn>["side"]): { bytes: Uint8Array; pieces: number[] } {
  const before = pair.sent(Opcode.DataIn).length;
  const bytes = new Uint8Array(64 * 1024);
  side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 128 }), dataIn: bytes });
  return { bytes, pieces: pair.sent(Opcode.DataIn).slice(before).map((p) => p.data.length) };
}

describe("Session.renegotiate (an initiator-started Text Request for operational keys)", () => {
  it("declares a smaller MaxRecvDataSegmentLength: the connection takes it and the target's Data-In comes in pieces no larger", () => {
    const { pair, side, data, connection } = loggedIn();
    expect(read64k(pair, side).pieces).toEqual([64 * 1024]);
    side.session.renegotiate({ maxRecvDataSegmentLength: 4096 }, 1077, pair.now);
    pair.pump();
    const [request] = pair.received(Opcode.TextRequest);
    expect(parseText(request!.data)).toContainEqual(["MaxRecvDataSegmentLength", "4096"]);
    expect(side.outcome(1077)?.type).toBe("text-complete");
    expect(connection.params.maxRecvDataSegmentLength).toBe(4096);
    const after = read64k(pair, side);
    expect(after.pieces).toEqual(new Array(16).fill(4096));
    expect(after.bytes).toEqual(data);
  });

  it("raises it again, and the target sends larger pieces", () => {
    const { pair, side, data, connection } = loggedIn();
    side.session.renegotiate({ maxRecvDataSegmentLength: 4096 }, 1001, pair.now);
    pair.pump();
    side.session.renegotiate({ maxRecvDataSegmentLength: 32 * 1024 }, 1002, pair.now, connection.cid);
    pair.pump();
    expect(side.outcome(1002)?.type).toBe("text-complete");
    const after = read64k(pair, side);
    expect(after.pieces).toEqual([32 * 1024, 32 * 1024]);
    expect(after.bytes).toEqual(data);
  });

  it("refuses, before sending anything, a value out of range, nothing to change, an unknown connection and a second exchange on one connection", () => {
    const { pair, side } = loggedIn();
    expect(() => side.session.renegotiate({ maxRecvDataSegmentLength: 100 }, 1001, pair.now)).toThrow(LocalProtocolError);
    expect(() => side.session.renegotiate({}, 1002, pair.now)).toThrow(/needs a key to change/);
    expect(() => side.session.renegotiate({ maxRecvDataSegmentLength: 4096 }, 1003, pair.now, 42)).toThrow(/no connection 42/);
    side.session.renegotiate({ maxRecvDataSegmentLength: 4096 }, 1004, pair.now);
    expect(() => side.session.renegotiate({ maxRecvDataSegmentLength: 8192 }, 1005, pair.now)).toThrow(/already renegotiating/);
    pair.pump();
    expect(pair.received(Opcode.TextRequest)).toHaveLength(1);
    expect(side.outcome(1004)?.type).toBe("text-complete");
  });

  it("fails the caller's renegotiation with request-failed when its connection is lost before the answer", () => {
    const { pair, side } = loggedIn();
    const link = pair.links()[0]!;
    link.frozen = true;
    side.session.renegotiate({ maxRecvDataSegmentLength: 4096 }, 1009, pair.now);
    side.session.transportClosed(link.initiator, undefined, pair.now);
    pair.pump();
    const outcome = side.outcome(1009);
    expect(outcome?.type === "request-failed" && outcome.error.code).toBe("ISCSI_ERR_TRANSPORT");
  });
});
