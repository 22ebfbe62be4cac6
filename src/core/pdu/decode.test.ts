import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { writeU16, writeU24, writeU32 } from "../bytes.js";
import { arbPdu } from "./arbitraries.test-util.js";
import { decodePdu } from "./decode.js";
import type { Frame } from "./framer.js";
import { encodeToBytes, hexBytes, scsiResponse } from "./frames.test-util.js";
import { Opcode } from "./opcodes.js";
import type { DataInPdu, LoginResponsePdu, Pdu, ScsiCommandPdu } from "./types.js";

/** A frame as the Framer would deliver it, with TotalAHSLength and DataSegmentLength filled in. */
function frame(bhs: Uint8Array, ahs: Uint8Array = new Uint8Array(0), data: Uint8Array = new Uint8Array(0)): Frame {
  const header = bhs.slice(0, 48);
  header[4] = ahs.length / 4;
  writeU24(header, 5, data.length);
  return { opcode: header[0]! & 0x3f, bhs: header, ahs, data, dataPlaced: false, dataDigestError: false };
}

/** The BHS of `pdu` with `patch` applied. */
function bhsOf(pdu: Pdu, patch: (b: Uint8Array) => void = () => {}): Uint8Array {
  const bhs = encodeToBytes(pdu).slice(0, 48);
  patch(bhs);
  return bhs;
}

function ahsEntry(type: number, length: number, body: number[] = []): number[] {
  const bytes = [length >>> 8, length & 0xff, type, ...body];
  while (bytes.length < 3 + length) bytes.push(0);
  while (bytes.length % 4 !== 0) bytes.push(0);
  return bytes;
}

const command: ScsiCommandPdu = {
  opcode: Opcode.ScsiCommand,
  immediate: false,
  final: true,
  read: true,
  write: false,
  attribute: 1,
  lun: 0,
  initiatorTaskTag: 0x42,
  expectedDataTransferLength: 512,
  cmdSN: 1,
  expStatSN: 1,
  cdb: new Uint8Array(16).fill(0x28, 0, 1),
  data: new Uint8Array(0),
};

const dataIn: DataInPdu = {
  opcode: Opcode.DataIn,
  final: true,
  acknowledge: false,
  residualOverflow: false,
  residualUnderflow: false,
  hasStatus: true,
  status: 0,
  lun: 0,
  initiatorTaskTag: 0x42,
  targetTransferTag: 0xffff_ffff,
  statSN: 9,
  expCmdSN: 10,
  maxCmdSN: 40,
  dataSN: 0,
  bufferOffset: 0,
  residualCount: 0,
  data: new Uint8Array(0),
};

const loginResponse: LoginResponsePdu = {
  opcode: Opcode.LoginResponse,
  transit: true,
  continue: false,
  currentStage: 1,
  nextStage: 3,
  versionMax: 0,
  versionActive: 0,
  isid: 0x400001370000,
  tsih: 1,
  initiatorTaskTag: 0,
  statSN: 0,
  expCmdSN: 1,
  maxCmdSN: 1,
  statusClass: 0,
  statusDetail: 0,
  data: new Uint8Array(0),
};

/**
 * Reserved (or fixed-value, unrepresented) byte ranges of each BHS, read off the RFC 7143 §11
 * diagrams independently of the codec.
 */
const RESERVED_BYTES: Readonly<Record<number, readonly (readonly [number, number])[]>> = {
  [Opcode.NopOut]: [[2, 3], [32, 47]],
  [Opcode.ScsiCommand]: [[2, 3]],
  [Opcode.TaskManagementRequest]: [[2, 3], [40, 47]],
  [Opcode.LoginRequest]: [[22, 23], [32, 47]],
  [Opcode.TextRequest]: [[2, 3], [32, 47]],
  [Opcode.DataOut]: [[2, 3], [24, 27], [32, 35], [44, 47]],
  [Opcode.LogoutRequest]: [[2, 3], [8, 15], [22, 23], [32, 47]],
  [Opcode.SnackRequest]: [[2, 3], [24, 27], [32, 39]],
  [Opcode.NopIn]: [[2, 3], [36, 47]],
  [Opcode.ScsiResponse]: [[8, 15]],
  [Opcode.TaskManagementResponse]: [[3, 3], [8, 15], [20, 23], [36, 47]],
  [Opcode.LoginResponse]: [[20, 23], [38, 47]],
  [Opcode.TextResponse]: [[2, 3], [36, 47]],
  [Opcode.DataIn]: [[2, 2]],
  [Opcode.LogoutResponse]: [[3, 3], [8, 15], [20, 23], [36, 39], [44, 47]],
  [Opcode.R2T]: [[2, 3]],
  [Opcode.AsyncMessage]: [[2, 3], [16, 23], [44, 47]],
  [Opcode.Reject]: [[3, 3], [8, 23], [40, 47]],
};

function expectRefusal(f: Frame, pattern: RegExp): void {
  let caught: unknown;
  try {
    decodePdu(f);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(RemoteProtocolError);
  expect((caught as Error).message).toMatch(pattern);
}

describe("decodePdu", () => {
  it("reads the fields of the RFC 3720 Appendix B.4 read command PDU", () => {
    const bytes = hexBytes(`
      01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
      14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
      28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00`);
    const pdu = decodePdu(frame(bytes)) as ScsiCommandPdu;
    expect(pdu.opcode).toBe(Opcode.ScsiCommand);
    expect([pdu.immediate, pdu.final, pdu.read, pdu.write, pdu.attribute]).toEqual([false, true, true, false, 0]);
    expect(pdu.initiatorTaskTag).toBe(0x14000000);
    expect(pdu.expectedDataTransferLength).toBe(1024);
    expect(pdu.cmdSN).toBe(0x14);
    expect(pdu.expStatSN).toBe(0x18);
    expect(pdu.cdb[0]).toBe(0x28);
    expect(pdu.cdb[8]).toBe(0x02); // READ(10) transfer length 2 blocks
  });

  it("hands out the data segment and a 16-byte CDB as views, not copies", () => {
    const data = new Uint8Array([1, 2, 3]);
    const f = frame(bhsOf(command), undefined, data);
    const pdu = decodePdu(f) as ScsiCommandPdu;
    expect(pdu.data).toBe(data);
    expect(pdu.cdb.buffer).toBe(f.bhs.buffer);
  });

  it("joins an extended CDB to the 16 bytes of the BHS", () => {
    const bhs = bhsOf({ ...command, cdb: Uint8Array.from({ length: 16 }, (_, i) => i) });
    const ahs = Uint8Array.from(ahsEntry(1, 4, [0, 16, 17, 18]));
    const pdu = decodePdu(frame(bhs, ahs)) as ScsiCommandPdu;
    expect([...pdu.cdb]).toEqual(Array.from({ length: 19 }, (_, i) => i));
    expect(pdu.bidiReadDataLength).toBeUndefined();
  });

  it("reads a Bidirectional Read AHS placed before the Extended CDB AHS", () => {
    const ahs = Uint8Array.from([...ahsEntry(2, 5, [0, 0, 1, 0, 0]), ...ahsEntry(1, 2, [0, 0xaa])]);
    const pdu = decodePdu(frame(bhsOf(command), ahs)) as ScsiCommandPdu;
    expect(pdu.bidiReadDataLength).toBe(0x10000);
    expect(pdu.cdb).toHaveLength(17);
    expect(pdu.cdb[16]).toBe(0xaa);
  });

  it("skips non-iSCSI extension AHS types 60 to 63", () => {
    const ahs = Uint8Array.from([...ahsEntry(60, 6, [1, 2, 3, 4, 5, 6]), ...ahsEntry(63, 1, [9])]);
    const pdu = decodePdu(frame(bhsOf(command), ahs)) as ScsiCommandPdu;
    expect(pdu.cdb).toHaveLength(16);
    expect("bidiReadDataLength" in pdu).toBe(false);
  });

  it("ignores byte 0 bit 7 and every byte the RFC marks reserved for the opcode", () => {
    fc.assert(
      fc.property(arbPdu, fc.uint8Array({ minLength: 48, maxLength: 48 }), (pdu, junk) => {
        const data = dataSegmentOf(pdu);
        const clean = decodePdu(frame(bhsOf(pdu), undefined, data));
        const dirty = bhsOf(pdu, (b) => {
          b[0] = b[0]! | 0x80;
          for (const [from, to] of RESERVED_BYTES[pdu.opcode]!) for (let i = from; i <= to; i++) b[i] = junk[i]!;
        });
        expect(decodePdu(frame(dirty, undefined, data))).toStrictEqual(clean);
      }),
    );
  });

  it("throws LocalProtocolError for a frame whose parts disagree with its header", () => {
    const f = frame(bhsOf(dataIn), undefined, new Uint8Array(4));
    expect(() => decodePdu({ ...f, data: new Uint8Array(3) })).toThrow(LocalProtocolError);
  });
});

describe("decodePdu refuses a peer's malformed PDU", () => {
  it("names an unknown opcode", () => {
    expectRefusal(frame(bhsOf(command, (b) => (b[0] = 0x07))), /unknown opcode 0x07/);
    expectRefusal(frame(bhsOf(command, (b) => (b[0] = 0x3e))), /unknown opcode 0x3e/);
  });

  it("refuses an AHS on an opcode that carries none", () => {
    expectRefusal(frame(bhsOf(dataIn), Uint8Array.from(ahsEntry(2, 5, [0, 0, 0, 0, 1]))), /DataIn .*TotalAHSLength 2/);
  });

  it("refuses an AHS whose AHSLength runs past TotalAHSLength", () => {
    const ahs = Uint8Array.from(ahsEntry(1, 4, [0, 1, 2, 3]));
    writeU16(ahs, 0, 9);
    expectRefusal(frame(bhsOf(command), ahs), /malformed AHS at offset 0: type 1 AHSLength 9 runs past/);
  });

  it("refuses reserved AHS types", () => {
    expectRefusal(frame(bhsOf(command), Uint8Array.from(ahsEntry(0, 1))), /AHSType 0 is reserved/);
    expectRefusal(frame(bhsOf(command), Uint8Array.from(ahsEntry(3, 1))), /AHSType 3 is reserved/);
  });

  it("refuses a repeated AHS type and a Bidirectional Read AHS of the wrong length", () => {
    const twice = Uint8Array.from([...ahsEntry(1, 2, [0, 1]), ...ahsEntry(1, 2, [0, 2])]);
    expectRefusal(frame(bhsOf(command), twice), /offset 8: a second Extended CDB AHS/);
    expectRefusal(frame(bhsOf(command), Uint8Array.from(ahsEntry(2, 4, [0, 1, 2, 3]))), /AHSLength 4 \(must be 5\)/);
    expectRefusal(frame(bhsOf(command), Uint8Array.from(ahsEntry(1, 0))), /Extended CDB AHSLength 0/);
  });

  it("refuses a SenseLength that runs past the data segment", () => {
    const response = bhsOf(scsiResponse({ status: 2, initiatorTaskTag: 7 }));
    expectRefusal(frame(response, undefined, Uint8Array.from([0, 20, 0x70, 0, 5])), /SenseLength 20 runs past the data segment \(DataSegmentLength 5\)/);
    expectRefusal(frame(response, undefined, Uint8Array.from([0])), /DataSegmentLength 1 is too short for SenseLength/);
  });

  it("refuses a data segment on an opcode that has none", () => {
    const r2t = bhsOf({
      opcode: Opcode.R2T,
      lun: 0,
      initiatorTaskTag: 1,
      targetTransferTag: 2,
      statSN: 0,
      expCmdSN: 0,
      maxCmdSN: 0,
      r2tSN: 0,
      bufferOffset: 0,
      desiredDataTransferLength: 4096,
    });
    expectRefusal(frame(r2t, undefined, new Uint8Array(4)), /R2T .*DataSegmentLength 4 on an opcode that carries no data segment/);
  });

  it("refuses reserved task attributes, TMF functions, logout reasons and SNACK types", () => {
    expectRefusal(frame(bhsOf(command, (b) => (b[1] = 0xc5))), /ATTR 5 is a reserved task attribute/);
    const tmf = bhsOf({
      opcode: Opcode.TaskManagementRequest,
      immediate: true,
      function: 1,
      lun: 0,
      initiatorTaskTag: 3,
      referencedTaskTag: 2,
      cmdSN: 0,
      expStatSN: 0,
      refCmdSN: 0,
      expDataSN: 0,
    });
    expectRefusal(frame(tmf.map((v, i) => (i === 1 ? 0x80 : v))), /Function 0 is not a defined/);
    expectRefusal(frame(tmf.map((v, i) => (i === 1 ? 0x89 : v))), /Function 9 is not a defined/);
    const logout = bhsOf({
      opcode: Opcode.LogoutRequest,
      immediate: true,
      reason: 0,
      initiatorTaskTag: 3,
      cid: 0,
      cmdSN: 0,
      expStatSN: 0,
    });
    expectRefusal(frame(logout.map((v, i) => (i === 1 ? 0x83 : v))), /ReasonCode 3 is reserved/);
    const snack = bhsOf({
      opcode: Opcode.SnackRequest,
      type: 0,
      lun: 0,
      initiatorTaskTag: 3,
      targetTransferTag: 0xffff_ffff,
      expStatSN: 0,
      begRun: 0,
      runLength: 0,
    });
    expectRefusal(frame(snack.map((v, i) => (i === 1 ? 0x84 : v))), /Type 4 is a reserved SNACK type/);
  });

  it("refuses login stage 2 in CSG, and in NSG when T is set, but reads a reserved NSG 2 as 0 when T is clear", () => {
    expectRefusal(frame(bhsOf(loginResponse, (b) => (b[1] = 0x80 | (2 << 2) | 3))), /CSG 2 is a reserved login stage/);
    expectRefusal(frame(bhsOf(loginResponse, (b) => (b[1] = 0x80 | (1 << 2) | 2))), /NSG 2 is a reserved login stage/);
    const pdu = decodePdu(frame(bhsOf(loginResponse, (b) => (b[1] = (1 << 2) | 2)))) as LoginResponsePdu;
    expect([pdu.transit, pdu.currentStage, pdu.nextStage]).toEqual([false, 1, 0]);
  });

  it("refuses T and C together on a Login Response, and F and C together on a Text Response", () => {
    expectRefusal(frame(bhsOf(loginResponse, (b) => (b[1] = 0xc0 | (1 << 2) | 3))), /T and C bits are both set/);
    const text = bhsOf({
      opcode: Opcode.TextResponse,
      final: true,
      continue: false,
      lun: 0,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffff_ffff,
      statSN: 0,
      expCmdSN: 0,
      maxCmdSN: 0,
      data: new Uint8Array(0),
    });
    expectRefusal(frame(text.map((v, i) => (i === 1 ? 0xc0 : v))), /F and C bits are both set/);
  });

  it("refuses a Data-In with the S bit but not the F bit", () => {
    expectRefusal(frame(bhsOf(dataIn, (b) => (b[1] = 0x01))), /DataIn \(0x25, ITT 0x00000042\): the S bit is set without the F bit/);
  });

  it("reads the ISID as 48 bits and the TSIH as 16", () => {
    const bhs = bhsOf(loginResponse, (b) => {
      b.set([0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x12, 0x34], 8);
      writeU32(b, 16, 0xdeadbeef);
    });
    const pdu = decodePdu(frame(bhs)) as LoginResponsePdu;
    expect(pdu.isid).toBe(0xffeeddccbbaa);
    expect(pdu.tsih).toBe(0x1234);
    expect(pdu.initiatorTaskTag).toBe(0xdeadbeef);
  });
});

function dataSegmentOf(pdu: Pdu): Uint8Array {
  const bytes = encodeToBytes(pdu);
  const length = (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!;
  const ahs = bytes[4]! * 4;
  return bytes.subarray(48 + ahs, 48 + ahs + length);
}
