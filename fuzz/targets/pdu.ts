/**
 * The framer (arbitrary bytes in arbitrary chunks, with and without digests and placement) and
 * decodePdu for every opcode (any BHS, AHS and data segment, with the frame's lengths made
 * consistent so the decoder itself is reached).
 */
import fc from "fast-check";
import { crc32c } from "../../src/core/digest/crc32c.js";
import { pduArbitraries } from "../../src/core/pdu/arbitraries.test-util.js";
import { decodePdu } from "../../src/core/pdu/decode.js";
import { encodePdu } from "../../src/core/pdu/encode.js";
import { Framer } from "../../src/core/pdu/framer.js";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import { corpus, corpusFiles, once } from "../corpus.js";
import { concat } from "../mutate.js";
import { chunks, DIGEST_CHOICES, encodeStream, randomFor, split, withConfig } from "../stream.js";
import { type FuzzTarget, proportional } from "../target.js";

const arbs = pduArbitraries({ maxDataLength: 1200 });
const MAX_SEGMENTS = [512, 8192, 65536, 262144] as const;
/** Where placed Data-In goes: allocated once, outside any input. */
const PLACEMENT = new Uint8Array(256 * 1024);

/** Config bits: 0-1 digests, 2-3 MaxRecvDataSegmentLength, 4 placement, 5-7 chunking. */
function framerSettings(config: number) {
  const digests = DIGEST_CHOICES[config & 3] as (typeof DIGEST_CHOICES)[number];
  return { digests, maxDataSegmentLength: MAX_SEGMENTS[(config >> 2) & 3] as number, placement: (config & 0x10) !== 0, chunking: config >> 5 };
}

export const framerTarget: FuzzTarget = {
  name: "framer",
  description: "Framer.push/next (then decodePdu) over arbitrary bytes in arbitrary chunks, digests and placement on or off",
  arbitrary: withConfig(fc.integer({ min: 0, max: 255 }), (config) =>
    fc.array(arbs.pdu, { maxLength: 6 }).map((pdus) => encodeStream(pdus, framerSettings(config).digests)),
  ),
  seeds: once(() => [
    // Captured full-feature streams, with the digests their file name records, MaxRecvDataSegmentLength 256 KiB.
    ...corpusFiles("streams").map(({ file, bytes }) => {
      const digests = (file.includes("-hd1-") ? 1 : 0) | (file.includes("-dd1-") ? 2 : 0);
      return concat([Uint8Array.of(digests | 0x0c), bytes]);
    }),
    ...corpus("pdus").map((p) => concat([Uint8Array.of(0x24), p])),
  ]),
  allocationLimit: (input) => proportional(input, 2, MAX_SEGMENTS[((input[0] ?? 0) >> 2) & 3] as number),
  run(input) {
    const { config, payload } = split(input);
    const s = framerSettings(config);
    const framer = new Framer(
      { maxDataSegmentLength: s.maxDataSegmentLength, headerDigest: s.digests.headerDigest, dataDigest: s.digests.dataDigest },
      crc32c,
      s.placement ? (bhs, _ahs, length) => ((bhs[0]! & 0x3f) === Opcode.DataIn && length <= PLACEMENT.length ? PLACEMENT.subarray(0, length) : undefined) : undefined,
    );
    for (const chunk of chunks(payload, s.chunking, randomFor(input))) {
      framer.push(chunk);
      for (let frame = framer.next(); frame !== undefined; frame = framer.next()) decodePdu(frame);
    }
  },
};

const OPCODES = Object.values(Opcode);

/**
 * Config byte: below 0xc0 it picks one of the 18 opcodes (so every decoder gets inputs), from
 * 0xc0 the BHS's own opcode stands. The payload is BHS (zero-padded to 48), then AHS and data.
 */
function frameOf(input: Uint8Array) {
  const { config, payload } = split(input);
  const bhs = new Uint8Array(48);
  bhs.set(payload.subarray(0, 48));
  if (config < 0xc0) bhs[0] = (bhs[0]! & 0xc0) | (OPCODES[config % OPCODES.length] as number);
  const rest = payload.subarray(48);
  const ahsLength = Math.min(bhs[4]! * 4, rest.length - (rest.length % 4));
  bhs[4] = ahsLength / 4;
  const data = rest.subarray(ahsLength, ahsLength + 0xff_ffff);
  bhs[5] = data.length >>> 16;
  bhs[6] = data.length >>> 8;
  bhs[7] = data.length;
  return { opcode: bhs[0]! & 0x3f, bhs, ahs: rest.subarray(0, ahsLength), data, dataPlaced: false, dataDigestError: false };
}

export const decodeTarget: FuzzTarget = {
  name: "decode",
  description: "decodePdu of a frame with any header, AHS and data, for each of the 18 opcodes",
  arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), arbs.pdu).map(([config, pdu]) => {
    const pieces = encodePdu(pdu, DIGEST_CHOICES[0] as (typeof DIGEST_CHOICES)[number]);
    // Drop the padding (the frame's data is the segment only): keep header and data.
    const header = pieces[0] as Uint8Array;
    const data = pieces[1] ?? new Uint8Array(0);
    return concat([Uint8Array.of(config | 0xc0), header, data]);
  }),
  seeds: once(() => corpus("pdus").map((p) => concat([Uint8Array.of(0xc0), p]))),
  allocationLimit: (input) => proportional(input),
  run(input) {
    decodePdu(frameOf(input));
  },
};

