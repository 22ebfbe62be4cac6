/**
 * Test helpers around the codec: PDUs to start from, bytes of an encoded PDU, frames of a byte
 * stream, hex literals. Shared: session and target tests may use them to feed a core with PDUs.
 */
import { crc32c } from "../digest/crc32c.js";
import { fromHex } from "../hex.js";
import { encodePdu, type DigestSettings } from "./encode.js";
import { decodePdu } from "./decode.js";
import { Framer, type DataPlacement, type Frame, type FramerSettings } from "./framer.js";
import { MAX_DATA_SEGMENT_LENGTH_FIELD, Opcode } from "./opcodes.js";
import type { Pdu, ScsiResponsePdu } from "./types.js";

export const DIGEST_COMBINATIONS: readonly DigestSettings[] = [
  { headerDigest: false, dataDigest: false, crc32c },
  { headerDigest: true, dataDigest: false, crc32c },
  { headerDigest: false, dataDigest: true, crc32c },
  { headerDigest: true, dataDigest: true, crc32c },
];

export const NO_DIGESTS: DigestSettings = DIGEST_COMBINATIONS[0]!;

export function describeDigests(d: Pick<DigestSettings, "headerDigest" | "dataDigest">): string {
  return `header digest ${d.headerDigest ? "on" : "off"}, data digest ${d.dataDigest ? "on" : "off"}`;
}

/**
 * A SCSI Response (RFC 7143 §11.4): iSCSI response 0 (Command Completed at Target), GOOD, no
 * residuals, no sense data, tags and sequence numbers 0; `fields` change what the test is about.
 */
export function scsiResponse(fields: Partial<ScsiResponsePdu> = {}): ScsiResponsePdu {
  return {
    opcode: Opcode.ScsiResponse,
    bidiReadResidualOverflow: false,
    bidiReadResidualUnderflow: false,
    residualOverflow: false,
    residualUnderflow: false,
    response: 0,
    status: 0,
    initiatorTaskTag: 0,
    snackTag: 0,
    statSN: 0,
    expCmdSN: 0,
    maxCmdSN: 0,
    expDataSN: 0,
    bidiReadResidualCount: 0,
    residualCount: 0,
    sense: new Uint8Array(0),
    responseData: new Uint8Array(0),
    ...fields,
  };
}

export function concatBytes(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** The wire bytes of one PDU. */
export function encodeToBytes(pdu: Pdu, digests: DigestSettings = NO_DIGESTS): Uint8Array {
  return concatBytes(encodePdu(pdu, digests));
}

export function framerSettings(d: Pick<DigestSettings, "headerDigest" | "dataDigest">): FramerSettings {
  return { maxDataSegmentLength: MAX_DATA_SEGMENT_LENGTH_FIELD, headerDigest: d.headerDigest, dataDigest: d.dataDigest };
}

/** Pushes `chunks` one by one and collects every frame the framer yields (pulling after each push). */
export function framesOf(
  chunks: readonly Uint8Array[],
  settings: FramerSettings,
  placement?: DataPlacement,
): { frames: Frame[]; framer: Framer } {
  const framer = new Framer(settings, crc32c, placement);
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    for (let frame = framer.next(); frame !== undefined; frame = framer.next()) frames.push(frame);
  }
  return { frames, framer };
}

/** Encodes, frames and decodes one PDU: what the peer would see. */
export function roundTrip(pdu: Pdu, digests: DigestSettings = NO_DIGESTS): Pdu {
  const { frames } = framesOf([encodeToBytes(pdu, digests)], framerSettings(digests));
  if (frames.length !== 1) throw new Error(`expected one frame, got ${frames.length}`);
  return decodePdu(frames[0]!);
}

/**
 * Cuts `bytes` into views at the given offsets, each taken modulo `bytes.length + 1` (so any
 * natural numbers, such as `fc.nat()`'s, give cut points spread over the whole stream).
 */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.abs(Math.trunc(c)) % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    out.push(bytes.subarray(start, point));
    start = point;
  }
  out.push(bytes.subarray(start));
  return out;
}

/** Bytes from a hex literal laid out for reading: whitespace ignored. */
export function hexBytes(text: string): Uint8Array {
  return fromHex("hex literal", text.replace(/\s+/g, ""));
}
