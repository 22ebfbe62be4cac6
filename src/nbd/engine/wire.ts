/**
 * The server's messages as bytes, and the client's request header read back: fixed offsets,
 * big-endian, per the NBD protocol document. Payloads (READ data) are never copied here: a
 * reply is a header to send followed by the caller's own buffer.
 */
import {
  IHAVEOPT,
  Info,
  NBD_REPLY_FLAG_DONE,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  NBDMAGIC,
  OPTION_REPLY_MAGIC,
  ReplyType,
} from "./constants.js";
import { stringBytes } from "./export.js";

const TWO_32 = 2 ** 32;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes a safe integer as 64 bits. */
function setU64(v: DataView, at: number, value: number): void {
  v.setUint32(at, Math.floor(value / TWO_32));
  v.setUint32(at + 4, value >>> 0);
}

/** A request's 64-bit cookie, kept as two halves: it is opaque and only echoed. */
export interface Cookie {
  readonly hi: number;
  readonly lo: number;
}

// ------------------------------------------------------------------ handshake

export const GREETING_LENGTH = 18;

/** NBDMAGIC, IHAVEOPT, handshake flags: the newstyle greeting. */
export function encodeGreeting(handshakeFlags: number): Uint8Array {
  const out = new Uint8Array(GREETING_LENGTH);
  const v = view(out);
  v.setBigUint64(0, NBDMAGIC);
  v.setBigUint64(8, IHAVEOPT);
  v.setUint16(16, handshakeFlags);
  return out;
}

export const OPTION_HEADER_LENGTH = 16;

export interface OptionHeader {
  readonly magic: bigint;
  readonly option: number;
  readonly length: number;
}

export function decodeOptionHeader(bytes: Uint8Array): OptionHeader {
  const v = view(bytes);
  return { magic: v.getBigUint64(0), option: v.getUint32(8), length: v.getUint32(12) };
}

export function isOptionMagic(magic: bigint): boolean {
  return magic === IHAVEOPT;
}

/** An option reply: magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(20 + data.length);
  const v = view(out);
  v.setBigUint64(0, OPTION_REPLY_MAGIC);
  v.setUint32(8, option);
  v.setUint32(12, type >>> 0);
  v.setUint32(16, data.length);
  out.set(data, 20);
  return out;
}

/** What NBD_OPT_EXPORT_NAME is answered with: size, transmission flags, and 124 zeros unless NO_ZEROES. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Uint8Array {
  const out = new Uint8Array(noZeroes ? 10 : 134);
  const v = view(out);
  setU64(v, 0, size);
  v.setUint16(8, flags);
  return out;
}

/** NBD_INFO_EXPORT: type, size, transmission flags (length 12). */
export function encodeInfoExport(size: number, flags: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = view(out);
  v.setUint16(0, Info.Export);
  setU64(v, 2, size);
  v.setUint16(10, flags);
  return out;
}

/** NBD_INFO_NAME or NBD_INFO_DESCRIPTION: type, then the string. */
export function encodeInfoString(type: number, text: string): Uint8Array {
  const bytes = stringBytes(text);
  const out = new Uint8Array(2 + bytes.length);
  view(out).setUint16(0, type);
  out.set(bytes, 2);
  return out;
}

/** NBD_INFO_BLOCK_SIZE: type, minimum, preferred, maximum payload (length 14). */
export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Uint8Array {
  const out = new Uint8Array(14);
  const v = view(out);
  v.setUint16(0, Info.BlockSize);
  v.setUint32(2, minimum);
  v.setUint32(6, preferred);
  v.setUint32(10, maximum);
  return out;
}

/** NBD_REP_SERVER data: name length, name. */
export function encodeServerReplyData(name: string): Uint8Array {
  const bytes = stringBytes(name);
  const out = new Uint8Array(4 + bytes.length);
  view(out).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** NBD_REP_META_CONTEXT data: context id, name. */
export function encodeMetaContextData(id: number, name: string): Uint8Array {
  const bytes = stringBytes(name);
  const out = new Uint8Array(4 + bytes.length);
  view(out).setUint32(0, id);
  out.set(bytes, 4);
  return out;
}

// ------------------------------------------------------------------ transmission

export const REQUEST_HEADER_LENGTH = 28;

export interface RequestHeader {
  readonly magic: number;
  readonly flags: number;
  readonly type: number;
  readonly cookie: Cookie;
  /** The offset, or Infinity when it does not fit in 2^53 (it then lies past any export). */
  readonly offset: number;
  readonly length: number;
}

export function decodeRequestHeader(bytes: Uint8Array): RequestHeader {
  const v = view(bytes);
  const hi = v.getUint32(16);
  const lo = v.getUint32(20);
  return {
    magic: v.getUint32(0),
    flags: v.getUint16(4),
    type: v.getUint16(6),
    cookie: { hi: v.getUint32(8), lo: v.getUint32(12) },
    offset: hi >= 2 ** 21 ? Number.POSITIVE_INFINITY : hi * TWO_32 + lo,
    length: v.getUint32(24),
  };
}

/** A request header, as a client sends it (for tests and clients of this module). */
export function encodeRequestHeader(h: { readonly flags?: number; readonly type: number; readonly cookie: Cookie; readonly offset: number; readonly length: number; readonly magic?: number }): Uint8Array {
  const out = new Uint8Array(REQUEST_HEADER_LENGTH);
  const v = view(out);
  v.setUint32(0, h.magic ?? NBD_REQUEST_MAGIC);
  v.setUint16(4, h.flags ?? 0);
  v.setUint16(6, h.type);
  v.setUint32(8, h.cookie.hi);
  v.setUint32(12, h.cookie.lo);
  setU64(v, 16, h.offset);
  v.setUint32(24, h.length);
  return out;
}

export const SIMPLE_REPLY_LENGTH = 16;

/** A simple reply header (READ data, if any, follows it). */
export function encodeSimpleReply(error: number, cookie: Cookie): Uint8Array {
  const out = new Uint8Array(SIMPLE_REPLY_LENGTH);
  const v = view(out);
  v.setUint32(0, NBD_SIMPLE_REPLY_MAGIC);
  v.setUint32(4, error);
  v.setUint32(8, cookie.hi);
  v.setUint32(12, cookie.lo);
  return out;
}

export const STRUCTURED_HEADER_LENGTH = 20;

function structuredHeader(out: Uint8Array, flags: number, type: number, cookie: Cookie, length: number): DataView {
  const v = view(out);
  v.setUint32(0, NBD_STRUCTURED_REPLY_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  v.setUint32(8, cookie.hi);
  v.setUint32(12, cookie.lo);
  v.setUint32(16, length);
  return v;
}

/** NBD_REPLY_TYPE_NONE with NBD_REPLY_FLAG_DONE. */
export function encodeNoneChunk(cookie: Cookie): Uint8Array {
  const out = new Uint8Array(STRUCTURED_HEADER_LENGTH);
  structuredHeader(out, NBD_REPLY_FLAG_DONE, ReplyType.None, cookie, 0);
  return out;
}

/** The header (and offset) of an NBD_REPLY_TYPE_OFFSET_DATA chunk of `dataLength` bytes; the data follows. */
export function encodeOffsetDataHeader(cookie: Cookie, offset: number, dataLength: number, done: boolean): Uint8Array {
  const out = new Uint8Array(STRUCTURED_HEADER_LENGTH + 8);
  const v = structuredHeader(out, done ? NBD_REPLY_FLAG_DONE : 0, ReplyType.OffsetData, cookie, 8 + dataLength);
  setU64(v, 20, offset);
  return out;
}

/** NBD_REPLY_TYPE_ERROR (final): error, message length, message. */
export function encodeErrorChunk(cookie: Cookie, error: number, message: string): Uint8Array {
  const bytes = stringBytes(message);
  const out = new Uint8Array(STRUCTURED_HEADER_LENGTH + 6 + bytes.length);
  const v = structuredHeader(out, NBD_REPLY_FLAG_DONE, ReplyType.Error, cookie, 6 + bytes.length);
  v.setUint32(20, error);
  v.setUint16(24, bytes.length);
  out.set(bytes, 26);
  return out;
}

/** NBD_REPLY_TYPE_BLOCK_STATUS (final) for one context: id, then (length, flags) per extent. */
export function encodeBlockStatusChunk(cookie: Cookie, contextId: number, extents: readonly { readonly length: number; readonly flags: number }[]): Uint8Array {
  const length = 4 + 8 * extents.length;
  const out = new Uint8Array(STRUCTURED_HEADER_LENGTH + length);
  const v = structuredHeader(out, NBD_REPLY_FLAG_DONE, ReplyType.BlockStatus, cookie, length);
  v.setUint32(20, contextId);
  extents.forEach((e, i) => {
    v.setUint32(24 + 8 * i, e.length);
    v.setUint32(28 + 8 * i, e.flags);
  });
  return out;
}
