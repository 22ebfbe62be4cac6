/**
 * ASCII fields in SCSI data (SPC-4 §4.4.1). UTF-8 (SCSI name strings) is core/utf8.ts's and hex
 * is core/hex.ts's, shared with the rest of the core.
 */
import { LocalProtocolError } from "../errors.js";

/**
 * Decodes an ASCII field. SPC-4 §4.4.1 allows only 0x20-0x7E in ASCII data fields; any other byte
 * (a peer's mistake) is shown as "?" so that what we print to a user cannot carry control
 * characters.
 */
export function decodeAscii(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : "?";
  return out;
}

/** An ASCII field with trailing spaces and NULs removed (the padding SPC-4 §4.4.1 prescribes). */
export function decodeAsciiTrimmed(bytes: Uint8Array): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x00)) end--;
  return decodeAscii(bytes.subarray(0, end));
}

/** An ASCII field with leading and trailing spaces and NULs removed (right-aligned fields). */
export function decodeAsciiStripped(bytes: Uint8Array): string {
  let start = 0;
  while (start < bytes.length && (bytes[start] === 0x20 || bytes[start] === 0x00)) start++;
  return decodeAsciiTrimmed(bytes.subarray(start));
}

/** Checks that `text` is printable ASCII no longer than `max` characters. */
export function checkAscii(what: string, text: string, max: number): void {
  if (text.length > max) {
    throw new LocalProtocolError(`${what} is ${text.length} characters; at most ${max} fit`);
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      throw new LocalProtocolError(`${what} has a character that is not printable ASCII at index ${i}`);
    }
  }
}

/** Writes `text` (checked ASCII) into a field of `width` bytes, left-aligned and space-padded. */
export function putAsciiPadded(bytes: Uint8Array, offset: number, width: number, text: string): void {
  for (let i = 0; i < width; i++) bytes[offset + i] = i < text.length ? text.charCodeAt(i) : 0x20;
}

