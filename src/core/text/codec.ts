/**
 * The key=value text format of Login and Text PDUs (RFC 7143 §6.1): UTF-8 pairs, each ended by a
 * NUL byte, in the order the sender wrote them. Pairs may span PDU boundaries when the C bit is set
 * (§6.1, §11.10.2), so multi-PDU text is gathered with `TextAccumulator` before parsing.
 */
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { decodeUtf8, encodeUtf8, utf8Length } from "../utf8.js";

export type TextPair = readonly [key: string, value: string];

/** RFC 7143 §6.1: key names are at most 63 bytes. */
export const MAX_KEY_BYTES = 63;
/** RFC 7143 §6.1: a value is at most 255 bytes unless its key says otherwise. */
export const MAX_VALUE_BYTES = 255;
/**
 * Binary values (CHAP_C, CHAP_R, and the other authentication methods' keys) may be longer than
 * 255 bytes (RFC 7143 §6.1, §12.1.3: a challenge of up to 1024 bytes is 2050 hex characters).
 * We bound them at 8192 bytes of encoded text.
 */
export const MAX_LONG_VALUE_BYTES = 8192;
/** Keys whose values are binary and may exceed MAX_VALUE_BYTES (RFC 7143 §12). */
export const LONG_VALUE_KEYS: ReadonlySet<string> = new Set([
  "CHAP_C",
  "CHAP_R",
  "SRP_s",
  "SRP_A",
  "SRP_B",
  "SRP_M",
  "SRP_HM",
  "KRB_AP_REQ",
  "KRB_AP_REP",
]);

/** RFC 7143 §6.1: key-name characters. */
const KEY_NAME = /^[A-Za-z0-9.\-+@_]+$/;
/** X# keys (IANA-registered extension keys, RFC 7143 §13.5.4) carry a `#`. */
const EXTENSION_KEY_NAME = /^X#[A-Za-z0-9.\-+@_]+$/;

export interface ParseTextOptions {
  /** Keys that may legally appear more than once (SendTargets responses repeat TargetName, TargetAddress). */
  readonly repeatable?: ReadonlySet<string>;
  /** Where the text came from, for error messages (e.g. "Login Response"). */
  readonly where?: string;
}

export function isValidKeyName(key: string): boolean {
  return (KEY_NAME.test(key) || EXTENSION_KEY_NAME.test(key)) && utf8Length(key) <= MAX_KEY_BYTES;
}

/**
 * Parses a complete text data segment. A final pair without its NUL is accepted (some peers omit
 * it); NUL padding after the last pair is ignored; an empty pair in the middle, a pair without `=`,
 * a bad key name, an over-long value, invalid UTF-8 or a repeated key is a RemoteProtocolError
 * naming the key.
 */
export function parseText(data: Uint8Array, options: ParseTextOptions = {}): Array<TextPair> {
  const where = options.where ?? "text";
  const pairs: Array<TextPair> = [];
  const seen = new Set<string>();
  let start = 0;
  // Trailing NUL padding is not a sequence of empty pairs.
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  while (start < end) {
    let nul = data.indexOf(0, start);
    if (nul < 0 || nul > end) nul = end;
    if (nul === start) throw new RemoteProtocolError(`${where}: empty key=value pair at byte ${start}`);
    const eq = data.indexOf(0x3d, start);
    if (eq < 0 || eq >= nul) {
      const fragment = decodeUtf8(data.subarray(start, Math.min(nul, start + MAX_KEY_BYTES + 1)), where);
      throw new RemoteProtocolError(`${where}: pair "${fragment}" has no "=" (byte ${start})`);
    }
    if (eq - start > MAX_KEY_BYTES) {
      throw new RemoteProtocolError(`${where}: key at byte ${start} is ${eq - start} bytes, more than ${MAX_KEY_BYTES}`);
    }
    const key = decodeUtf8(data.subarray(start, eq), `${where} key at byte ${start}`);
    if (!isValidKeyName(key)) throw new RemoteProtocolError(`${where}: invalid key name "${key}"`);
    const valueBytes = nul - eq - 1;
    const limit = LONG_VALUE_KEYS.has(key) ? MAX_LONG_VALUE_BYTES : MAX_VALUE_BYTES;
    if (valueBytes > limit) {
      throw new RemoteProtocolError(`${where}: value of ${key} is ${valueBytes} bytes, more than ${limit}`);
    }
    const value = decodeUtf8(data.subarray(eq + 1, nul), `${where} value of ${key}`);
    if (seen.has(key) && !(options.repeatable?.has(key) ?? false)) {
      throw new RemoteProtocolError(`${where}: key ${key} appears more than once`);
    }
    seen.add(key);
    pairs.push([key, value]);
    start = nul + 1;
  }
  return pairs;
}

/** Encodes pairs as `key=value\0...`. Our own bad input is a LocalProtocolError. */
export function encodeText(pairs: Iterable<TextPair>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const [key, value] of pairs) {
    if (!isValidKeyName(key)) throw new LocalProtocolError(`encodeText: invalid key name "${key}"`);
    if (value.includes("\0")) throw new LocalProtocolError(`encodeText: value of ${key} contains NUL`);
    const bytes = encodeUtf8(`${key}=${value}\0`);
    const valueBytes = bytes.length - utf8Length(key) - 2;
    const limit = LONG_VALUE_KEYS.has(key) ? MAX_LONG_VALUE_BYTES : MAX_VALUE_BYTES;
    if (valueBytes > limit) throw new LocalProtocolError(`encodeText: value of ${key} is ${valueBytes} bytes, more than ${limit}`);
    parts.push(bytes);
    total += bytes.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Splits encoded text into data segments of at most `maxSegment` bytes, for the C bit
 * (RFC 7143 §11.10.2, §11.12.2): pairs may be cut anywhere. Empty text gives one empty segment.
 */
export function splitText(data: Uint8Array, maxSegment: number): Uint8Array[] {
  if (!Number.isInteger(maxSegment) || maxSegment < 1) throw new LocalProtocolError(`splitText: bad segment size ${maxSegment}`);
  if (data.length === 0) return [data];
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += maxSegment) out.push(data.subarray(o, Math.min(o + maxSegment, data.length)));
  return out;
}

/** Default bound on the text of one negotiation sequence (RFC 7143 §6.1 asks at least 8192; 64 KiB covers long authentication items). */
export const DEFAULT_MAX_TEXT_BYTES = 64 * 1024;

/**
 * Gathers the data segments of a multi-PDU text (C bit) and parses them once the last one is in.
 * The total is bounded before anything is buffered.
 */
export class TextAccumulator {
  readonly #max: number;
  readonly #where: string;
  #parts: Uint8Array[] = [];
  #length = 0;

  constructor(options: { maxBytes?: number; where?: string } = {}) {
    this.#max = options.maxBytes ?? DEFAULT_MAX_TEXT_BYTES;
    this.#where = options.where ?? "text";
  }

  get length(): number {
    return this.#length;
  }

  /** Copies `segment` in (decoded PDUs hold views that do not outlive the next receive). */
  append(segment: Uint8Array): void {
    if (this.#length + segment.length > this.#max) {
      throw new RemoteProtocolError(
        `${this.#where}: text of ${this.#length + segment.length} bytes exceeds the ${this.#max}-byte bound`,
      );
    }
    if (segment.length === 0) return;
    this.#parts.push(segment.slice());
    this.#length += segment.length;
  }

  /** Parses everything appended so far and resets the accumulator. */
  finish(options: ParseTextOptions = {}): Array<TextPair> {
    const all = new Uint8Array(this.#length);
    let o = 0;
    for (const p of this.#parts) {
      all.set(p, o);
      o += p.length;
    }
    this.#parts = [];
    this.#length = 0;
    return parseText(all, { where: this.#where, ...options });
  }
}
