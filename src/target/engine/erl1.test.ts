import { describe, expect, it } from "vitest";
import { crc32c } from "../../core/digest/crc32c.js";
import { encodePdu } from "../../core/pdu/encode.js";
import { Opcode, RESERVED_TAG, RejectReason, SnackType } from "../../core/pdu/opcodes.js";
import type { SnackRequestPdu } from "../../core/pdu/types.js";
import { buildRead10Cdb, buildTestUnitReadyCdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";
import { ScsiStatus } from "../../core/scsi/status.js";
import { DEFAULT_INITIATOR_PROPOSAL, type OperationalProposal, type TargetPolicy } from "../../core/text/parameters.js";
import { BitFlipper } from "./flip.test-util.js";
import { type PairOptions, TargetPair, pattern } from "./pair.test-util.js";

const DIGESTS = { headerDigest: true, dataDigest: true, crc32c };

/** Small segments and bursts, so that a read or a write takes several PDUs and sequences. */
const SMALL: Partial<TargetPolicy> = { maxRecvDataSegmentLength: 512, firstBurstLength: 1024, maxBurstLength: 2048, maxOutstandingR2T: 1 };

function proposal(o: Partial<OperationalProposal> = {}): OperationalProposal {
  return { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512, headerDigest: ["CRC32C"], dataDigest: ["CRC32C"], errorRecoveryLevel: 1, ...o };
}

/** A pair at ErrorRecoveryLevel 1 with digests on, a flipper wired in, and the session logged in. */
function erl1(o: { policy?: Partial<TargetPolicy>; initiator?: Partial<OperationalProposal>; pair?: PairOptions } = {}) {
  const pair = new TargetPair({ trace: true, ...o.pair, target: { policy: { ...SMALL, errorRecoveryLevel: 1, ...o.policy } } });
  const flipper = new BitFlipper();
  pair.tamper = flipper.tamper;
  const side = pair.initiator({ proposal: proposal(o.initiator) }).login();
  return { pair, side, flipper, link: pair.links()[0]! };
}

function snack(fields: Partial<SnackRequestPdu>): SnackRequestPdu {
  return { opcode: Opcode.SnackRequest, type: SnackType.DataR2T, lun: 0, initiatorTaskTag: RESERVED_TAG, targetTransferTag: RESERVED_TAG, expStatSN: 0, begRun: 0, runLength: 0, ...fields };
}

describe("ErrorRecoveryLevel 1: negotiation", () => {
  it("negotiates ErrorRecoveryLevel 1 when the target's policy and the initiator both offer it", () => {
    const { side, pair } = erl1();
    expect(side.session.params.errorRecoveryLevel).toBe(1);
    expect(pair.engine.sessions[0]?.params.errorRecoveryLevel).toBe(1);
  });

  it("settles on 0 when the initiator offers 0, and then keeps nothing for SNACKs", () => {
    const { side, link } = erl1({ initiator: { errorRecoveryLevel: 0 } });
    expect(side.session.params.errorRecoveryLevel).toBe(0);
    expect(side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 4 }), dataIn: new Uint8Array(2048) }).status).toBe(0);
    expect(link.target.retention).toBeUndefined();
  });
});

describe("ErrorRecoveryLevel 1: Data-In and status recovered by SNACK", () => {
  it("sends a damaged Data-In again for the initiator's Data SNACK, and the read completes intact on the same connection", () => {
    const { pair, side, flipper, link } = erl1();
    const data = pattern(4096, 11);
    expect(side.run({ cdb: buildWrite10Cdb({ lba: 8, blocks: 8 }), dataOut: data }).status).toBe(0);
    flipper.arm({ direction: "to-initiator", opcode: Opcode.DataIn, where: "data", skip: 2 });
    const back = new Uint8Array(4096);
    expect(side.run({ cdb: buildRead10Cdb({ lba: 8, blocks: 8 }), dataIn: back }).status).toBe(0);
    expect(flipper.flips).toHaveLength(1);
    expect(back).toEqual(data);
    const snacks = pair.received(Opcode.SnackRequest).filter((s) => s.type === SnackType.DataR2T);
    expect(snacks.map((s) => [s.begRun, s.runLength])).toEqual([[2, 1]]);
    // The replica: same DataSN, offset and length as the damaged one.
    const dataIns = pair.sent(Opcode.DataIn).filter((d) => d.initiatorTaskTag === snacks[0]!.initiatorTaskTag);
    const copies = dataIns.filter((d) => d.dataSN === 2);
    expect(copies).toHaveLength(2);
    expect(copies[1]).toMatchObject({ bufferOffset: copies[0]!.bufferOffset, final: copies[0]!.final });
    expect(copies[1]!.data).toEqual(copies[0]!.data);
    expect(link.target.closed).toBe(false);
    // The Data SNACK (one PDU again), and the DataACK of the first burst.
    expect(pair.engine.stats).toMatchObject({ snacks: 1, retransmissions: 1, dataAcks: 1 });
    expect(side.session.recoveries).toHaveLength(0);
  });

  it("sends a damaged last Data-In again with its status and the same StatSN", () => {
    const { pair, side, flipper, link } = erl1();
    flipper.arm({ direction: "to-initiator", opcode: Opcode.DataIn, where: "data", test: (bhs) => ((bhs[1] as number) & 0x01) !== 0 });
    const back = new Uint8Array(1536);
    expect(side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 3 }), dataIn: back }).status).toBe(0);
    expect(flipper.flips).toHaveLength(1);
    const withStatus = pair.sent(Opcode.DataIn).filter((d) => d.hasStatus);
    expect(withStatus).toHaveLength(2);
    expect(withStatus[1]!.statSN).toBe(withStatus[0]!.statSN);
    expect(link.target.closed).toBe(false);
    // The session goes on: the next command's status follows without a StatSN jump.
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
  });

  it("answers a Status SNACK for a SCSI Response whose sense data was damaged, with the same StatSN and sense", () => {
    const { pair, side, flipper, link } = erl1();
    flipper.arm({ direction: "to-initiator", opcode: Opcode.ScsiResponse, where: "data" });
    // Past the end of the 8192-block LUN: CHECK CONDITION, LBA OUT OF RANGE, with sense data.
    const result = side.run({ cdb: buildRead10Cdb({ lba: 8190, blocks: 4 }), dataIn: new Uint8Array(2048) });
    expect(result.status).toBe(ScsiStatus.CheckCondition);
    const responses = pair.sent(Opcode.ScsiResponse);
    expect(responses).toHaveLength(2);
    expect(responses[1]!.statSN).toBe(responses[0]!.statSN);
    expect(result.sense).toEqual(responses[0]!.sense);
    expect(pair.received(Opcode.SnackRequest).map((s) => [s.type, s.begRun])).toEqual([[SnackType.Status, responses[0]!.statSN]]);
    expect(link.target.closed).toBe(false);
  });

  it("frees a read's data once ExpStatSN acknowledges its status", () => {
    const { pair, side, link } = erl1();
    // One burst (2 KiB): no DataACK frees any of it early.
    expect(side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 4 }), dataIn: new Uint8Array(2048) }).status).toBe(0);
    expect(link.target.retention?.reads).toBe(1);
    expect(pair.engine.sessions[0]!.retainedBytes).toBeGreaterThanOrEqual(2048);
    // The next command carries an ExpStatSN past the read's status.
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
    expect(link.target.retention?.reads).toBe(0);
    expect(pair.engine.sessions[0]!.retainedBytes).toBeLessThan(2048);
  });

  it("asks for DataACK once per burst of a long read and frees each acknowledged burst", () => {
    const { pair, side, link } = erl1();
    // 5 KiB with MaxBurstLength 2 KiB: three sequences, A bit on the first two.
    expect(side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 10 }), dataIn: new Uint8Array(5120) }).status).toBe(0);
    const acked = pair.sent(Opcode.DataIn).filter((d) => d.acknowledge);
    expect(acked.map((d) => d.dataSN)).toEqual([3, 7]);
    expect(acked.every((d) => d.targetTransferTag !== RESERVED_TAG)).toBe(true);
    const dataAcks = pair.received(Opcode.SnackRequest).filter((s) => s.type === SnackType.DataAck);
    expect(dataAcks.map((s) => s.begRun)).toEqual([4, 8]);
    expect(pair.sent(Opcode.Reject)).toHaveLength(0);
    expect(pair.engine.stats).toMatchObject({ snacks: 0, dataAcks: 2 });
    // Two of the three bursts are freed; a Data SNACK for their data is refused.
    expect(link.target.retention?.read(acked[0]!.initiatorTaskTag)?.ackedBelow).toBe(8);
    link.frozen = true;
    for (const piece of encodePdu(snack({ initiatorTaskTag: acked[0]!.initiatorTaskTag, begRun: 1, runLength: 1 }), DIGESTS)) link.target.receive(piece, pair.now);
    pair.pump();
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.ProtocolError]);
    expect(pair.events("protocol-error").at(-1)?.error.message).toMatch(/acknowledged by DataACK/);
  });
});

describe("ErrorRecoveryLevel 1: damaged Data-Out asked for again with a recovery R2T", () => {
  it("rejects a solicited Data-Out with a bad data digest and asks for its range again; the write lands intact", () => {
    const { pair, side, flipper, link } = erl1({ policy: { initialR2T: true, immediateData: false } });
    flipper.arm({ direction: "to-target", opcode: Opcode.DataOut, where: "data", skip: 1 });
    const data = pattern(5120, 5);
    expect(side.run({ cdb: buildWrite10Cdb({ lba: 100, blocks: 10 }), dataOut: data }).status).toBe(0);
    expect(flipper.flips).toHaveLength(1);
    expect(pair.memory().read(100 * 512, 5120)).toEqual(data);
    const rejects = pair.sent(Opcode.Reject);
    expect(rejects.map((r) => r.reason)).toEqual([RejectReason.DataDigestError]);
    const r2ts = pair.sent(Opcode.R2T);
    // Three R2Ts for 5 KiB in 2 KiB bursts, and one recovery R2T for the damaged 512 bytes at 512.
    expect(r2ts.map((r) => [r.r2tSN, r.bufferOffset, r.desiredDataTransferLength])).toEqual([
      [0, 0, 2048],
      [1, 512, 512],
      [2, 2048, 2048],
      [3, 4096, 1024],
    ]);
    expect(pair.engine.stats).toMatchObject({ recoveryR2Ts: 1, dataDigestErrors: 1 });
    expect(link.target.closed).toBe(false);
    expect(side.session.recoveries).toHaveLength(0);
  });

  it("asks again for damaged unsolicited Data-Out once the command's unsolicited data ends", () => {
    const { pair, side, flipper } = erl1({ policy: { initialR2T: false, immediateData: false } });
    flipper.arm({ direction: "to-target", opcode: Opcode.DataOut, where: "data" });
    const data = pattern(3072, 8);
    expect(side.run({ cdb: buildWrite10Cdb({ lba: 200, blocks: 6 }), dataOut: data }).status).toBe(0);
    expect(pair.memory().read(200 * 512, 3072)).toEqual(data);
    const r2ts = pair.sent(Opcode.R2T);
    expect(r2ts[0]).toMatchObject({ r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 512 });
    expect(pair.engine.stats.recoveryR2Ts).toBe(1);
  });

  it("sends an outstanding R2T again for an R2T SNACK", () => {
    const { pair, side, link } = erl1({ policy: { initialR2T: true, immediateData: false } });
    link.frozen = true;
    const itt = 0x4242;
    const command = encodePdu(
      {
        opcode: Opcode.ScsiCommand,
        immediate: false,
        final: true,
        read: false,
        write: true,
        attribute: 1,
        lun: 0,
        initiatorTaskTag: itt,
        expectedDataTransferLength: 1024,
        cmdSN: side.session.commandWindow.cmdSN,
        expStatSN: link.target.statSN,
        cdb: buildWrite10Cdb({ lba: 0, blocks: 2 }),
        data: new Uint8Array(0),
      },
      DIGESTS,
    );
    for (const piece of command) link.target.receive(piece, pair.now);
    pair.pump();
    const [r2t] = pair.sent(Opcode.R2T);
    expect(r2t).toMatchObject({ initiatorTaskTag: itt, r2tSN: 0 });
    for (const piece of encodePdu(snack({ initiatorTaskTag: itt, begRun: 0, runLength: 1, expStatSN: link.target.statSN }), DIGESTS)) link.target.receive(piece, pair.now);
    const again = pair.sent(Opcode.R2T);
    expect(again).toHaveLength(2);
    expect(again[1]).toMatchObject({ targetTransferTag: r2t!.targetTransferTag, r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 1024 });
  });
});

describe("ErrorRecoveryLevel 1: limits and refusals", () => {
  it("drops the connection, as at ERL 0, for a SNACK asking for data the full retention budget did not keep", () => {
    const pair = new TargetPair({ trace: true, engine: { retentionBytes: 1024 }, target: { policy: { ...SMALL, errorRecoveryLevel: 1 } } });
    const flipper = new BitFlipper();
    pair.tamper = flipper.tamper;
    const side = pair.initiator({ proposal: proposal() }).login();
    flipper.arm({ direction: "to-initiator", opcode: Opcode.DataIn, where: "data" });
    const id = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 8 }), dataIn: new Uint8Array(4096) });
    pair.pump();
    const fallbacks = pair.events("erl-fallback");
    expect(fallbacks.map((e) => e.detail)).toEqual([expect.stringMatching(/4096 bytes read .* not kept/), expect.stringMatching(/not kept .*dropping the connection/)]);
    expect(pair.engine.stats.retentionSkips).toBeGreaterThanOrEqual(1);
    expect(pair.links()[0]!.target.closed).toBe(true);
    // Recovery is off in the pair: the command fails with the lost connection's error.
    expect(side.outcome(id)?.type).toBe("command-failed");
  });

  it("refuses a Status SNACK for a StatSN already acknowledged", () => {
    const { pair, side, link } = erl1();
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
    const [response] = pair.sent(Opcode.ScsiResponse);
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(0);
    link.frozen = true;
    for (const piece of encodePdu(snack({ type: SnackType.Status, begRun: response!.statSN, runLength: 1 }), DIGESTS)) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.ProtocolError]);
    expect(link.target.closed).toBe(false);
  });

  it("refuses a Status SNACK for StatSNs not sent yet, without looping over them", () => {
    const { pair, link } = erl1();
    link.frozen = true;
    for (const piece of encodePdu(snack({ type: SnackType.Status, begRun: (link.target.statSN + 5) >>> 0, runLength: 0 }), DIGESTS)) link.target.receive(piece, pair.now);
    for (const piece of encodePdu(snack({ type: SnackType.Status, begRun: (link.target.statSN - 0x7fff_0000) >>> 0, runLength: 0 }), DIGESTS)) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.ProtocolError, RejectReason.ProtocolError]);
  });

  it("refuses a DataACK naming no read, and an R-Data SNACK", () => {
    const { pair, link } = erl1();
    link.frozen = true;
    for (const piece of encodePdu(snack({ type: SnackType.DataAck, targetTransferTag: 0x1234, begRun: 3 }), DIGESTS)) link.target.receive(piece, pair.now);
    for (const piece of encodePdu(snack({ type: SnackType.RDataSnack, initiatorTaskTag: 9 }), DIGESTS)) link.target.receive(piece, pair.now);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.InvalidDataAck, RejectReason.SnackReject]);
  });

  it("still drops the connection on a header digest error (that needs ErrorRecoveryLevel 2)", () => {
    const { pair, side, flipper, link } = erl1();
    flipper.arm({ direction: "to-target", opcode: Opcode.ScsiCommand, where: "header", byte: 20 });
    const id = side.submit({ cdb: buildTestUnitReadyCdb() });
    pair.pump();
    expect(link.target.closed).toBe(true);
    expect(pair.events("connection-closed")[0]?.error?.code).toBe("ISCSI_ERR_DIGEST");
    expect(side.outcome(id)?.type).toBe("command-failed");
  });
});

describe("ErrorRecoveryLevel 1: a command with damaged immediate data", () => {
  // RFC 7143 §7.8: immediate data follow the rule of non-data PDUs: the target rejects
  // (Data-Digest-Error) and discards the whole command; the initiator must send it again with the
  // same ITT and CmdSN (§7.2.1), or the CmdSN it took stays a hole that holds every later command.
  it("takes the command when the initiator sends it again with the same ITT and CmdSN after the Reject", () => {
    const { pair, side, link } = erl1({ policy: { immediateData: true, initialR2T: false, maxRecvDataSegmentLength: 8192, firstBurstLength: 2048 } });
    link.frozen = true;
    const data = pattern(1024, 4);
    const command = {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      final: true,
      read: false,
      write: true,
      attribute: 1,
      lun: 0,
      initiatorTaskTag: 0x77,
      expectedDataTransferLength: 1024,
      cmdSN: side.session.commandWindow.cmdSN,
      expStatSN: link.target.statSN,
      cdb: buildWrite10Cdb({ lba: 400, blocks: 2 }),
      data,
    } as const;
    const damaged = encodePdu(command, DIGESTS).map((p) => p.slice());
    damaged[1]![100] = damaged[1]![100]! ^ 0x04;
    for (const piece of damaged) link.target.receive(piece, pair.now);
    pair.pump();
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.DataDigestError]);
    expect(pair.engine.sessions[0]!.taskCount).toBe(0);
    expect(pair.engine.sessions[0]!.expCmdSN).toBe(command.cmdSN);
    for (const piece of encodePdu(command, DIGESTS)) link.target.receive(piece, pair.now);
    pair.pump();
    expect(pair.sent(Opcode.ScsiResponse).map((r) => [r.initiatorTaskTag, r.status])).toEqual([[0x77, 0]]);
    expect(pair.memory().read(400 * 512, 1024)).toEqual(data);
    expect(link.target.closed).toBe(false);
  });

  // Expected to fail until the initiator sends a command again after a Data-Digest-Error Reject
  // (/work/notes/erl1-hostile-bugs.md #1): it ignores the Reject, and the write never completes.
  it("discards the command; the initiator's retry with the same ITT and CmdSN then completes the write", () => {
    const { pair, side, flipper, link } = erl1({ policy: { immediateData: true, initialR2T: false } });
    flipper.arm({ direction: "to-target", opcode: Opcode.ScsiCommand, where: "data" });
    const data = pattern(1024, 3);
    const id = side.submit({ cdb: buildWrite10Cdb({ lba: 300, blocks: 2 }), dataOut: data });
    pair.pump();
    expect(flipper.flips).toHaveLength(1);
    expect(pair.sent(Opcode.Reject).map((r) => r.reason)).toEqual([RejectReason.DataDigestError]);
    expect(pair.engine.sessions[0]!.taskCount).toBe(0);
    expect(link.target.closed).toBe(false);
    const commands = pair.received(Opcode.ScsiCommand);
    expect(commands.length).toBeGreaterThanOrEqual(2);
    expect(commands[1]).toMatchObject({ initiatorTaskTag: commands[0]!.initiatorTaskTag, cmdSN: commands[0]!.cmdSN });
    expect(side.result(id).status).toBe(0);
    expect(pair.memory().read(300 * 512, 1024)).toEqual(data);
  });
});
