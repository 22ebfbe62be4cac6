/**
 * Helpers that turn fuzz bytes into what the code under test takes: a config byte, chunkings of a
 * byte stream, PDU streams (encoded, or framed back), and a deterministic generator derived from
 * the input so the same input always runs the same way.
 */
import type fc from "fast-check";
import { crc32c } from "../src/core/digest/crc32c.js";
import { type DigestSettings, encodePdu } from "../src/core/pdu/encode.js";
import type { Pdu } from "../src/core/pdu/types.js";
import { SeededRandom } from "../src/faults/random.js";
import { concat } from "./mutate.js";

/** The first byte as a config, the rest as the payload (an empty input is config 0, no payload). */
export function split(input: Uint8Array): { readonly config: number; readonly payload: Uint8Array } {
  return { config: input[0] ?? 0, payload: input.subarray(1) };
}

/** A generator seeded from the input's config and length, for chunk sizes and the like. */
export function randomFor(input: Uint8Array): SeededRandom {
  let h = 0x811c9dc5;
  for (let i = 0; i < Math.min(input.length, 64); i++) h = Math.imul(h ^ (input[i] as number), 0x01000193) >>> 0;
  return new SeededRandom((h ^ input.length) >>> 0);
}

/**
 * Cuts `bytes` into chunks: all at once (mode 0), or pieces of 1 to 2^mode bytes (modes 1-7),
 * the way TCP may hand them over.
 */
export function chunks(bytes: Uint8Array, mode: number, random: SeededRandom): Uint8Array[] {
  if (mode === 0) return [bytes];
  const max = 2 ** mode;
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = random.int(1, max);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

export const DIGEST_CHOICES: readonly DigestSettings[] = [
  { headerDigest: false, dataDigest: false, crc32c },
  { headerDigest: true, dataDigest: false, crc32c },
  { headerDigest: false, dataDigest: true, crc32c },
  { headerDigest: true, dataDigest: true, crc32c },
];

export function encodeStream(pdus: readonly Pdu[], digests: DigestSettings = DIGEST_CHOICES[0] as DigestSettings): Uint8Array {
  return concat(pdus.flatMap((p) => encodePdu(p, digests)));
}

/** A config byte followed by a payload. */
export function withConfig(config: fc.Arbitrary<number>, payload: (config: number) => fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return config.chain((c) => payload(c).map((p) => concat([Uint8Array.of(c), p])));
}

/** Bytes of `key=value\0` pairs, written by hand so any key or value (even invalid) can appear. */
export function textBytes(pairs: readonly (readonly [string, string])[], terminate = true): Uint8Array {
  const text = pairs.map(([k, v]) => `${k}=${v}`).join("\0") + (terminate && pairs.length > 0 ? "\0" : "");
  return new TextEncoder().encode(text);
}

/** RFC 7143 §11.2.1: the whole PDU length from a BHS (no digests). */
export function pduLength(bytes: Uint8Array, at: number, digests: { header: boolean; data: boolean }): number {
  const ahs = (bytes[at + 4] ?? 0) * 4;
  const data = ((bytes[at + 5] ?? 0) << 16) | ((bytes[at + 6] ?? 0) << 8) | (bytes[at + 7] ?? 0);
  const padded = (data + 3) & ~3;
  return 48 + ahs + (digests.header ? 4 : 0) + padded + (data > 0 && digests.data ? 4 : 0);
}
