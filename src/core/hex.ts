/**
 * Hex, the one way the core (and the target and NBD server built on it) writes numbers and bytes
 * for people: tags, opcodes and ASC/ASCQ in messages (`hex(0x21, 2)` is "0x21"), identifiers and
 * test vectors as plain digits (`hexOf(bytes)`). Lower-case throughout, as tshark and sg3_utils
 * print them, so a message can be matched against a capture by eye.
 */
import { LocalProtocolError } from "./errors.js";

/** "0x" and the lower-case hex digits of `value`, zero-padded to at least `digits` digits. */
export function hex(value: number | bigint, digits = 1): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

/** Lower-case hex of bytes, two digits each, no prefix and no separators ("6000000000000000"). */
export function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Parses hex (case-insensitive, even length, no separators) given by a caller; `what` names it. */
export function fromHex(what: string, text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new LocalProtocolError(`${what} must be an even number of hex digits`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
