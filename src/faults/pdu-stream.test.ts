import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c } from "../core/digest/crc32c.js";
import { arbPdu } from "../core/pdu/arbitraries.test-util.js";
import { encodedLength } from "../core/pdu/encode.js";
import { concatBytes, encodeToBytes, splitAt } from "../core/pdu/frames.test-util.js";
import { Opcode } from "../core/pdu/opcodes.js";
import type { Pdu } from "../core/pdu/types.js";
import { type DigestPresence, type PduPiece, PduStream } from "./pdu-stream.js";

function piecesOf(chunks: readonly Uint8Array[], digests: DigestPresence): PduPiece[] {
  const stream = new PduStream(() => digests);
  const pieces: PduPiece[] = [];
  for (const chunk of chunks) stream.push(chunk, (piece) => pieces.push(piece));
  return pieces;
}

const arbDigests = fc.record({ header: fc.boolean(), data: fc.boolean() });

describe("PduStream", () => {
  it("passes every byte through once, in order, cut at PDU boundaries, for any PDUs and any chunking", () => {
    fc.assert(
      fc.property(fc.array(arbPdu, { minLength: 1, maxLength: 8 }), arbDigests, fc.array(fc.nat(), { maxLength: 12 }), (pdus, digests, cuts) => {
        const settings = { headerDigest: digests.header, dataDigest: digests.data, crc32c };
        const wire = concatBytes(pdus.map((p) => encodeToBytes(p, settings)));
        const pieces = piecesOf(splitAt(wire, cuts), digests);
        expect(concatBytes(pieces.map((p) => p.bytes))).toEqual(wire);
        // Regroup the pieces by PDU and compare each with its PDU's encoding.
        let index = -1;
        let at = 0;
        for (const piece of pieces) {
          if (piece.header) {
            index++;
            expect(piece.offset).toBe(0);
          }
          const pdu = pdus[index] as Pdu;
          expect(piece.pdu.index).toBe(index);
          expect(piece.pdu.opcode).toBe(pdu.opcode);
          expect(piece.pdu.totalLength).toBe(encodedLength(pdu, settings));
          expect(piece.offset).toBe(at - offsetOf(pdus, index, settings));
          at += piece.bytes.length;
          expect(piece.end).toBe(at === offsetOf(pdus, index + 1, settings));
        }
        expect(index).toBe(pdus.length - 1);
      }),
      { numRuns: 300 },
    );
  });

  it("reports the fields fault rules match on", () => {
    const command: Pdu = {
      opcode: Opcode.ScsiCommand,
      immediate: true,
      final: true,
      read: true,
      write: false,
      attribute: 1,
      lun: 1,
      initiatorTaskTag: 0x1234_5678,
      expectedDataTransferLength: 4096,
      cmdSN: 7,
      expStatSN: 9,
      cdb: Uint8Array.of(0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0),
      data: new Uint8Array(0),
    };
    const tmf: Pdu = {
      opcode: Opcode.TaskManagementRequest,
      immediate: true,
      function: 5,
      lun: 1,
      initiatorTaskTag: 3,
      referencedTaskTag: 0xffff_ffff,
      cmdSN: 8,
      expStatSN: 9,
      refCmdSN: 0,
      expDataSN: 0,
    };
    const digests = { header: true, data: false };
    const settings = { headerDigest: true, dataDigest: false, crc32c };
    const pieces = piecesOf([concatBytes([encodeToBytes(command, settings), encodeToBytes(tmf, settings)])], digests);
    expect(pieces.map((p) => [p.pdu.opcode, p.pdu.scsiOpcode, p.pdu.tmfFunction, p.pdu.initiatorTaskTag, p.pdu.immediate, p.pdu.headerLength])).toEqual([
      [Opcode.ScsiCommand, 0x28, undefined, 0x1234_5678, true, 52],
      [Opcode.TaskManagementRequest, undefined, 5, 3, true, 52],
    ]);
  });

  it("asks for the digest setting at each PDU, so a change between two PDUs of one chunk applies to the second", () => {
    const nop = (itt: number): Pdu => ({
      opcode: Opcode.NopOut,
      immediate: true,
      lun: 0,
      initiatorTaskTag: itt,
      targetTransferTag: 0xffff_ffff,
      cmdSN: 1,
      expStatSN: 1,
      data: Uint8Array.of(1, 2, 3),
    });
    let digests: DigestPresence = { header: false, data: false };
    const wire = concatBytes([
      encodeToBytes(nop(1), { headerDigest: false, dataDigest: false, crc32c }),
      encodeToBytes(nop(2), { headerDigest: true, dataDigest: true, crc32c }),
    ]);
    const stream = new PduStream(() => digests);
    const ends: number[] = [];
    let at = 0;
    stream.push(wire, (piece) => {
      at += piece.bytes.length;
      if (piece.end) {
        ends.push(at);
        digests = { header: true, data: true };
      }
    });
    expect(ends).toEqual([48 + 4, 48 + 4 + 48 + 4 + 4 + 4]);
    expect(stream.atBoundary).toBe(true);
  });

  it("holds a partial header without reporting it, whatever its claimed lengths", () => {
    const bhs = new Uint8Array(48);
    bhs[4] = 0xff; // TotalAHSLength: 1020 bytes of AHS to come
    bhs[5] = 0xff; // DataSegmentLength 16 MiB - 1
    bhs[6] = 0xff;
    bhs[7] = 0xff;
    const pieces = piecesOf([bhs, new Uint8Array(1000)], { header: false, data: false });
    expect(pieces).toEqual([]);
    const more = piecesOf([bhs, new Uint8Array(1020), new Uint8Array(10)], { header: false, data: false });
    expect(more.map((p) => [p.header, p.bytes.length, p.end])).toEqual([
      [true, 48 + 1020, false],
      [false, 10, false],
    ]);
    expect(more[0]?.pdu.totalLength).toBe(48 + 1020 + 0xff_ffff + 1);
  });
});

function offsetOf(pdus: readonly Pdu[], index: number, settings: Parameters<typeof encodedLength>[1]): number {
  let at = 0;
  for (let i = 0; i < index; i++) at += encodedLength(pdus[i] as Pdu, settings);
  return at;
}
