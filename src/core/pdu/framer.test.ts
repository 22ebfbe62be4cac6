import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c } from "../digest/crc32c.js";
import { DigestError, LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { arbPdu, pduArbitraries } from "./arbitraries.test-util.js";
import { decodePdu } from "./decode.js";
import { Framer, type DataPlacement, type Frame } from "./framer.js";
import {
  DIGEST_COMBINATIONS,
  concatBytes,
  describeDigests,
  encodeToBytes,
  framerSettings,
  framesOf,
  splitAt,
} from "./frames.test-util.js";
import { Opcode } from "./opcodes.js";
import type { DataInPdu, NopInPdu, Pdu } from "./types.js";

const dataIn = (data: Uint8Array, itt = 1): DataInPdu => ({
  opcode: Opcode.DataIn,
  final: true,
  acknowledge: false,
  residualOverflow: false,
  residualUnderflow: false,
  hasStatus: false,
  status: 0,
  lun: 0,
  initiatorTaskTag: itt,
  targetTransferTag: 0xffff_ffff,
  statSN: 0,
  expCmdSN: 1,
  maxCmdSN: 1,
  dataSN: 0,
  bufferOffset: 0,
  residualCount: 0,
  data,
});

const nopIn: NopInPdu = {
  opcode: Opcode.NopIn,
  lun: 0,
  initiatorTaskTag: 0xffff_ffff,
  targetTransferTag: 7,
  statSN: 1,
  expCmdSN: 2,
  maxCmdSN: 3,
  data: new Uint8Array(0),
};

const NO_DIGEST_SETTINGS = framerSettings({ headerDigest: false, dataDigest: false });
const BOTH_DIGEST_SETTINGS = framerSettings({ headerDigest: true, dataDigest: true });
const BOTH_DIGESTS = DIGEST_COMBINATIONS[3]!;

/** A placement hook that hands out consecutive slices of one big buffer and remembers them. */
function slicingPlacement(capacity: number): { hook: DataPlacement; given: Uint8Array[]; calls: number[] } {
  const backing = new Uint8Array(capacity);
  const given: Uint8Array[] = [];
  const calls: number[] = [];
  let used = 0;
  const hook: DataPlacement = (_bhs, _ahs, length) => {
    calls.push(length);
    const dest = backing.subarray(used, used + length);
    used += length;
    given.push(dest);
    return dest;
  };
  return { hook, given, calls };
}

function decodeAll(frames: readonly Frame[]): Pdu[] {
  return frames.map((f) => {
    expect(f.dataDigestError).toBe(false);
    return decodePdu(f);
  });
}

const arbPdus = fc.array(arbPdu, { minLength: 1, maxLength: 6 });

describe("Framer splitting", () => {
  for (const digests of DIGEST_COMBINATIONS) {
    it(`yields the same PDUs for every way of splitting the stream (${describeDigests(digests)})`, () => {
      fc.assert(
        fc.property(arbPdus, fc.array(fc.nat(), { maxLength: 12 }), (pdus, cuts) => {
          const stream = concatBytes(pdus.map((p) => encodeToBytes(p, digests)));
          const { frames, framer } = framesOf(splitAt(stream, cuts), framerSettings(digests));
          expect(decodeAll(frames)).toStrictEqual(pdus);
          expect(framer.bufferedBytes).toBe(0);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("yields the same PDUs when fed one byte at a time, with and without digests", () => {
    fc.assert(
      fc.property(arbPdus, fc.constantFrom(...DIGEST_COMBINATIONS), (pdus, digests) => {
        const stream = concatBytes(pdus.map((p) => encodeToBytes(p, digests)));
        const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
        const { frames } = framesOf(bytes, framerSettings(digests));
        expect(decodeAll(frames)).toStrictEqual(pdus);
      }),
      { numRuns: 60 },
    );
  });

  it("yields the same PDUs when every chunk is pushed before the first next()", () => {
    fc.assert(
      fc.property(arbPdus, fc.array(fc.nat(), { maxLength: 300 }), (pdus, cuts) => {
        const stream = concatBytes(pdus.map((p) => encodeToBytes(p, BOTH_DIGESTS)));
        const framer = new Framer(BOTH_DIGEST_SETTINGS, crc32c);
        for (const chunk of splitAt(stream, cuts)) framer.push(chunk);
        expect(framer.bufferedBytes).toBe(stream.length);
        const frames: Frame[] = [];
        for (let f = framer.next(); f !== undefined; f = framer.next()) frames.push(f);
        expect(decodeAll(frames)).toStrictEqual(pdus);
        expect(framer.bufferedBytes).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it("places every data segment through the hook for every split, digests on or off", () => {
    fc.assert(
      fc.property(arbPdus, fc.array(fc.nat(), { maxLength: 12 }), fc.constantFrom(...DIGEST_COMBINATIONS), (pdus, cuts, digests) => {
        const stream = concatBytes(pdus.map((p) => encodeToBytes(p, digests)));
        const placement = slicingPlacement(stream.length);
        const { frames } = framesOf(splitAt(stream, cuts), framerSettings(digests), placement.hook);
        expect(decodeAll(frames)).toStrictEqual(pdus);
        const withData = frames.filter((f) => f.data.length > 0);
        expect(placement.given).toHaveLength(withData.length);
        withData.forEach((f, i) => {
          expect(f.dataPlaced).toBe(true);
          expect(f.data).toBe(placement.given[i]);
        });
        for (const f of frames.filter((f) => f.data.length === 0)) expect(f.dataPlaced).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe("Framer copies", () => {
  it("delivers a data segment that lies inside one chunk as a view of that chunk", () => {
    const chunk = encodeToBytes(dataIn(Uint8Array.from({ length: 100 }, (_, i) => i)));
    const { frames } = framesOf([chunk], NO_DIGEST_SETTINGS);
    expect(frames[0]!.data.buffer).toBe(chunk.buffer);
    expect(frames[0]!.data.byteOffset).toBe(chunk.byteOffset + 48);
    expect(frames[0]!.bhs.buffer).toBe(chunk.buffer);
    expect(frames[0]!.dataPlaced).toBe(false);
  });

  it("assembles a data segment that spans chunks into one buffer of its own", () => {
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    const bytes = encodeToBytes(dataIn(payload));
    const chunks = splitAt(bytes, [20, 300, 700]);
    const { frames } = framesOf(chunks, NO_DIGEST_SETTINGS);
    const data = frames[0]!.data;
    expect(data).toEqual(payload);
    for (const chunk of chunks) expect(data.buffer).not.toBe(chunk.buffer);
    expect(data.byteLength).toBe(data.buffer.byteLength);
  });

  it("copies straight into the placement destination and reports dataPlaced", () => {
    const payload = Uint8Array.from({ length: 777 }, (_, i) => (i * 13) & 0xff);
    const bytes = encodeToBytes(dataIn(payload, 0x99), BOTH_DIGESTS);
    const target = new Uint8Array(2000);
    const seen: { itt: number; length: number }[] = [];
    const hook: DataPlacement = (bhs, _ahs, length) => {
      seen.push({ itt: (bhs[16]! << 24) | (bhs[17]! << 16) | (bhs[18]! << 8) | bhs[19]!, length });
      return target.subarray(500, 500 + length);
    };
    const { frames } = framesOf(splitAt(bytes, [10, 60, 400]), BOTH_DIGEST_SETTINGS, hook);
    expect(seen).toEqual([{ itt: 0x99, length: 777 }]);
    expect(frames[0]!.dataPlaced).toBe(true);
    expect(frames[0]!.dataDigestError).toBe(false);
    expect(target.subarray(500, 1277)).toEqual(payload);
    expect(target[499]).toBe(0);
    expect(target[1277]).toBe(0);
  });

  it("lets the hook decline (undefined) and then delivers a view as usual", () => {
    const bytes = encodeToBytes(dataIn(new Uint8Array(64).fill(3)));
    const { frames } = framesOf([bytes], NO_DIGEST_SETTINGS, () => undefined);
    expect(frames[0]!.dataPlaced).toBe(false);
    expect(frames[0]!.data.buffer).toBe(bytes.buffer);
  });

  it("does not ask the placement hook about PDUs without a data segment", () => {
    const placement = slicingPlacement(100);
    framesOf([encodeToBytes(nopIn)], NO_DIGEST_SETTINGS, placement.hook);
    expect(placement.calls).toEqual([]);
  });

  it("refuses a placement destination of the wrong length, and is unusable after", () => {
    const framer = new Framer(NO_DIGEST_SETTINGS, crc32c, (_b, _a, length) => new Uint8Array(length - 1));
    framer.push(encodeToBytes(dataIn(new Uint8Array(10))));
    expect(() => framer.next()).toThrow(LocalProtocolError);
    expect(() => framer.next()).toThrow(/failed earlier/);
  });

  it("uses the hook set with setPlacement for the next PDU", () => {
    const framer = new Framer(NO_DIGEST_SETTINGS, crc32c);
    framer.push(concatBytes([encodeToBytes(dataIn(new Uint8Array(8).fill(1))), encodeToBytes(dataIn(new Uint8Array(8).fill(2)))]));
    expect(framer.next()!.dataPlaced).toBe(false);
    const dest = new Uint8Array(8);
    framer.setPlacement(() => dest);
    const second = framer.next()!;
    expect(second.dataPlaced).toBe(true);
    expect([...dest]).toEqual(new Array(8).fill(2));
  });
});

describe("Framer bounds and digests", () => {
  it("refuses an oversized DataSegmentLength before buffering its data", () => {
    const header = encodeToBytes(dataIn(new Uint8Array(0)));
    header[5] = 0xff;
    header[6] = 0xff;
    header[7] = 0xff;
    const framer = new Framer({ maxDataSegmentLength: 262144, headerDigest: false, dataDigest: false }, crc32c);
    framer.push(header);
    expect(() => framer.next()).toThrow(RemoteProtocolError);
    expect(framer.bufferedBytes).toBe(48);
    expect(() => framer.next()).toThrow(LocalProtocolError);
    expect(() => framer.push(new Uint8Array(1))).toThrow(/connection must be dropped/);
  });

  it("names the length, the limit and the opcode when refusing an oversized data segment", () => {
    const header = encodeToBytes(dataIn(new Uint8Array(0)));
    header.set([0xff, 0xff, 0xff], 5);
    const framer = new Framer({ maxDataSegmentLength: 262144, headerDigest: false, dataDigest: false }, crc32c);
    framer.push(header);
    expect(() => framer.next()).toThrow(
      /DataSegmentLength 16777215 exceeds the negotiated MaxRecvDataSegmentLength 262144 \(opcode DataIn/,
    );
  });

  it("accepts a data segment of exactly maxDataSegmentLength", () => {
    const bytes = encodeToBytes(dataIn(new Uint8Array(512)));
    const { frames } = framesOf([bytes], { maxDataSegmentLength: 512, headerDigest: false, dataDigest: false });
    expect(frames[0]!.data).toHaveLength(512);
  });

  it("throws DigestError('header') for any flipped bit in the BHS, AHS or header digest", () => {
    const { scsiCommand } = pduArbitraries();
    fc.assert(
      fc.property(scsiCommand, fc.nat(), fc.integer({ min: 0, max: 7 }), (pdu, at, bit) => {
        const bytes = encodeToBytes(pdu, BOTH_DIGESTS);
        const headerLength = 48 + bytes[4]! * 4 + 4;
        const flip = at % headerLength;
        // A flip in TotalAHSLength changes where the digest is looked for; it must still fail.
        bytes[flip] = bytes[flip]! ^ (1 << bit);
        const framer = new Framer(BOTH_DIGEST_SETTINGS, crc32c);
        framer.push(bytes);
        framer.push(new Uint8Array(1100)); // enough for any AHS length the flip claims
        let caught: unknown;
        try {
          framer.next();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(DigestError);
        expect((caught as DigestError).which).toBe("header");
      }),
    );
  });

  it("delivers a frame with dataDigestError for a flipped data bit, and frames the next PDU normally", () => {
    const payload = Uint8Array.from({ length: 37 }, (_, i) => i);
    const first = encodeToBytes(dataIn(payload, 1), BOTH_DIGESTS);
    first[48 + 4 + 10] = first[48 + 4 + 10]! ^ 0x10;
    const second = encodeToBytes(dataIn(payload, 2), BOTH_DIGESTS);
    const { frames } = framesOf(splitAt(concatBytes([first, second]), [70, 100]), BOTH_DIGEST_SETTINGS);
    expect(frames.map((f) => f.dataDigestError)).toEqual([true, false]);
    expect((decodePdu(frames[1]!) as DataInPdu).initiatorTaskTag).toBe(2);
  });

  it("covers the padding bytes with the data digest", () => {
    const bytes = encodeToBytes(dataIn(new Uint8Array([1, 2, 3, 4, 5])), BOTH_DIGESTS);
    bytes[52 + 5] = 0xff; // first pad byte
    const { frames } = framesOf([bytes], BOTH_DIGEST_SETTINGS);
    expect(frames[0]!.dataDigestError).toBe(true);
  });

  it("flags a data digest error with placement too, after writing the suspect bytes", () => {
    const bytes = encodeToBytes(dataIn(new Uint8Array(40).fill(9)), BOTH_DIGESTS);
    bytes[60] = 0;
    const dest = new Uint8Array(40);
    const { frames } = framesOf(splitAt(bytes, [58, 70]), BOTH_DIGEST_SETTINGS, () => dest);
    expect(frames[0]!.dataPlaced).toBe(true);
    expect(frames[0]!.dataDigestError).toBe(true);
  });
});

describe("Framer settings and accounting", () => {
  it("switches digests on for the PDU after the one just taken (as after the last Login Response)", () => {
    const plain = encodeToBytes(dataIn(new Uint8Array([1, 2, 3]), 1));
    const digested = encodeToBytes(dataIn(new Uint8Array([4, 5, 6]), 2), BOTH_DIGESTS);
    const framer = new Framer(NO_DIGEST_SETTINGS, crc32c);
    framer.push(concatBytes([plain, digested]));
    expect((decodePdu(framer.next()!) as DataInPdu).initiatorTaskTag).toBe(1);
    framer.configure({ headerDigest: true, dataDigest: true });
    const second = framer.next()!;
    expect(second.dataDigestError).toBe(false);
    expect(decodePdu(second)).toStrictEqual(dataIn(new Uint8Array([4, 5, 6]), 2));
    expect(framer.next()).toBeUndefined();
  });

  it("finishes a PDU in progress with the settings it started with", () => {
    const bytes = encodeToBytes(dataIn(new Uint8Array(100).fill(1)), BOTH_DIGESTS);
    const framer = new Framer(BOTH_DIGEST_SETTINGS, crc32c);
    framer.push(bytes.subarray(0, 80));
    expect(framer.next()).toBeUndefined();
    framer.configure({ headerDigest: false, dataDigest: false });
    framer.push(bytes.subarray(80));
    const frame = framer.next()!;
    expect(frame.dataDigestError).toBe(false);
    expect(framer.bufferedBytes).toBe(0);
  });

  it("counts bytes pushed but not yet returned in a frame", () => {
    const bytes = encodeToBytes(dataIn(new Uint8Array(100)));
    const framer = new Framer(NO_DIGEST_SETTINGS, crc32c);
    framer.push(bytes.subarray(0, 30));
    expect(framer.next()).toBeUndefined();
    expect(framer.bufferedBytes).toBe(30);
    framer.push(bytes.subarray(30, 120));
    expect(framer.next()).toBeUndefined();
    expect(framer.bufferedBytes).toBe(120);
    framer.push(bytes.subarray(120));
    expect(framer.next()).toBeDefined();
    expect(framer.bufferedBytes).toBe(0);
  });

  it("refuses a maxDataSegmentLength outside the 24-bit field", () => {
    expect(() => new Framer({ ...NO_DIGEST_SETTINGS, maxDataSegmentLength: 2 ** 24 }, crc32c)).toThrow(LocalProtocolError);
    const framer = new Framer(NO_DIGEST_SETTINGS, crc32c);
    expect(() => framer.configure({ maxDataSegmentLength: -1 })).toThrow(LocalProtocolError);
  });

  it("frames a long run of tiny chunks pushed before any next() (queue compaction)", () => {
    const pdus = Array.from({ length: 40 }, (_, i) => dataIn(new Uint8Array(i + 1).fill(i), i));
    const stream = concatBytes(pdus.map((p) => encodeToBytes(p)));
    const framer = new Framer(NO_DIGEST_SETTINGS, crc32c);
    const out: Pdu[] = [];
    // Push 3 bytes at a time, pulling only every 200 chunks so the queue grows and is compacted.
    for (let at = 0, n = 0; at < stream.length; at += 3, n++) {
      framer.push(stream.subarray(at, at + 3));
      if (n % 200 === 199) for (let f = framer.next(); f; f = framer.next()) out.push(decodePdu(f));
    }
    for (let f = framer.next(); f; f = framer.next()) out.push(decodePdu(f));
    expect(out).toStrictEqual(pdus);
  });

  it("ignores empty chunks", () => {
    const bytes = encodeToBytes(nopIn);
    const { frames } = framesOf([new Uint8Array(0), bytes.subarray(0, 10), new Uint8Array(0), bytes.subarray(10)], NO_DIGEST_SETTINGS);
    expect(decodeAll(frames)).toStrictEqual([nopIn]);
  });
});
