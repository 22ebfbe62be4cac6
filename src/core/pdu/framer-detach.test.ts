import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c } from "../digest/crc32c.js";
import { arbPdu } from "./arbitraries.test-util.js";
import { decodePdu } from "./decode.js";
import { Framer } from "./framer.js";
import { concatBytes, DIGEST_COMBINATIONS, encodeToBytes, framerSettings, splitAt } from "./frames.test-util.js";
import type { Pdu } from "./types.js";

/**
 * A host with one fixed read buffer: each chunk is copied into the same memory, pushed, drained,
 * detached, and then the memory is scribbled over before the next read.
 */
function framesThroughOneBuffer(bytes: Uint8Array, cuts: number[], digests: (typeof DIGEST_COMBINATIONS)[number], place: boolean): Pdu[] {
  const buffer = new Uint8Array(Math.max(1, bytes.length));
  const placed: Uint8Array[] = [];
  const framer = new Framer(framerSettings(digests), crc32c, place ? (_b, _a, length) => {
    const dest = new Uint8Array(length);
    placed.push(dest);
    return dest;
  } : undefined);
  const out: Pdu[] = [];
  for (const piece of splitAt(bytes, cuts)) {
    const view = buffer.subarray(0, piece.length);
    view.set(piece);
    framer.push(view);
    for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
      // The caller takes what it keeps before the next read, as the session does.
      out.push(structuredClone(decodePdu(frame)));
    }
    framer.detach();
    buffer.fill(0xa5);
  }
  return out;
}

describe("Framer.detach (a host that reuses one socket read buffer)", () => {
  it("yields the same PDUs as fresh chunks for every way of cutting the stream", () => {
    fc.assert(
      fc.property(
        fc.array(arbPdu, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom(...DIGEST_COMBINATIONS),
        fc.boolean(),
        (pdus, rawCuts, digests, place) => {
          const bytes = concatBytes(pdus.map((p) => encodeToBytes(p, digests)));
          const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
          const expected = pdus.map((p) => structuredClone(decodePdu(framesOf1(p, digests))));
          expect(framesThroughOneBuffer(bytes, cuts, digests, place)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps a header and a partial data segment alive across a detach", () => {
    const pdu: Pdu = {
      opcode: 0x25,
      final: true,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      hasStatus: true,
      status: 0,
      lun: 1,
      initiatorTaskTag: 7,
      targetTransferTag: 0xffffffff,
      statSN: 3,
      expCmdSN: 4,
      maxCmdSN: 9,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      data: Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff),
    };
    const digests = DIGEST_COMBINATIONS[3]!;
    const bytes = encodeToBytes(pdu, digests);
    for (const cut of [10, 48, 52, 300, 1049, bytes.length - 2]) {
      const [out] = framesThroughOneBuffer(bytes, [cut], digests, false);
      expect(out).toEqual(structuredClone(pdu));
    }
  });
});

function framesOf1(pdu: Pdu, digests: (typeof DIGEST_COMBINATIONS)[number]) {
  const framer = new Framer(framerSettings(digests), crc32c);
  framer.push(encodeToBytes(pdu, digests));
  const frame = framer.next();
  if (frame === undefined) throw new Error("test: no frame");
  return frame;
}

describe("Framer.directRoom (reads straight into the caller's buffer)", () => {
  it("assembles every PDU and places data exactly when the host reads the payload rest directly", () => {
    fc.assert(
      fc.property(
        fc.array(arbPdu, { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom(...DIGEST_COMBINATIONS),
        (pdus, readSizes, digests) => {
          const bytes = concatBytes(pdus.map((p) => encodeToBytes(p, digests)));
          const placed: Uint8Array[] = [];
          const framer = new Framer(framerSettings(digests), crc32c, (_b, _a, length) => {
            const dest = new Uint8Array(length);
            placed.push(dest);
            return dest;
          });
          const scratch = new Uint8Array(1024);
          const out: Pdu[] = [];
          let at = 0;
          let r = 0;
          while (at < bytes.length) {
            const want = readSizes[r++ % readSizes.length] as number;
            const room = framer.directRoom();
            if (room !== undefined) {
              // The "kernel" writes into the caller's buffer.
              const n = Math.min(want, room.length, bytes.length - at);
              room.set(bytes.subarray(at, at + n));
              at += n;
              framer.filledDirectly(n);
            } else {
              const n = Math.min(want, scratch.length, bytes.length - at);
              scratch.set(bytes.subarray(at, at + n));
              at += n;
              framer.push(scratch.subarray(0, n));
            }
            for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
              expect(frame.dataDigestError).toBe(false);
              out.push(structuredClone(decodePdu(frame)));
            }
            framer.detach();
            scratch.fill(0x5a);
          }
          expect(out).toEqual(pdus.map((p) => structuredClone(decodePdu(framesOf1(p, digests)))));
          expect(framer.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("offers no room while bytes are queued or when the segment is not placed", () => {
    const framer = new Framer(framerSettings(DIGEST_COMBINATIONS[0]!), crc32c);
    expect(framer.directRoom()).toBeUndefined();
    expect(() => framer.filledDirectly(1)).toThrow(/without a matching directRoom/);
  });
});
