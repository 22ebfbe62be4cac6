import { describe, expect, it } from "vitest";
import { Opcode, RESERVED_TAG, SnackType } from "../pdu/opcodes.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import { digestPair, Pair } from "./session.test-util.js";

const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]);

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

describe("ErrorRecoveryLevel 1: data digest errors recovered with SNACK", () => {
  it("negotiates ErrorRecoveryLevel 1 with digests on", () => {
    const pair = digestPair(1);
    expect(pair.session.params.errorRecoveryLevel).toBe(1);
    expect(pair.connection.params.dataDigest).toBe(true);
  });

  it("discards a Data-In with a bad data digest, asks for it again with a Data SNACK, and completes when it comes", () => {
    const pair = digestPair(1);
    const buffer = new Uint8Array(4096);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: buffer, context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    const data = pattern(4096, 3);
    const first = pair.target.dataIn(command, data.subarray(0, 2048), { dataSN: 0, bufferOffset: 0 });
    pair.target.deliver(first, 0, 100);
    const snack = pair.target.take(Opcode.SnackRequest);
    expect(snack).toMatchObject({ type: SnackType.DataR2T, initiatorTaskTag: command.initiatorTaskTag, begRun: 0, runLength: 1 });
    expect(pair.connection.closed).toBe(false);
    // The rest, with status, arrives before the retransmission: the status waits.
    pair.target.deliver(pair.target.dataIn(command, data.subarray(2048), { dataSN: 1, bufferOffset: 2048, hasStatus: true }));
    expect(pair.events()).toHaveLength(0);
    pair.target.deliver(first);
    const [done] = pair.events();
    expect(done?.type).toBe("command-complete");
    expect(buffer).toEqual(data);
  });

  it("keeps the status of a damaged last Data-In and completes once its data comes again", () => {
    const pair = digestPair(1);
    const buffer = new Uint8Array(1024);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: buffer, context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    const data = pattern(1024, 9);
    const statSN = pair.target.statSN;
    pair.target.deliver(pair.target.dataIn(command, data, { hasStatus: true }), 0, 5);
    expect(pair.target.take(Opcode.SnackRequest).begRun).toBe(0);
    expect(pair.events()).toHaveLength(0);
    // Retransmitted with the same StatSN: not a jump, not counted twice.
    pair.target.deliver(pair.target.dataIn(command, data, { hasStatus: true, statSN }));
    expect(pair.events().map((e) => e.type)).toEqual(["command-complete"]);
    expect(buffer).toEqual(data);
    expect(pair.connection.closed).toBe(false);
  });

  it("asks for a SCSI Response again with a Status SNACK when its sense data is damaged", () => {
    const pair = digestPair(1);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    const sense = new Uint8Array([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]);
    const response = pair.target.response(command, { status: 2, sense });
    pair.target.deliver(response, 0, 4);
    const snack = pair.target.take(Opcode.SnackRequest);
    expect(snack).toMatchObject({ type: SnackType.Status, begRun: response.statSN, runLength: 1, initiatorTaskTag: RESERVED_TAG });
    pair.target.deliver(response);
    const [done] = pair.events();
    expect(done?.type === "command-complete" && done.result.sense).toEqual(sense);
  });

  it("keeps a write going when the target rejects a damaged Data-Out and asks for it again", () => {
    const pair = digestPair(1);
    pair.session.submit({ lun: 1, cdb: new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]), dataOut: pattern(4096, 1), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.rejectForDataDigest(Opcode.DataOut, command.initiatorTaskTag);
    expect(pair.events()).toHaveLength(0);
    expect(pair.connection.closed).toBe(false);
    expect(pair.session.outstanding).toBe(1);
  });

  it("drops the connection on a data digest error at ErrorRecoveryLevel 0", () => {
    const pair = digestPair(0);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.dataIn(command, pattern(512, 1), { hasStatus: true }), 0, 7);
    expect(pair.connection.closed).toBe(true);
    expect(pair.connection.error?.code).toBe("ISCSI_ERR_DIGEST");
  });

  it("does not acknowledge a damaged status: ExpStatSN stays below it until it comes again, later statuses wait", () => {
    const pair = digestPair(1);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "a" }, 0);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "b" }, 0);
    const a = pair.target.take(Opcode.ScsiCommand);
    const b = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(a);
    pair.target.accept(b);
    const sense = new Uint8Array([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]);
    const damaged = pair.target.response(a, { status: 2, sense });
    pair.target.deliver(damaged, 0, 4);
    const snack = pair.target.take(Opcode.SnackRequest);
    expect(snack.expStatSN).toBe(damaged.statSN);
    // b's status (StatSN + 1) arrives before a's again: held, not a jump.
    pair.target.deliver(pair.target.dataIn(b, new Uint8Array(512), { hasStatus: true }));
    expect(pair.connection.closed).toBe(false);
    expect(pair.connection.expStatSN).toBe(damaged.statSN);
    pair.target.deliver(damaged);
    expect(pair.connection.expStatSN).toBe((damaged.statSN + 2) >>> 0);
    expect(pair.events().map((e) => (e.type === "command-complete" ? e.context : e.type))).toEqual(["b", "a"]);
  });

  it("sends a command again with the same ITT and CmdSN when the target rejects its damaged immediate data", () => {
    const pair = digestPair(1);
    const data = pattern(4096, 2);
    pair.session.submit({ lun: 1, cdb: new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]), dataOut: data, context: "w" }, 0);
    const first = pair.target.take(Opcode.ScsiCommand);
    pair.target.rejectForDataDigest(Opcode.ScsiCommand, first.initiatorTaskTag);
    const again = pair.target.take(Opcode.ScsiCommand);
    expect(again).toMatchObject({ initiatorTaskTag: first.initiatorTaskTag, cmdSN: first.cmdSN });
    expect(again.data).toEqual(first.data);
    expect(pair.connection.closed).toBe(false);
  });

  it("at ErrorRecoveryLevel 0 drops the connection on a data digest Reject, so the command goes again after reinstatement", () => {
    const pair = new Pair({
      config: {
        keepAlive: false,
        proposal: { ...DEFAULT_INITIATOR_PROPOSAL, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] },
      },
      policy: { headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] },
    }).login();
    pair.session.submit({ lun: 1, cdb: new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]), dataOut: pattern(4096, 3), retry: "safe", context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.rejectForDataDigest(Opcode.DataOut, command.initiatorTaskTag);
    expect(pair.connection.closed).toBe(true);
    const types = pair.events().map((e) => e.type);
    expect(types).not.toContain("command-failed");
    expect(types).toContain("recovery");
  });
});

