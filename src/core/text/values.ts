/**
 * RFC 7143 §6.1 value forms: boolean-value, numerical-value (decimal-constant, hex-constant,
 * base64-constant), binary-value, and list-of-values. Parsers return `undefined` for a value that
 * does not have the form, so the caller decides whether that is a "Reject" answer (§6.2) or a
 * protocol error, and names the key in its message.
 */
import { hexOf } from "../hex.js";

/** RFC 7143 §6.2: constants reserved for negotiation answers; never legal as an offered value. */
export const REJECT = "Reject";
export const IRRELEVANT = "Irrelevant";
export const NOT_UNDERSTOOD = "NotUnderstood";
export const RESERVED_ANSWERS: ReadonlySet<string> = new Set([REJECT, IRRELEVANT, NOT_UNDERSTOOD]);

export function parseBoolean(value: string): boolean | undefined {
  if (value === "Yes") return true;
  if (value === "No") return false;
  return undefined;
}

export function formatBoolean(value: boolean): "Yes" | "No" {
  return value ? "Yes" : "No";
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const HEX = /^0[xX]([0-9a-fA-F]+)$/;
const BASE64 = /^0[bB]([A-Za-z0-9+/]+={0,2})$/;

/**
 * RFC 7143 §6.1 numerical-value: decimal, `0x` hex or `0b` base64, unsigned. Values beyond
 * Number.MAX_SAFE_INTEGER are refused here (no iSCSI key needs more), which also bounds the work.
 */
export function parseNumber(value: string): number | undefined {
  if (DECIMAL.test(value)) {
    if (value.length > 16) return undefined;
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const bytes = HEX.test(value) || BASE64.test(value) ? parseBinary(value) : undefined;
  if (bytes === undefined || bytes.length === 0 || bytes.length > 7) return undefined;
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** RFC 7143 §6.1 binary-value: `0x` hex (an odd digit count is left-padded) or `0b` base64. */
export function parseBinary(value: string): Uint8Array | undefined {
  const hex = HEX.exec(value);
  if (hex) {
    let digits = hex[1] as string;
    if (digits.length % 2 === 1) digits = "0" + digits;
    const out = new Uint8Array(digits.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  const b64 = BASE64.exec(value);
  if (b64) return decodeBase64(b64[1] as string);
  return undefined;
}

/** RFC 7143 §6.1's hex-constant: "0x" and the bytes as hex digits. */
export function formatHex(bytes: Uint8Array): string {
  return `0x${hexOf(bytes)}`;
}

export function formatBase64(bytes: Uint8Array): string {
  return "0b" + encodeBase64(bytes);
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX: ReadonlyMap<string, number> = new Map([...B64].map((c, i) => [c, i]));

function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] as number;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    s += B64[(n >> 18) & 63];
    s += B64[(n >> 12) & 63];
    s += b === undefined ? "=" : B64[(n >> 6) & 63];
    s += c === undefined ? "=" : B64[n & 63];
  }
  return s;
}

/** Strict base64 (RFC 4648 §4 alphabet, padding required to a multiple of 4). */
function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const ch = text[i + k] as string;
      const v = ch === "=" ? 0 : B64_INDEX.get(ch);
      if (v === undefined) return undefined;
      n = (n << 6) | v;
    }
    for (let k = 2; k >= 0; k--) {
      if (o + (2 - k) < out.length) out[o + (2 - k)] = (n >> (8 * k)) & 0xff;
    }
    o += 3;
  }
  return out;
}

/** RFC 7143 §6.1 list-of-values: comma-separated, no empty members. */
export function parseList(value: string): string[] | undefined {
  const items = value.split(",");
  return items.some((v) => v.length === 0) ? undefined : items;
}
