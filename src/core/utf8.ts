/**
 * UTF-8 for the core. TextEncoder/TextDecoder are host globals (not in ES2022), so the core
 * carries its own small codec, one for iSCSI text, iSNS strings, CHAP secrets and SCSI name
 * strings alike. It decodes two ways over one loop, because the two callers want different
 * things from a malformed sequence:
 * - `decodeUtf8` is strict: RFC 7143 §6.1 says iSCSI text is UTF-8, and a malformed sequence
 *   from a peer is a protocol error, not something to paper over.
 * - `decodeUtf8Lenient` replaces it with U+FFFD, as TextDecoder does: a designator in SCSI data
 *   (SPC-4 §7.8.6) is shown to a user, and one bad byte should not hide the rest.
 */
import { RemoteProtocolError } from "./errors.js";

export function encodeUtf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    let cp = ch.codePointAt(0) ?? 0;
    // A lone surrogate has no UTF-8 form; encode it as U+FFFD like TextEncoder does.
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) {
      out.push(cp);
    } else if (cp < 0x800) {
      out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    } else {
      out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    }
  }
  return Uint8Array.from(out);
}

/** Decodes strict UTF-8; `where` names the field for the error message. */
export function decodeUtf8(bytes: Uint8Array, where: string): string {
  return decode(bytes, (at) => {
    throw new RemoteProtocolError(`${where}: invalid UTF-8 at byte ${at}`);
  });
}

/** Decodes UTF-8, replacing every malformed sequence with U+FFFD; never throws. */
export function decodeUtf8Lenient(bytes: Uint8Array): string {
  return decode(bytes, () => "\ufffd");
}

/** Length in bytes of `text` once UTF-8 encoded. */
export function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * The one decoding loop. `malformed(at)` is called for each malformed sequence starting at byte
 * `at` (a bad lead byte, a missing continuation, an overlong form, a surrogate, a value beyond
 * U+10FFFF) and gives what stands for it, or throws. A sequence cut short by a byte that is not a
 * continuation ends before that byte, so the byte starts the next sequence.
 */
function decode(bytes: Uint8Array, malformed: (at: number) => string): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i += 1;
      continue;
    }
    let need: number;
    let cp: number;
    let min: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      out += malformed(i);
      i += 1;
      continue;
    }
    let k = 1;
    for (; k <= need; k++) {
      const b = bytes[i + k];
      if (b === undefined || (b & 0xc0) !== 0x80) break;
      cp = (cp << 6) | (b & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if (k <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += malformed(i);
      i += k;
      continue;
    }
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}
