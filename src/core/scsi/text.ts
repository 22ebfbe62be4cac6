/**
 * Text fields in SCSI data: ASCII (SPC-4 §4.4.1), UTF-8 (SCSI name strings), and hex renderings of
 * binary identifiers. The core has no TextDecoder in its type environment, so the small codecs
 * live here.
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

/** Lower-case hex of bytes, no separators ("6000000000000000"). */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Parses hex (case-insensitive, even length, no separators) for a builder argument. */
export function fromHex(what: string, text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new LocalProtocolError(`${what} must be an even number of hex digits`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Decodes UTF-8, replacing every malformed sequence (bad lead byte, missing continuation,
 * overlong form, surrogate, beyond U+10FFFF) with U+FFFD.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i] ?? 0;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i += 1;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) [need, min, cp] = [1, 0x80, b0 & 0x1f];
    else if (b0 >= 0xe0 && b0 <= 0xef) [need, min, cp] = [2, 0x800, b0 & 0x0f];
    else if (b0 >= 0xf0 && b0 <= 0xf4) [need, min, cp] = [3, 0x10000, b0 & 0x07];
    else {
      out += "\ufffd";
      i += 1;
      continue;
    }
    let j = 1;
    for (; j <= need; j++) {
      const b = bytes[i + j];
      if (b === undefined || (b & 0xc0) !== 0x80) break;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += "\ufffd";
      i += Math.max(1, j);
      continue;
    }
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

/** Encodes a string as UTF-8 (lone surrogates become U+FFFD). */
export function encodeUtf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    let cp = ch.codePointAt(0) ?? 0xfffd;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else {
      out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    }
  }
  return Uint8Array.from(out);
}
