import { describe, expect, it } from "vitest";
import { ShortTransferError } from "../errors.js";
import { Opcode } from "../pdu/opcodes.js";
import type { ScsiCommandPdu } from "../pdu/types.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import { Pair } from "./session.test-util.js";

/** READ(10) and WRITE(10) of 4 blocks of 512 bytes at LBA 0. */
const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0]);
const WRITE10 = new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 4, 0]);
/** INQUIRY with an allocation length of 255: the target may return less. */
const INQUIRY = new Uint8Array([0x12, 0, 0, 0, 255, 0]);

type Events = ReturnType<Pair["events"]>;

function outcome(events: Events): { kind: "complete"; bytesIn: number } | { kind: "failed"; error: unknown } {
  for (const e of events) {
    if (e.type === "command-complete") return { kind: "complete", bytesIn: e.result.bytesIn };
    if (e.type === "command-failed") return { kind: "failed", error: e.error };
  }
  throw new Error("test: the command neither completed nor failed");
}

function shortError(events: Events): ShortTransferError {
  const o = outcome(events);
  if (o.kind !== "failed" || !(o.error instanceof ShortTransferError)) throw new Error(`test: expected a ShortTransferError, got ${JSON.stringify(o)}`);
  return o.error;
}

function read(pair: Pair, cdb = READ10, length = 2048): ScsiCommandPdu {
  pair.session.submit({ lun: 1, cdb, dataIn: new Uint8Array(length), context: "r" }, 0);
  const command = pair.target.take(Opcode.ScsiCommand);
  pair.target.accept(command);
  return command;
}

/** DataPDUInOrder is an OR (RFC 7143 §13.19): both sides must say No. */
function outOfOrder(): Pair {
  return new Pair({ config: { proposal: { ...DEFAULT_INITIATOR_PROPOSAL, dataPDUInOrder: false } }, policy: { dataPDUInOrder: false } }).login();
}

/** A pair where every write waits for an R2T: nothing is sent before the target asks. */
function r2tOnly(): Pair {
  return new Pair({ config: { proposal: undefined }, policy: { initialR2T: true, immediateData: false } }).login();
}

function r2t(pair: Pair, command: ScsiCommandPdu, r2tSN: number, bufferOffset: number, length: number): void {
  pair.target.deliver({
    opcode: Opcode.R2T,
    lun: 1,
    initiatorTaskTag: command.initiatorTaskTag,
    targetTransferTag: 0x70 + r2tSN,
    statSN: pair.target.statSN,
    expCmdSN: pair.target.expCmdSN,
    maxCmdSN: pair.target.maxCmdSN,
    r2tSN,
    bufferOffset,
    desiredDataTransferLength: length,
  });
}

describe("a READ answered GOOD with less data than it asks for", () => {
  it("fails when half the Data-In comes with the U bit and a residual", () => {
    const pair = new Pair().login();
    const command = read(pair);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(1024), { hasStatus: true, residualUnderflow: true, residualCount: 1024 }));
    const error = shortError(pair.events());
    expect(error).toMatchObject({ code: "ISCSI_ERR_SHORT_TRANSFER", direction: "in", expected: 2048, transferred: 1024, residualUnderflow: 1024 });
    expect(error.message).toMatch(/READ\(10\) on LUN 1 .* 1024 of 2048 bytes of Data-In/);
  });

  it("fails when half the Data-In comes with no residual at all", () => {
    const pair = new Pair().login();
    const command = read(pair);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(1024), { hasStatus: true }));
    expect(shortError(pair.events())).toMatchObject({ expected: 2048, transferred: 1024, residualUnderflow: undefined });
  });

  it("fails when no Data-In comes before a GOOD SCSI Response", () => {
    const pair = new Pair().login();
    const command = read(pair);
    pair.target.deliver(pair.target.response(command, { residualUnderflow: true, residualCount: 2048 }));
    expect(shortError(pair.events())).toMatchObject({ expected: 2048, transferred: 0 });
  });

  it("fails when every byte arrived but the target states a residual underflow", () => {
    const pair = new Pair().login();
    const command = read(pair);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(2048), { hasStatus: true, residualUnderflow: true, residualCount: 512 }));
    expect(shortError(pair.events())).toMatchObject({ transferred: 2048, residualUnderflow: 512 });
  });

  it("fails when a hole is left between two Data-In PDUs (DataPDUInOrder=No)", () => {
    const pair = outOfOrder();
    const command = read(pair);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(512), { dataSN: 0, bufferOffset: 1536 }));
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(512), { dataSN: 1, bufferOffset: 1536 }));
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(1024), { dataSN: 2, bufferOffset: 0, hasStatus: true }));
    // 2048 bytes came, but 512 of them twice: bytes 1024..1535 never did.
    expect(shortError(pair.events())).toMatchObject({ transferred: 1024 });
  });

  it("completes when every byte arrives, in any order", () => {
    const pair = outOfOrder();
    const command = read(pair);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(1024), { dataSN: 0, bufferOffset: 1024 }));
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(1024), { dataSN: 1, bufferOffset: 0, hasStatus: true }));
    expect(outcome(pair.events())).toEqual({ kind: "complete", bytesIn: 2048 });
  });

  it("lets an INQUIRY return less than its allocation length, as SPC-4 allows", () => {
    const pair = new Pair().login();
    const command = read(pair, INQUIRY, 255);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(36), { hasStatus: true, residualUnderflow: true, residualCount: 219 }));
    expect(outcome(pair.events())).toEqual({ kind: "complete", bytesIn: 36 });
  });

  it("lets a caller that asks for it take a short READ as a result", () => {
    const pair = new Pair().login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(2048), shortTransfer: "allow", context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(1024), { hasStatus: true, residualUnderflow: true, residualCount: 1024 }));
    expect(outcome(pair.events())).toEqual({ kind: "complete", bytesIn: 1024 });
  });

  it("reports a CHECK CONDITION as it is, whatever moved", () => {
    const pair = new Pair().login();
    const command = read(pair);
    const sense = new Uint8Array([0x70, 0, 0x03, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0]);
    pair.target.deliver(pair.target.response(command, { status: 2, sense }));
    expect(outcome(pair.events())).toEqual({ kind: "complete", bytesIn: 0 });
  });
});

describe("a WRITE answered GOOD before its data was sent", () => {
  it("fails when GOOD comes before any R2T, with a residual covering the whole transfer", () => {
    const pair = r2tOnly();
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: new Uint8Array(2048), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.response(command, { residualUnderflow: true, residualCount: 2048 }));
    const error = shortError(pair.events());
    expect(error).toMatchObject({ direction: "out", expected: 2048, transferred: 0, residualUnderflow: 2048 });
    expect(error.message).toMatch(/WRITE\(10\) on LUN 1 .* after 0 of 2048 bytes were sent/);
  });

  it("fails when GOOD comes before any R2T, with no residual", () => {
    const pair = r2tOnly();
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: new Uint8Array(2048), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.response(command));
    expect(shortError(pair.events())).toMatchObject({ direction: "out", transferred: 0, residualUnderflow: undefined });
  });

  it("does not count data asked for twice by repeated R2Ts as sent twice", () => {
    const pair = new Pair({ config: { proposal: undefined }, policy: { initialR2T: true, immediateData: false, dataSequenceInOrder: false } }).login();
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: new Uint8Array(2048), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    r2t(pair, command, 0, 0, 1024);
    r2t(pair, command, 1, 0, 1024);
    pair.target.pull();
    pair.target.deliver(pair.target.response(command));
    expect(shortError(pair.events())).toMatchObject({ expected: 2048, transferred: 1024 });
  });

  it("completes when the R2Ts asked for every byte", () => {
    const pair = r2tOnly();
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: new Uint8Array(2048), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    r2t(pair, command, 0, 0, 1024);
    r2t(pair, command, 1, 1024, 1024);
    pair.target.pull();
    expect(pair.target.received.filter((p) => p.opcode === Opcode.DataOut)).toHaveLength(2);
    pair.target.deliver(pair.target.response(command));
    expect(outcome(pair.events())).toEqual({ kind: "complete", bytesIn: 0 });
  });
});
