import { describe, expect, it } from "vitest";
import { TaskAttribute } from "../../../core/pdu/opcodes.js";
import {
  buildCompareAndWriteCdb,
  buildInquiryCdb,
  buildModeSense10Cdb,
  buildModeSense6Cdb,
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildReportLunsCdb,
  buildRequestSenseCdb,
  buildSynchronizeCache10Cdb,
  buildTestUnitReadyCdb,
  buildUnmapCdb,
  buildVerify10Cdb,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteSame10Cdb,
  buildWriteSame16Cdb,
} from "../../../core/scsi/cdb.js";
import { parseReadCapacity10Data, parseReadCapacity16Data } from "../../../core/scsi/capacity.js";
import { parseInquiryData } from "../../../core/scsi/inquiry.js";
import { ModePageCode, decodeCachingPage, decodeControlPage } from "../../../core/scsi/mode-pages.js";
import { findModePage, parseModeSense10Data, parseModeSense6Data } from "../../../core/scsi/mode-sense.js";
import { parseReportLunsData } from "../../../core/scsi/report-luns.js";
import { decodeSense } from "../../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../../core/scsi/status.js";
import { buildUnmapParameterList } from "../../../core/scsi/unmap.js";
import {
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
} from "../../../core/scsi/vpd.js";
import { parseDeviceIdentificationPage } from "../../../core/scsi/vpd-device-id.js";
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

function inquiry(side: InitiatorSide, lun: number, vpdPage?: number): Uint8Array {
  const buffer = new Uint8Array(255);
  const result = side.run({ lun, cdb: buildInquiryCdb({ allocationLength: 255, ...(vpdPage === undefined ? {} : { vpdPage }) }), dataIn: buffer });
  expect(result.status).toBe(ScsiStatus.Good);
  return buffer.subarray(0, result.bytesIn);
}

describe("a LUN that does not exist", () => {
  it("answers INQUIRY with peripheral qualifier 011b and everything else with LOGICAL UNIT NOT SUPPORTED", () => {
    const { side } = login();
    const data = parseInquiryData(inquiry(side, 7));
    expect(data.peripheralQualifier).toBe(3);
    expect(data.peripheralDeviceType).toBe(0x1f);
    expect(senseOf(side.run({ lun: 7, cdb: buildTestUnitReadyCdb() }))).toEqual([SenseKey.IllegalRequest, 0x25, 0x00]);
    expect(senseOf(side.run({ lun: 7, cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512) }))).toEqual([SenseKey.IllegalRequest, 0x25, 0x00]);
    const report = new Uint8Array(64);
    expect(side.run({ lun: 7, cdb: buildReportLunsCdb({ allocationLength: 64 }), dataIn: report }).status).toBe(ScsiStatus.Good);
    expect(parseReportLunsData(report).luns).toEqual([0]);
  });

  it("returns LOGICAL UNIT NOT SUPPORTED as REQUEST SENSE data with GOOD status", () => {
    const { side } = login();
    const buffer = new Uint8Array(18);
    expect(side.run({ lun: 3, cdb: buildRequestSenseCdb({ allocationLength: 18 }), dataIn: buffer }).status).toBe(ScsiStatus.Good);
    const sense = decodeSense(buffer);
    expect([sense.key, sense.asc]).toEqual([SenseKey.IllegalRequest, 0x25]);
  });
});

describe("INQUIRY and the VPD pages", () => {
  it("lists the VPD pages it serves and serves each", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 0, blocks: 8192, thinProvisioned: true, serial: "SER-0001" }] } });
    const side = pair.initiator().login();
    expect(parseSupportedVpdPages(inquiry(side, 0, 0x00)).pages).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    expect(parseUnitSerialNumberPage(inquiry(side, 0, 0x80)).serialNumber).toBe("SER-0001");
    const ids = parseDeviceIdentificationPage(inquiry(side, 0, 0x83)).designators;
    const naa = ids.find((d) => d.designatorType === 3);
    expect(naa?.association).toBe(0);
    expect(naa?.value.kind).toBe("naa");
    expect(ids.some((d) => d.value.kind === "scsi-name-string" && d.association === 1)).toBe(true);
    const limits = parseBlockLimitsPage(inquiry(side, 0, 0xb0));
    expect(limits.maximumTransferLength).toBe((8 * 1024 * 1024) / 512);
    expect(limits.wsnz).toBe(true);
    expect(limits.maximumUnmapBlockDescriptorCount).toBeGreaterThan(0);
    const lbp = parseLogicalBlockProvisioningPage(inquiry(side, 0, 0xb2));
    expect([lbp.lbpu, lbp.lbpws, lbp.lbpws10, lbp.lbprz]).toEqual([true, true, true, 1]);
  });

  it("gives two units of one target different NAA designators", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 0, blocks: 64 }, { lun: 1, blocks: 64 }] } });
    const side = pair.initiator().login();
    const naa = (lun: number): unknown => parseDeviceIdentificationPage(inquiry(side, lun, 0x83)).designators.find((d) => d.designatorType === 3)?.value;
    expect(naa(0)).not.toEqual(naa(1));
  });

  it("refuses an unknown VPD page and a page code without EVPD with INVALID FIELD IN CDB", () => {
    const { side } = login();
    const bad = side.run({ cdb: buildInquiryCdb({ vpdPage: 0x99, allocationLength: 255 }), dataIn: new Uint8Array(255) });
    const sense = decodeSense(bad.sense);
    expect([sense.key, sense.asc]).toEqual([SenseKey.IllegalRequest, 0x24]);
    expect(sense.senseKeySpecific).toMatchObject({ kind: "field-pointer", commandData: true, fieldPointer: 2 });
    const noEvpd = new Uint8Array([0x12, 0, 0x80, 0, 255, 0]);
    expect(senseOf(side.run({ cdb: noEvpd, dataIn: new Uint8Array(255) }))).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
  });

  it("reports an underflow residual when the allocation length is more than the data", () => {
    const { side } = login();
    const result = side.run({ cdb: buildInquiryCdb({ allocationLength: 255 }), dataIn: new Uint8Array(255) });
    expect(result.bytesIn).toBe(74);
    expect(result.residualUnderflow).toBe(true);
    expect(result.residualCount).toBe(255 - 74);
  });
});

describe("commands it does not know, and fields it refuses", () => {
  it("answers an unknown opcode with INVALID COMMAND OPERATION CODE", () => {
    const { side } = login();
    expect(senseOf(side.run({ cdb: new Uint8Array([0xc0, 0, 0, 0, 0, 0]) }))).toEqual([SenseKey.IllegalRequest, 0x20, 0x00]);
  });

  it("refuses protection information it does not have (RDPROTECT, WRPROTECT)", () => {
    const { side } = login();
    const read = side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 1, protect: 1 }), dataIn: new Uint8Array(512) });
    expect(senseOf(read)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
    const write = side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 1, protect: 2 }), dataOut: new Uint8Array(512) });
    expect(senseOf(write)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
  });

  it("answers reads and writes past the last block with LBA OUT OF RANGE", () => {
    const { side } = login();
    expect(senseOf(side.run({ cdb: buildRead16Cdb({ lba: 8191, blocks: 2 }), dataIn: new Uint8Array(1024) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    expect(senseOf(side.run({ cdb: buildWrite16Cdb({ lba: 2n ** 63n, blocks: 1 }), dataOut: new Uint8Array(512) }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
    expect(side.run({ cdb: buildRead16Cdb({ lba: 8191, blocks: 1 }), dataIn: new Uint8Array(512) }).status).toBe(ScsiStatus.Good);
  });

  it("refuses writes to a read-only unit with WRITE PROTECTED, and says so in MODE SENSE", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 0, blocks: 64, readOnly: true }] } });
    const side = pair.initiator().login();
    expect(senseOf(side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 1 }), dataOut: fill(512, 1) }))).toEqual([SenseKey.DataProtect, 0x27, 0]);
    const buffer = new Uint8Array(255);
    side.run({ cdb: buildModeSense6Cdb({ page: 0x3f, allocationLength: 255 }), dataIn: buffer });
    expect(parseModeSense6Data(buffer).writeProtect).toBe(true);
  });
});

describe("READ CAPACITY, MODE SENSE, REPORT LUNS", () => {
  it("reports the capacity of a 4096-byte-block unit in both forms", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 2, blocks: 1000, blockSize: 4096 }] } });
    const side = pair.initiator().login();
    const ten = new Uint8Array(8);
    side.run({ lun: 2, cdb: buildReadCapacity10Cdb(), dataIn: ten });
    expect(parseReadCapacity10Data(ten)).toMatchObject({ lastLba: 999, blockLength: 4096 });
    const sixteen = new Uint8Array(32);
    side.run({ lun: 2, cdb: buildReadCapacity16Cdb({ allocationLength: 32 }), dataIn: sixteen });
    expect(parseReadCapacity16Data(sixteen)).toMatchObject({ blocks: 1000, blockLength: 4096, lbpme: false });
    const data = fill(8192, 0x5a);
    expect(side.run({ lun: 2, cdb: buildWrite10Cdb({ lba: 998, blocks: 2 }), dataOut: data }).status).toBe(ScsiStatus.Good);
    expect(pair.memory(2).read(998 * 4096, 8192)).toEqual(data);
  });

  it("serves the caching, control and informational exceptions pages, and no saved values", () => {
    const { side } = login();
    const buffer = new Uint8Array(512);
    const result = side.run({ cdb: buildModeSense10Cdb({ page: 0x3f, allocationLength: 512 }), dataIn: buffer });
    const sense = parseModeSense10Data(buffer.subarray(0, result.bytesIn));
    expect(sense.blockDescriptors[0]).toMatchObject({ blocks: 8192, blockLength: 512 });
    expect(decodeCachingPage(findModePage(sense, ModePageCode.Caching)!).wce).toBe(true);
    expect(decodeControlPage(findModePage(sense, ModePageCode.Control)!).tas).toBe(true);
    expect(findModePage(sense, ModePageCode.InformationalExceptionsControl)).toBeDefined();
    const saved = side.run({ cdb: buildModeSense6Cdb({ page: 0x08, pageControl: 3, allocationLength: 255 }), dataIn: new Uint8Array(255) });
    expect(senseOf(saved)).toEqual([SenseKey.IllegalRequest, 0x39, 0]);
    const unknown = side.run({ cdb: buildModeSense6Cdb({ page: 0x19, allocationLength: 255 }), dataIn: new Uint8Array(255) });
    expect(senseOf(unknown)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
  });

  it("lists the target's LUNs in order, and refuses an allocation length under 16", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 5, blocks: 8 }, { lun: 0, blocks: 8 }, { lun: 300, blocks: 8 }] } });
    const side = pair.initiator().login();
    const buffer = new Uint8Array(64);
    side.run({ cdb: buildReportLunsCdb({ allocationLength: 64 }), dataIn: buffer });
    expect(parseReportLunsData(buffer).luns).toEqual([0, 5, 300]);
    expect(senseOf(side.run({ cdb: buildReportLunsCdb({ allocationLength: 8 }), dataIn: new Uint8Array(8) }))).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
  });
});

describe("residuals against the Expected Data Transfer Length", () => {
  it("sends only what the initiator expects of a longer read, with an overflow residual", () => {
    const { pair, side } = login();
    pair.memory().write(0, fill(1024, 0x33));
    const buffer = new Uint8Array(512);
    const result = side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 2 }), dataIn: buffer });
    expect(result.status).toBe(ScsiStatus.Good);
    expect(result.bytesIn).toBe(512);
    expect([result.residualOverflow, result.residualCount]).toEqual([true, 512]);
    expect(buffer).toEqual(fill(512, 0x33));
  });

  it("writes only what the initiator sent of a longer WRITE, with an overflow residual (FCP-4 option a)", () => {
    const { pair, side } = login();
    const result = side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 2 }), dataOut: fill(700, 0x77) });
    expect(result.status).toBe(ScsiStatus.Good);
    expect([result.residualOverflow, result.residualCount]).toEqual([true, 1024 - 700]);
    expect(pair.memory().read(0, 1024)).toEqual(new Uint8Array([...fill(700, 0x77), ...new Uint8Array(324)]));
  });

  it("refuses COMPARE AND WRITE with less data than it needs (INVALID FIELD IN INFORMATION UNIT, overflow)", () => {
    const { pair, side } = login();
    const result = side.run({ cdb: buildCompareAndWriteCdb({ lba: 0, blocks: 1 }), dataOut: fill(512, 0) });
    expect(senseOf(result)).toEqual([SenseKey.IllegalRequest, 0x0e, 0x03]);
    expect([result.residualOverflow, result.residualCount]).toEqual([true, 512]);
    expect(pair.memory().allocatedBytes).toBe(0);
  });

  it("writes only what the CDB asks of a longer transfer, with an underflow residual", () => {
    const { pair, side } = login();
    const result = side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 1 }), dataOut: fill(1536, 0x44), shortTransfer: "allow" });
    expect(result.status).toBe(ScsiStatus.Good);
    expect([result.residualUnderflow, result.residualCount]).toEqual([true, 1024]);
    expect(pair.memory().read(0, 1024)).toEqual(new Uint8Array([...fill(512, 0x44), ...new Uint8Array(512)]));
  });
});

describe("transfers longer than the target takes", () => {
  it("takes a one-block WRITE whose Expected Data Transfer Length is past the largest transfer, dropping the excess", () => {
    const { pair, side } = login({ engine: { maxTransferBytes: 16 * 1024 } });
    const data = fill(64 * 1024, 0x21);
    const result = side.run({ cdb: buildWrite10Cdb({ lba: 3, blocks: 1 }), dataOut: data, shortTransfer: "allow" });
    expect(result.status).toBe(ScsiStatus.Good);
    expect([result.residualUnderflow, result.residualCount]).toEqual([true, 64 * 1024 - 512]);
    expect(pair.memory().read(3 * 512, 1024)).toEqual(new Uint8Array([...fill(512, 0x21), ...new Uint8Array(512)]));
  });

  it("refuses a READ or WRITE of more than MAXIMUM TRANSFER LENGTH with INVALID FIELD IN CDB", () => {
    const { side } = login({ engine: { maxTransferBytes: 16 * 1024 } });
    expect(senseOf(side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 33 }), dataIn: new Uint8Array(33 * 512) }))).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
    expect(senseOf(side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 33 }), dataOut: new Uint8Array(33 * 512) }))).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
  });
});

describe("provisioning: UNMAP and WRITE SAME", () => {
  it("deallocates blocks with UNMAP: they read as zeros and their memory is given back", () => {
    const { pair, side } = login();
    side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 256 }), dataOut: fill(256 * 512, 9) });
    const allocated = pair.memory().allocatedBytes;
    const list = buildUnmapParameterList([{ lba: 0, blocks: 128 }, { lba: 200, blocks: 10 }]);
    expect(side.run({ cdb: buildUnmapCdb({ parameterListLength: list.length }), dataOut: list }).status).toBe(ScsiStatus.Good);
    expect(pair.memory().allocatedBytes).toBe(allocated - 64 * 1024);
    const back = new Uint8Array(256 * 512);
    side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 256 }), dataIn: back });
    expect(back.subarray(0, 128 * 512).every((b) => b === 0)).toBe(true);
    expect(back.subarray(128 * 512, 200 * 512).every((b) => b === 9)).toBe(true);
    expect(back.subarray(200 * 512, 210 * 512).every((b) => b === 0)).toBe(true);
    expect(back.subarray(210 * 512).every((b) => b === 9)).toBe(true);
  });

  it("refuses an UNMAP descriptor past the last block", () => {
    const { side } = login();
    const list = buildUnmapParameterList([{ lba: 8190, blocks: 4 }]);
    expect(senseOf(side.run({ cdb: buildUnmapCdb({ parameterListLength: list.length }), dataOut: list }))).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
  });

  it("fills blocks with WRITE SAME, and deallocates them with WRITE SAME (UNMAP) of zeros", () => {
    const { pair, side } = login();
    const block = Uint8Array.from({ length: 512 }, (_, i) => i & 0xff);
    expect(side.run({ cdb: buildWriteSame10Cdb({ lba: 10, blocks: 300 }), dataOut: block }).status).toBe(ScsiStatus.Good);
    for (const lba of [10, 150, 309]) expect(pair.memory().read(lba * 512, 512)).toEqual(block);
    expect(pair.memory().read(310 * 512, 512)).toEqual(new Uint8Array(512));
    expect(side.run({ cdb: buildWriteSame16Cdb({ lba: 0, blocks: 1024, unmap: true }), dataOut: new Uint8Array(512) }).status).toBe(ScsiStatus.Good);
    expect(pair.memory().allocatedBytes).toBe(0);
    const zeroBlocks = side.run({ cdb: buildWriteSame10Cdb({ lba: 0, blocks: 0 }), dataOut: block });
    expect(senseOf(zeroBlocks)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
  });
});

describe("GET LBA STATUS", () => {
  function getLbaStatus(side: InitiatorSide, lba: number, allocation = 4096): { result: CommandResult; extents: Array<[number, number, number]> } {
    const cdb = new Uint8Array(16);
    const view = new DataView(cdb.buffer);
    cdb[0] = 0x9e;
    cdb[1] = 0x12;
    view.setBigUint64(2, BigInt(lba));
    view.setUint32(10, allocation);
    const buffer = new Uint8Array(allocation);
    const result = side.run({ cdb, dataIn: buffer });
    const data = new DataView(buffer.buffer, 0, result.bytesIn);
    const extents: Array<[number, number, number]> = [];
    for (let at = 8; at + 16 <= result.bytesIn; at += 16) extents.push([Number(data.getBigUint64(at)), data.getUint32(at + 8), buffer[at + 12]! & 0x0f]);
    return { result, extents };
  }

  it("reports which blocks are mapped and which are deallocated, from the starting LBA", () => {
    const { side } = login();
    // 64 KiB memory chunks are 128 blocks: write into the third chunk only.
    side.run({ cdb: buildWrite10Cdb({ lba: 300, blocks: 1 }), dataOut: fill(512, 1) });
    const { result, extents } = getLbaStatus(side, 10);
    expect(result.status).toBe(ScsiStatus.Good);
    expect(extents).toEqual([
      [10, 246, 1],
      [256, 128, 0],
      [384, 8192 - 384, 1],
    ]);
  });

  it("refuses a starting LBA past the end", () => {
    const { side } = login();
    expect(senseOf(getLbaStatus(side, 8192).result)).toEqual([SenseKey.IllegalRequest, 0x21, 0]);
  });
});

describe("COMPARE AND WRITE, VERIFY and SYNCHRONIZE CACHE", () => {
  it("writes when the compare matches and reports the first differing byte when it does not", () => {
    const { pair, side } = login();
    pair.memory().write(512 * 4, fill(1024, 1));
    const ok = new Uint8Array([...fill(1024, 1), ...fill(1024, 2)]);
    expect(side.run({ cdb: buildCompareAndWriteCdb({ lba: 4, blocks: 2 }), dataOut: ok }).status).toBe(ScsiStatus.Good);
    expect(pair.memory().read(512 * 4, 1024)).toEqual(fill(1024, 2));
    const expected = fill(1024, 2);
    expected[700] = 9;
    const miss = side.run({ cdb: buildCompareAndWriteCdb({ lba: 4, blocks: 2 }), dataOut: new Uint8Array([...expected, ...fill(1024, 3)]) });
    expect(senseOf(miss)).toEqual([SenseKey.Miscompare, 0x1d, 0]);
    expect(decodeSense(miss.sense).information).toBe(700);
    expect(pair.memory().read(512 * 4, 1024)).toEqual(fill(1024, 2));
  });

  it("lets go of the unit after every command, so COMPARE AND WRITE after others is not stuck", () => {
    const { pair, side } = login();
    side.run({ cdb: buildTestUnitReadyCdb() });
    side.run({ cdb: buildWrite10Cdb({ lba: 0, blocks: 1 }), dataOut: fill(512, 1) });
    const unit = pair.engine.unit(pair.engine.config.targets[0]!.iqn, 0)!;
    expect([unit.running, unit.queued]).toEqual([0, 0]);
    const caw = new Uint8Array([...fill(512, 1), ...fill(512, 2)]);
    expect(side.run({ cdb: buildCompareAndWriteCdb({ lba: 0, blocks: 1 }), dataOut: caw }).status).toBe(ScsiStatus.Good);
    expect([unit.running, unit.queued]).toEqual([0, 0]);
  });

  it("holds the unit for COMPARE AND WRITE: a write queued behind it waits until it is done", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const caw = side.submit({ cdb: buildCompareAndWriteCdb({ lba: 0, blocks: 1 }), dataOut: new Uint8Array(1024) });
    const write = side.submit({ cdb: buildWrite10Cdb({ lba: 0, blocks: 1 }), dataOut: fill(512, 5) });
    pair.pump();
    expect(pair.pending.map((r) => r.op)).toEqual(["read"]);
    pair.completeStorage(1);
    expect(pair.pending.map((r) => r.op)).toEqual(["write"]);
    pair.completeStorage(1);
    expect(side.result(caw).status).toBe(ScsiStatus.Good);
    expect(pair.pending.map((r) => r.op)).toEqual(["write"]);
    pair.completeStorage();
    expect(side.result(write).status).toBe(ScsiStatus.Good);
  });

  it("runs an ORDERED task alone, after the SIMPLE tasks before it", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512) });
    side.submit({ cdb: buildRead10Cdb({ lba: 1, blocks: 1 }), dataIn: new Uint8Array(512), attribute: TaskAttribute.Ordered });
    side.submit({ cdb: buildRead10Cdb({ lba: 2, blocks: 1 }), dataIn: new Uint8Array(512) });
    pair.pump();
    expect(pair.pending.map((r) => r.op === "read" && r.offset / 512)).toEqual([0]);
    pair.completeStorage(1);
    expect(pair.pending.map((r) => r.op === "read" && r.offset / 512)).toEqual([1]);
    pair.completeStorage(1);
    expect(pair.pending.map((r) => r.op === "read" && r.offset / 512)).toEqual([2]);
  });

  it("verifies bytes with BYTCHK=1 and reports a miscompare", () => {
    const { pair, side } = login();
    pair.memory().write(0, fill(1024, 6));
    expect(side.run({ cdb: buildVerify10Cdb({ lba: 0, blocks: 2, byteCheck: 1 }), dataOut: fill(1024, 6) }).status).toBe(ScsiStatus.Good);
    const other = fill(1024, 6);
    other[1000] = 0;
    expect(senseOf(side.run({ cdb: buildVerify10Cdb({ lba: 0, blocks: 2, byteCheck: 1 }), dataOut: other }))).toEqual([SenseKey.Miscompare, 0x1d, 0]);
    expect(side.run({ cdb: buildVerify10Cdb({ lba: 0, blocks: 2, byteCheck: 0 }) }).status).toBe(ScsiStatus.Good);
  });

  it("flushes the backend for SYNCHRONIZE CACHE and for a FUA write", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    side.submit({ cdb: buildSynchronizeCache10Cdb() });
    side.submit({ cdb: buildWrite10Cdb({ lba: 0, blocks: 1, fua: true }), dataOut: new Uint8Array(512) });
    pair.pump();
    expect(pair.pending.map((r) => (r.op === "write" ? `write fua=${r.fua}` : r.op))).toEqual(["flush", "write fua=true"]);
  });
});

describe("unit attention", () => {
  it("is off by default: the first command of a new session succeeds", () => {
    const { side } = login();
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(ScsiStatus.Good);
  });

  it("reports POWER ON, RESET OR BUS DEVICE RESET OCCURRED once per new nexus when enabled, letting INQUIRY through", () => {
    const { side } = login({ engine: { unitAttentionOnNewNexus: true } });
    inquiry(side, 0);
    expect(senseOf(side.run({ cdb: buildTestUnitReadyCdb() }))).toEqual([SenseKey.UnitAttention, 0x29, 0x00]);
    expect(side.run({ cdb: buildTestUnitReadyCdb() }).status).toBe(ScsiStatus.Good);
  });
});

describe("storage failures", () => {
  it("turns a failed read into MEDIUM ERROR, UNRECOVERED READ ERROR", () => {
    const pair = new TargetPair({ storage: "manual" });
    const side = pair.initiator().login();
    const id = side.submit({ cdb: buildRead10Cdb({ lba: 0, blocks: 1 }), dataIn: new Uint8Array(512) });
    pair.pump();
    pair.completeStorage(1, { ok: false, kind: "medium-error", message: "EIO" });
    expect(senseOf(side.result(id))).toEqual([SenseKey.MediumError, 0x11, 0x00]);
  });
});
