import { describe, expect, it } from "vitest";
import { buildWrite10Cdb } from "../../../core/scsi/cdb.js";
import { decodeSense } from "../../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../../core/scsi/status.js";
import type { CommandResult } from "../../../core/session/command.js";
import { type InitiatorSide, TargetPair } from "../pair.test-util.js";

function fill(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

function senseOf(result: CommandResult): [number, number, number] {
  expect(result.status).toBe(ScsiStatus.CheckCondition);
  const s = decodeSense(result.sense);
  return [s.key, s.asc, s.ascq];
}

function login(options: ConstructorParameters<typeof TargetPair>[0] = {}): { pair: TargetPair; side: InitiatorSide } {
  const pair = new TargetPair(options);
  return { pair, side: pair.initiator().login() };
}

/** WRITE AND VERIFY (10) 2Eh, (12) AEh or (16) 8Eh. */
function writeAndVerifyCdb(o: { variant?: 10 | 12 | 16; lba: number | bigint; blocks: number; byteCheck?: number; dpo?: boolean; protect?: number }): Uint8Array {
  const variant = o.variant ?? 10;
  const cdb = new Uint8Array(variant);
  const view = new DataView(cdb.buffer);
  cdb[0] = variant === 10 ? 0x2e : variant === 12 ? 0xae : 0x8e;
  cdb[1] = ((o.protect ?? 0) << 5) | (o.dpo === true ? 0x10 : 0) | ((o.byteCheck ?? 0) << 1);
  if (variant === 16) {
    view.setBigUint64(2, BigInt(o.lba));
    view.setUint32(10, o.blocks);
  } else {
    view.setUint32(2, Number(o.lba) >>> 0);
    if (variant === 10) view.setUint16(7, o.blocks);
    else view.setUint32(6, o.blocks);
  }
  return cdb;
}

/** PRE-FETCH (10) 34h or (16) 90h. */
function preFetchCdb(o: { variant?: 10 | 16; lba: number | bigint; blocks: number; immed?: boolean; group?: number }): Uint8Array {
  const variant = o.variant ?? 10;
  const cdb = new Uint8Array(variant);
  const view = new DataView(cdb.buffer);
  cdb[0] = variant === 10 ? 0x34 : 0x90;
  cdb[1] = o.immed === true ? 0x02 : 0;
  if (variant === 16) {
    view.setBigUint64(2, BigInt(o.lba));
    view.setUint32(10, o.blocks);
    cdb[14] = o.group ?? 0;
  } else {
    view.setUint32(2, Number(o.lba) >>> 0);
    view.setUint16(7, o.blocks);
    cdb[6] = o.group ?? 0;
  }
  return cdb;
}

describe("WRITE AND VERIFY", () => {
  it.each([10, 12, 16] as const)("(%i) writes the blocks, reads them back and compares them with BYTCHK=1", (variant) => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const data = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 0xff);
    const id = side.submit({ cdb: writeAndVerifyCdb({ variant, lba: 100, blocks: 2, byteCheck: 1 }), dataOut: data });
    pair.pump();
    // The write goes to the medium (FUA), then the same range is read back from it.
    expect(pair.pending.map((r) => (r.op === "write" ? `write ${r.offset} ${r.data.length} fua=${r.fua}` : r.op))).toEqual([`write ${100 * 512} 1024 fua=true`]);
    pair.completeStorage(1);
    expect(pair.pending.map((r) => (r.op === "read" ? `read ${r.offset} ${r.length}` : r.op))).toEqual([`read ${100 * 512} 1024`]);
    pair.completeStorage();
    expect(side.result(id).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(100 * 512, 1024)).toEqual(data);
  });

  it("verifies the medium with BYTCHK=0: a write, a read back, GOOD", () => {
    const { pair, side } = login();
    const result = side.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, byteCheck: 0 }), dataOut: fill(512, 0xa6) });
    expect(result.status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(0, 512)).toEqual(fill(512, 0xa6));
  });

  it("reports MISCOMPARE with the first differing byte when the medium does not hold what was written", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const id = side.submit({ cdb: writeAndVerifyCdb({ lba: 4, blocks: 1, byteCheck: 1 }), dataOut: fill(512, 0x55) });
    pair.pump();
    pair.completeStorage(1);
    const back = fill(512, 0x55);
    back[300] = 0;
    pair.completeStorage(1, { ok: true, data: back });
    const result = side.result(id);
    expect(senseOf(result)).toEqual([SenseKey.Miscompare, 0x1d, 0x00]);
    expect(decodeSense(result.sense).information).toBe(300);
  });

  it("turns a failed read back into MEDIUM ERROR, and a failed write into a write error", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const unreadable = side.submit({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, byteCheck: 0 }), dataOut: fill(512, 1) });
    pair.pump();
    pair.completeStorage(1);
    pair.completeStorage(1, { ok: false, kind: "medium-error", message: "EIO" });
    expect(senseOf(side.result(unreadable))).toEqual([SenseKey.MediumError, 0x11, 0x00]);
    const unwritable = side.submit({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, byteCheck: 1 }), dataOut: fill(512, 1) });
    pair.pump();
    pair.completeStorage(1, { ok: false, kind: "medium-error", message: "EIO" });
    expect(senseOf(side.result(unwritable))).toEqual([SenseKey.MediumError, 0x0c, 0x00]);
    expect(pair.pending).toEqual([]);
  });

  it("refuses BYTCHK 10b and 11b, WRPROTECT, a range past the last block and a read-only unit", () => {
    const { side } = login();
    for (const byteCheck of [2, 3]) {
      const bad = side.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, byteCheck }), dataOut: fill(512, 0) });
      expect(senseOf(bad)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
      expect(decodeSense(bad.sense).senseKeySpecific).toMatchObject({ kind: "field-pointer", commandData: true, fieldPointer: 1 });
    }
    expect(senseOf(side.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, protect: 1 }), dataOut: fill(512, 0) }))).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
    expect(senseOf(side.run({ cdb: writeAndVerifyCdb({ variant: 16, lba: 8191, blocks: 2 }), dataOut: fill(1024, 0) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    expect(senseOf(side.run({ cdb: writeAndVerifyCdb({ lba: 0xffff_ffff, blocks: 0 }) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    const readOnly = login({ target: { luns: [{ lun: 0, blocks: 64, readOnly: true }] } }).side;
    expect(senseOf(readOnly.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1 }), dataOut: fill(512, 0) }))).toEqual([SenseKey.DataProtect, 0x27, 0]);
  });

  it("takes zero blocks as GOOD and DPO as accepted", () => {
    const { pair, side } = login();
    expect(side.run({ cdb: writeAndVerifyCdb({ lba: 8192, blocks: 0 }) }).status).toBe(ScsiStatus.Good);
    expect(side.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, byteCheck: 1, dpo: true }), dataOut: fill(512, 3) }).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(0, 512)).toEqual(fill(512, 3));
  });

  it("writes and verifies only what the initiator sent of a longer transfer, with an overflow residual, as WRITE does", () => {
    const { pair, side } = login();
    side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 2 }), dataOut: fill(1024, 0x61) });
    const result = side.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 2, byteCheck: 1 }), dataOut: fill(512, 0x62), shortTransfer: "allow" });
    expect(result.status).toBe(ScsiStatus.Good);
    expect([result.residualOverflow, result.residualCount]).toEqual([true, 512]);
    expect(pair.memory().read(0, 1024)).toEqual(new Uint8Array([...fill(512, 0x62), ...fill(512, 0x61)]));
  });

  it("takes a pending unit attention with no residual: the Data-Out it was sent is what its CDB called for", () => {
    const { pair, side } = login({ engine: { unitAttentionOnNewNexus: true } });
    const result = side.run({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 2, byteCheck: 1 }), dataOut: fill(1024, 1) });
    expect(senseOf(result)).toEqual([SenseKey.UnitAttention, 0x29, 0x00]);
    expect([result.residualUnderflow, result.residualOverflow, result.residualCount]).toEqual([false, false, 0]);
    expect(pair.memory().allocatedBytes).toBe(0);
  });

  it("holds the unit alone: a read queued behind it waits until the verification is done", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const verify = side.submit({ cdb: writeAndVerifyCdb({ lba: 0, blocks: 1, byteCheck: 1 }), dataOut: fill(512, 9) });
    const read = side.submit({ cdb: new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]), dataIn: new Uint8Array(512) });
    pair.pump();
    expect(pair.pending.map((r) => r.op)).toEqual(["write"]);
    pair.completeStorage(1);
    expect(pair.pending.map((r) => r.op)).toEqual(["read"]);
    pair.completeStorage(1);
    expect(side.result(verify).status).toBe(ScsiStatus.Good);
    expect(pair.pending.map((r) => r.op)).toEqual(["read"]);
    pair.completeStorage();
    expect(side.result(read).status).toBe(ScsiStatus.Good);
  });
});

describe("PRE-FETCH", () => {
  it.each([10, 16] as const)("(%i) reads the range into the cache and answers CONDITION MET", (variant) => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const id = side.submit({ cdb: preFetchCdb({ variant, lba: 8, blocks: 16 }) });
    pair.pump();
    expect(pair.pending.map((r) => (r.op === "read" ? `read ${r.offset} ${r.length}` : r.op))).toEqual([`read ${8 * 512} ${16 * 512}`]);
    pair.completeStorage();
    const result = side.result(id);
    expect(result.status).toBe(ScsiStatus.ConditionMet);
    expect(result.bytesIn).toBe(0);
  });

  it("answers CONDITION MET at once with IMMED, reading nothing, and ignores GROUP NUMBER", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const id = side.submit({ cdb: preFetchCdb({ lba: 0, blocks: 1, immed: true, group: 3 }) });
    pair.pump();
    expect(pair.pending).toEqual([]);
    expect(side.result(id).status).toBe(ScsiStatus.ConditionMet);
  });

  it("takes PREFETCH LENGTH 0 as every block to the last, and answers GOOD, reading nothing, for more than the cache holds", () => {
    const pair = new TargetPair({ storage: "manual", engine: { maxTransferBytes: 64 * 1024 } });
    const side = pair.initiator().login();
    const tail = side.submit({ cdb: preFetchCdb({ variant: 16, lba: 8192 - 128, blocks: 0 }) });
    pair.pump();
    expect(pair.pending.map((r) => (r.op === "read" ? `read ${r.offset} ${r.length}` : r.op))).toEqual([`read ${(8192 - 128) * 512} ${128 * 512}`]);
    pair.completeStorage();
    expect(side.result(tail).status).toBe(ScsiStatus.ConditionMet);
    for (const cdb of [preFetchCdb({ lba: 0, blocks: 0 }), preFetchCdb({ lba: 0, blocks: 129 }), preFetchCdb({ lba: 0, blocks: 129, immed: true })]) {
      const id = side.submit({ cdb });
      pair.pump();
      expect(pair.pending).toEqual([]);
      expect(side.result(id).status).toBe(ScsiStatus.Good);
    }
  });

  it("refuses a range past the last block with LBA OUT OF RANGE, zero blocks included", () => {
    const { side } = login();
    expect(senseOf(side.run({ cdb: preFetchCdb({ lba: 8191, blocks: 2 }) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    expect(senseOf(side.run({ cdb: preFetchCdb({ lba: 8193, blocks: 0 }) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    expect(senseOf(side.run({ cdb: preFetchCdb({ variant: 16, lba: 2n ** 63n, blocks: 1 }) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    expect(side.run({ cdb: preFetchCdb({ lba: 8191, blocks: 1 }) }).status).toBe(ScsiStatus.ConditionMet);
  });

  it("turns a failed read into MEDIUM ERROR, UNRECOVERED READ ERROR", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const id = side.submit({ cdb: preFetchCdb({ lba: 0, blocks: 1 }) });
    pair.pump();
    pair.completeStorage(1, { ok: false, kind: "medium-error", message: "EIO" });
    expect(senseOf(side.result(id))).toEqual([SenseKey.MediumError, 0x11, 0x00]);
  });
});
