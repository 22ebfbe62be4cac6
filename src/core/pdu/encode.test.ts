import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c } from "../digest/crc32c.js";
import { LocalProtocolError } from "../errors.js";
import { arbPdu, arbScsiCommand, pduArbitraries } from "./arbitraries.test-util.js";
import { encodePdu, encodedLength, writeBhs } from "./encode.js";
import {
  DIGEST_COMBINATIONS,
  NO_DIGESTS,
  concatBytes,
  describeDigests,
  encodeToBytes,
  hexBytes,
  roundTrip,
  scsiResponse,
} from "./frames.test-util.js";
import { Opcode } from "./opcodes.js";
import type { DataInPdu, LoginRequestPdu, Pdu, ScsiCommandPdu } from "./types.js";

const read10: ScsiCommandPdu = {
  opcode: Opcode.ScsiCommand,
  immediate: false,
  final: true,
  read: true,
  write: false,
  attribute: 1,
  lun: 1,
  initiatorTaskTag: 0x12345678,
  expectedDataTransferLength: 4096,
  cmdSN: 7,
  expStatSN: 3,
  cdb: hexBytes("28 00 00 00 10 00 00 00 08 00"),
  data: new Uint8Array(0),
};

function bytesOf(pdu: Pdu): number[] {
  return [...encodeToBytes(pdu)];
}

describe("encodePdu round trip", () => {
  for (const digests of DIGEST_COMBINATIONS) {
    it(`decodes every PDU type back to what was encoded (${describeDigests(digests)})`, () => {
      fc.assert(
        fc.property(arbPdu, (pdu) => {
          expect(roundTrip(pdu, digests)).toStrictEqual(pdu);
        }),
        { numRuns: 400 },
      );
    });
  }

  it("round-trips SCSI Commands with CDBs longer than 16 bytes through the Extended CDB AHS", () => {
    fc.assert(
      fc.property(arbScsiCommand.filter((p) => p.cdb.length > 16), (pdu) => {
        const bytes = encodeToBytes(pdu);
        expect(bytes[4]).toBeGreaterThan(0);
        expect(roundTrip(pdu)).toStrictEqual(pdu);
      }),
    );
  });

  it("round-trips a SCSI Command carrying both an extended CDB and a bidirectional read length", () => {
    const pdu: ScsiCommandPdu = {
      ...read10,
      read: true,
      write: true,
      cdb: Uint8Array.from({ length: 32 }, (_, i) => i + 1),
      bidiReadDataLength: 0x10000,
      data: Uint8Array.from({ length: 13 }, (_, i) => 0xa0 + i),
    };
    for (const digests of DIGEST_COMBINATIONS) expect(roundTrip(pdu, digests)).toStrictEqual(pdu);
  });

  it("round-trips data segments of every length modulo 4, including empty", () => {
    const { dataIn } = pduArbitraries({ maxDataLength: 9 });
    fc.assert(
      fc.property(dataIn, fc.constantFrom(...DIGEST_COMBINATIONS), (pdu, digests) => {
        expect(roundTrip(pdu, digests)).toStrictEqual(pdu);
      }),
    );
  });

  it("reports the exact byte count it produces", () => {
    fc.assert(
      fc.property(arbPdu, fc.constantFrom(...DIGEST_COMBINATIONS), (pdu, digests) => {
        expect(encodedLength(pdu, digests)).toBe(concatBytes(encodePdu(pdu, digests)).length);
      }),
    );
  });
});

describe("encodePdu pieces", () => {
  it("returns the header alone for a PDU without data", () => {
    const pieces = encodePdu(read10, DIGEST_COMBINATIONS[3]!);
    expect(pieces).toHaveLength(1);
    expect(pieces[0]).toHaveLength(52);
  });

  it("hands back the caller's data segment itself, not a copy", () => {
    const data = new Uint8Array(4096).fill(7);
    const pieces = encodePdu({ ...read10, write: true, read: false, data }, NO_DIGESTS);
    expect(pieces).toHaveLength(2);
    expect(pieces[1]).toBe(data);
  });

  it("pads a 5-byte data segment with 3 zero bytes and follows them with the data digest", () => {
    const data = new Uint8Array([1, 2, 3, 4, 5]);
    const pieces = encodePdu({ ...read10, data }, { headerDigest: false, dataDigest: true, crc32c });
    expect(pieces).toHaveLength(3);
    const trailer = pieces[2]!;
    expect([...trailer.subarray(0, 3)]).toEqual([0, 0, 0]);
    // RFC 7143 §13.1: the digest covers data and padding, and goes least significant byte first.
    const expected = crc32c(new Uint8Array([1, 2, 3, 4, 5, 0, 0, 0]));
    const received = trailer[3]! | (trailer[4]! << 8) | (trailer[5]! << 16) | (trailer[6]! << 24);
    expect(received >>> 0).toBe(expected);
  });

  it("writes the header digest over BHS and AHS, least significant byte first", () => {
    const pdu: ScsiCommandPdu = { ...read10, cdb: new Uint8Array(20).fill(0x11) };
    const [header] = encodePdu(pdu, { headerDigest: true, dataDigest: false, crc32c });
    // 48 BHS + 8 AHS (4 + 4 extra CDB bytes) + 4 digest.
    expect(header).toHaveLength(60);
    const crc = crc32c(header!.subarray(0, 56));
    expect([...header!.subarray(56)]).toEqual([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24]);
  });

  it("sends neither padding nor data digest when the data segment is empty", () => {
    const pieces = encodePdu({ ...read10 }, { headerDigest: false, dataDigest: true, crc32c });
    expect(pieces).toHaveLength(1);
    expect(pieces[0]).toHaveLength(48);
  });
});

describe("hand-checked byte layouts (RFC 7143 §11)", () => {
  it("lays out a READ(10) SCSI Command BHS byte by byte", () => {
    expect(bytesOf(read10)).toEqual([
      0x01, 0xc1, 0x00, 0x00, // opcode; F|R, ATTR Simple; reserved
      0x00, 0x00, 0x00, 0x00, // TotalAHSLength; DataSegmentLength
      0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // LUN 1, peripheral addressing
      0x12, 0x34, 0x56, 0x78, // ITT
      0x00, 0x00, 0x10, 0x00, // Expected Data Transfer Length 4096
      0x00, 0x00, 0x00, 0x07, // CmdSN
      0x00, 0x00, 0x00, 0x03, // ExpStatSN
      0x28, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // CDB, zero-padded
    ]);
  });

  it("sets the I bit on an immediate SCSI Command and the W bit on a write", () => {
    const bytes = bytesOf({ ...read10, immediate: true, read: false, write: true, attribute: 2 });
    expect(bytes[0]).toBe(0x41);
    expect(bytes[1]).toBe(0x80 | 0x20 | 0x02);
  });

  it("reproduces the iSCSI read command PDU of RFC 3720 Appendix B.4 from its fields", () => {
    const pdu: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attribute: 0,
      lun: 0,
      initiatorTaskTag: 0x14000000,
      expectedDataTransferLength: 0x400,
      cmdSN: 0x14,
      expStatSN: 0x18,
      cdb: hexBytes("28 00 00 00 00 00 00 00 02 00"),
      data: new Uint8Array(0),
    };
    const [header] = encodePdu(pdu, { headerDigest: true, dataDigest: false, crc32c });
    expect(header).toEqual(
      hexBytes(`
        01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
        14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
        28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00
        56 3a 96 d9`),
    );
  });

  it("places a Login Request's ISID, TSIH, CID and stage bits where RFC 7143 §11.12 puts them", () => {
    const login: LoginRequestPdu = {
      opcode: Opcode.LoginRequest,
      transit: true,
      continue: false,
      currentStage: 1,
      nextStage: 3,
      versionMax: 0,
      versionMin: 0,
      isid: 0x80_12_34_56_78_9a,
      tsih: 0xbeef,
      initiatorTaskTag: 1,
      cid: 0x0102,
      cmdSN: 0x11223344,
      expStatSN: 0x55667788,
      data: new Uint8Array(0),
    };
    const b = bytesOf(login);
    expect(b[0]).toBe(0x43); // I bit always set on Login Request
    expect(b[1]).toBe(0x80 | (1 << 2) | 3); // T, CSG 1, NSG 3
    expect(b.slice(8, 14)).toEqual([0x80, 0x12, 0x34, 0x56, 0x78, 0x9a]);
    expect(b.slice(14, 16)).toEqual([0xbe, 0xef]);
    expect(b.slice(16, 20)).toEqual([0, 0, 0, 1]);
    expect(b.slice(20, 22)).toEqual([0x01, 0x02]);
    expect(b.slice(22, 24)).toEqual([0, 0]);
    expect(b.slice(24, 28)).toEqual([0x11, 0x22, 0x33, 0x44]);
    expect(b.slice(28, 32)).toEqual([0x55, 0x66, 0x77, 0x88]);
    expect(b.slice(32, 48)).toEqual(new Array(16).fill(0));
  });

  it("lays out a final Data-In with the S bit, status and residual count", () => {
    const dataIn: DataInPdu = {
      opcode: Opcode.DataIn,
      final: true,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: true,
      hasStatus: true,
      status: 0x00,
      lun: 300,
      initiatorTaskTag: 0xa,
      targetTransferTag: 0xffff_ffff,
      statSN: 0x101,
      expCmdSN: 0x202,
      maxCmdSN: 0x303,
      dataSN: 2,
      bufferOffset: 0x2000,
      residualCount: 0x200,
      data: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]),
    };
    const b = bytesOf(dataIn);
    expect(b).toHaveLength(48 + 8);
    expect(b.slice(0, 8)).toEqual([0x25, 0x80 | 0x02 | 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06]);
    expect(b.slice(8, 16)).toEqual([0x41, 0x2c, 0, 0, 0, 0, 0, 0]); // LUN 300, flat addressing
    expect(b.slice(16, 24)).toEqual([0, 0, 0, 0x0a, 0xff, 0xff, 0xff, 0xff]);
    expect(b.slice(24, 36)).toEqual([0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 3, 3]);
    expect(b.slice(36, 48)).toEqual([0, 0, 0, 2, 0, 0, 0x20, 0, 0, 0, 2, 0]);
    expect(b.slice(48)).toEqual([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0, 0]);
  });

  it("writes a SCSI Response data segment as SenseLength, sense data, response data", () => {
    const response = scsiResponse({
      residualOverflow: true,
      status: 0x02,
      initiatorTaskTag: 5,
      statSN: 1,
      expCmdSN: 2,
      maxCmdSN: 3,
      sense: new Uint8Array([0x70, 0, 0x05]),
      responseData: new Uint8Array([0xaa]),
    });
    const b = bytesOf(response);
    expect(b.slice(0, 4)).toEqual([0x21, 0x80 | 0x04, 0x00, 0x02]);
    expect(b.slice(5, 8)).toEqual([0, 0, 6]);
    expect(b.slice(48)).toEqual([0, 3, 0x70, 0, 0x05, 0xaa, 0, 0]);
  });

  it("writes the Extended CDB AHS with AHSLength CDBLength - 15, type 1, and padding", () => {
    const cdb = Uint8Array.from({ length: 18 }, (_, i) => 0x40 + i);
    const b = bytesOf({ ...read10, cdb });
    expect(b[4]).toBe(2); // 8 bytes of AHS
    expect(b.slice(48, 56)).toEqual([0x00, 0x03, 0x01, 0x00, 0x50, 0x51, 0x00, 0x00]);
  });

  it("writes the Bidirectional Read AHS as AHSLength 5, type 2, then the length", () => {
    const b = bytesOf({ ...read10, write: true, bidiReadDataLength: 0x01020304 });
    expect(b[4]).toBe(2);
    expect(b.slice(48, 56)).toEqual([0x00, 0x05, 0x02, 0x00, 0x01, 0x02, 0x03, 0x04]);
  });
});

describe("writeBhs", () => {
  it("writes the same 48 bytes encodePdu puts first, over stale bytes, at an offset", () => {
    fc.assert(
      fc.property(arbPdu, (pdu) => {
        const target = new Uint8Array(100).fill(0xee);
        writeBhs(pdu, target, 30);
        const [header] = encodePdu(pdu, NO_DIGESTS);
        expect(target.subarray(30, 78)).toEqual(header!.subarray(0, 48));
        expect(target[29]).toBe(0xee);
        expect(target[78]).toBe(0xee);
      }),
    );
  });

  it("refuses a target with no room for 48 bytes", () => {
    expect(() => writeBhs(read10, new Uint8Array(60), 20)).toThrow(LocalProtocolError);
  });
});

const finalDataIn: DataInPdu = {
  opcode: Opcode.DataIn,
  final: true,
  acknowledge: false,
  residualOverflow: false,
  residualUnderflow: false,
  hasStatus: true,
  status: 0,
  lun: 0,
  initiatorTaskTag: 1,
  targetTransferTag: 0xffff_ffff,
  statSN: 1,
  expCmdSN: 1,
  maxCmdSN: 1,
  dataSN: 0,
  bufferOffset: 0,
  residualCount: 0,
  data: new Uint8Array(0),
};

describe("encodePdu refuses what it must not send", () => {
  const cases: [string, Pdu][] = [
    ["a CmdSN that is not an unsigned 32-bit integer", { ...read10, cmdSN: -1 }],
    ["a fractional ITT", { ...read10, initiatorTaskTag: 1.5 }],
    ["an ITT of 2^32", { ...read10, initiatorTaskTag: 2 ** 32 }],
    ["a LUN past 16383", { ...read10, lun: 16384 }],
    ["a reserved task attribute", { ...read10, attribute: 5 as 0 }],
    ["a CDB too long for the AHS", { ...read10, cdb: new Uint8Array(1100) }],
    ["a Data-In with the S bit but not the F bit", { ...finalDataIn, final: false }],
    ["a Data-In status that does not fit a byte", { ...finalDataIn, status: 256 }],
  ];
  for (const [what, pdu] of cases) {
    it(`refuses ${what}`, () => {
      expect(() => encodePdu(pdu, NO_DIGESTS)).toThrow(LocalProtocolError);
    });
  }

  it("refuses a Login Request with both T and C set, and a login stage of 2", () => {
    const login = roundTrip({
      opcode: Opcode.LoginRequest,
      transit: false,
      continue: false,
      currentStage: 0,
      nextStage: 1,
      versionMax: 0,
      versionMin: 0,
      isid: 1,
      tsih: 0,
      initiatorTaskTag: 0,
      cid: 0,
      cmdSN: 0,
      expStatSN: 0,
      data: new Uint8Array(0),
    }) as LoginRequestPdu;
    expect(() => encodePdu({ ...login, transit: true, continue: true }, NO_DIGESTS)).toThrow(/T and C/);
    expect(() => encodePdu({ ...login, nextStage: 2 as 1 }, NO_DIGESTS)).toThrow(/NSG 2/);
    expect(() => encodePdu({ ...login, isid: 2 ** 48 }, NO_DIGESTS)).toThrow(/ISID/);
  });

  it("refuses a data segment longer than the 24-bit DataSegmentLength field", () => {
    const data = new Uint8Array(0x100_0000);
    expect(() => encodePdu({ ...read10, data }, NO_DIGESTS)).toThrow(/DataSegmentLength 16777216/);
  });

  it("accepts a decoded PDU back unchanged (encode of decode is the identity on bytes)", () => {
    fc.assert(
      fc.property(arbPdu, fc.constantFrom(...DIGEST_COMBINATIONS), (pdu, digests) => {
        const bytes = encodeToBytes(pdu, digests);
        expect(encodeToBytes(roundTrip(pdu, digests), digests)).toEqual(bytes);
      }),
    );
  });
});
