/**
 * What the fuzzer found, written as plain tests so the behaviour is clear without the fuzz
 * machinery. Each names the finding files it stands for.
 */
import { describe, expect, it } from "vitest";
import { AsyncEvent, Opcode } from "../../src/core/pdu/opcodes.js";
import { buildRead10Cdb } from "../../src/core/scsi/cdb.js";
import { Pair } from "../../src/core/session/session.test-util.js";

describe("a target that asks for a logout (AsyncEvent 1) and then goes silent", () => {
  // fuzz/findings/session-invariant-s20261101-i{12006,34574,35438,39459}.bin
  it("is still found dead by keep-alive, so commands in flight fail instead of waiting for Parameter3 seconds", () => {
    const pair = new Pair({ config: { keepAlive: { intervalMs: 1_000, timeoutMs: 3_000 } } }).login();
    const outcomes: string[] = [];
    pair.session.submit({ lun: 1, cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512), retry: "safe", context: "read" }, pair.now);
    pair.target.take(Opcode.ScsiCommand);
    // RFC 7143 §11.9.1: log out within Parameter3 seconds; here an hour.
    pair.target.deliver(pair.target.asyncMessage(AsyncEvent.LogoutRequest, { parameter3: 3_600 }));
    // The target says nothing more. Within the keep-alive timeout (plus a ping interval) the
    // connection must be declared dead and recovery begin.
    for (let t = 0; t < 10_000; t += 250) {
      pair.advance(250);
      for (const event of pair.events()) outcomes.push(event.type);
    }
    expect(pair.connection.closed).toBe(true);
    expect(outcomes).toContain("recovery");
  });
});
