/**
 * iSNSP on the wire (RFC 4171 §5): the 12-byte PDU header, TLV attributes padded to 4 bytes, and a
 * framer that turns a byte stream into whole messages (a message may span PDUs: First/Last flags,
 * sequence IDs from 0). Every length read off the wire is checked against the bytes it claims
 * before anything is allocated for it; a message is bounded in total by `maxMessageBytes`.
 */
import { LocalProtocolError } from "../errors.js";
import { readU16, readU32 as readU32At, writeU16, writeU32 } from "../bytes.js";
import { decodeUtf8, encodeUtf8 } from "../utf8.js";
import { functionName, ISNSP_HEADER_BYTES, ISNSP_MAX_PAYLOAD, ISNSP_VERSION, IsnsFlag, PORT_UDP_BIT, RESPONSE_BIT } from "./constants.js";
import { IsnsProtocolError } from "./errors.js";
import { decodeIpAddress, encodeIpAddress } from "./ip.js";

/** One TLV. `value` holds the Attribute Value as sent, padding included (RFC 4171 §5.1: Length counts it). */
export interface IsnsAttribute {
  readonly tag: number;
  readonly value: Uint8Array;
}

/** A whole iSNSP message: a request (attributes only) or a response (a status, then attributes). */
export interface IsnsMessage {
  readonly functionId: number;
  readonly transactionId: number;
  /** Client/Server/Replace flags as sent (First/Last are the framer's business). */
  readonly flags: number;
  /** Responses only: RFC 4171 §6.4's status code. */
  readonly status?: number;
  /** In order, the delimiter (tag 0) included where it was sent. */
  readonly attributes: readonly IsnsAttribute[];
}

export function isResponse(functionId: number): boolean {
  return (functionId & RESPONSE_BIT) !== 0;
}

const pad4 = (n: number): number => (n + 3) & ~3;
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------- attribute values

/** A zero-length TLV: the delimiter, or an attribute asked for in a query's operating attributes. */
export function nilAttr(tag: number): IsnsAttribute {
  return { tag, value: EMPTY };
}

export function delimiter(): IsnsAttribute {
  return nilAttr(0);
}

/** RFC 4171 §6.1: strings are UTF-8, NUL-terminated and padded to a multiple of 4 bytes. */
export function stringAttr(tag: number, text: string): IsnsAttribute {
  const bytes = encodeUtf8(text);
  const value = new Uint8Array(pad4(bytes.length + 1));
  value.set(bytes);
  return { tag, value };
}

export function u32Attr(tag: number, n: number): IsnsAttribute {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new LocalProtocolError(`iSNS attribute ${tag}: ${n} is not a 32-bit unsigned number`);
  const value = new Uint8Array(4);
  writeU32(value, 0, n);
  return { tag, value };
}

export function ipAttr(tag: number, address: string): IsnsAttribute {
  return { tag, value: encodeIpAddress(address) };
}

/** RFC 4171 §6.3.2: a TCP port in the low 16 bits (the UDP bit clear). */
export function portAttr(tag: number, port: number, udp = false): IsnsAttribute {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new LocalProtocolError(`iSNS attribute ${tag}: ${port} is not a port`);
  return u32Attr(tag, (udp ? PORT_UDP_BIT : 0) + port);
}

export function readString(a: IsnsAttribute, where: string): string {
  let end = a.value.indexOf(0);
  if (end < 0) end = a.value.length;
  // Bytes after the NUL are padding and must be zero (RFC 4171 §5.1.5).
  if (a.value.subarray(end).some((b) => b !== 0)) throw new IsnsProtocolError(`${where}: bytes after the string's NUL terminator`);
  return decodeUtf8(a.value.subarray(0, end), where);
}

export function readU32(a: IsnsAttribute, where: string): number {
  if (a.value.length !== 4) throw new IsnsProtocolError(`${where}: a 4-byte value has length ${a.value.length}`);
  return readU32At(a.value, 0);
}

export function readIp(a: IsnsAttribute, where: string): string {
  if (a.value.length !== 16) throw new IsnsProtocolError(`${where}: an IP address has length ${a.value.length}, not 16`);
  return decodeIpAddress(a.value);
}

export function readPort(a: IsnsAttribute, where: string): { readonly port: number; readonly udp: boolean } {
  const v = readU32(a, where);
  return { port: v & 0xffff, udp: (v & PORT_UDP_BIT) !== 0 };
}

// ---------------------------------------------------------------- encoding

/** Bytes of the attributes as TLVs. */
export function encodeAttributes(attributes: readonly IsnsAttribute[]): Uint8Array {
  let length = 0;
  for (const a of attributes) length += 8 + pad4(a.value.length);
  const out = new Uint8Array(length);
  let o = 0;
  for (const a of attributes) {
    const padded = pad4(a.value.length);
    writeU32(out, o, a.tag);
    writeU32(out, o + 4, padded);
    out.set(a.value, o + 8);
    o += 8 + padded;
  }
  return out;
}

export interface EncodeOptions {
  /** Largest PDU payload to send (a multiple of 4); a longer message is split at attribute boundaries. */
  readonly maxPduPayload?: number;
}

/**
 * The PDUs of one message (RFC 4171 §5.2: every PDU carries the message's function and
 * transaction ID, sequence IDs count from 0, First and Last mark the ends).
 */
export function encodeMessage(message: IsnsMessage, options: EncodeOptions = {}): Uint8Array[] {
  const max = options.maxPduPayload ?? ISNSP_MAX_PAYLOAD - 3;
  if (max < 12 || max > ISNSP_MAX_PAYLOAD || max % 4 !== 0) throw new LocalProtocolError(`maxPduPayload ${max} must be a multiple of 4 from 12 to 65532`);
  const response = isResponse(message.functionId);
  if (response !== (message.status !== undefined)) throw new LocalProtocolError(`${functionName(message.functionId)}: a status belongs in responses and only there`);
  const pieces: Uint8Array[] = [];
  if (message.status !== undefined) {
    const status = new Uint8Array(4);
    writeU32(status, 0, message.status);
    pieces.push(status);
  }
  for (const a of message.attributes) {
    const tlv = encodeAttributes([a]);
    if (tlv.length > max) throw new LocalProtocolError(`iSNS attribute ${a.tag} of ${tlv.length} bytes does not fit in a PDU of ${max}`);
    pieces.push(tlv);
  }
  // Whole TLVs per PDU: a receiver then never holds a TLV split across PDUs.
  const payloads: Uint8Array[][] = [[]];
  let size = 0;
  for (const p of pieces) {
    if (size + p.length > max) {
      payloads.push([]);
      size = 0;
    }
    payloads[payloads.length - 1]!.push(p);
    size += p.length;
  }
  const flags = message.flags & ~(IsnsFlag.FirstPdu | IsnsFlag.LastPdu | IsnsFlag.AuthBlock);
  return payloads.map((parts, seq) => {
    const length = parts.reduce((n, p) => n + p.length, 0);
    const pdu = new Uint8Array(ISNSP_HEADER_BYTES + length);
    writeU16(pdu, 0, ISNSP_VERSION);
    writeU16(pdu, 2, message.functionId);
    writeU16(pdu, 4, length);
    writeU16(pdu, 6, flags | (seq === 0 ? IsnsFlag.FirstPdu : 0) | (seq === payloads.length - 1 ? IsnsFlag.LastPdu : 0));
    writeU16(pdu, 8, message.transactionId);
    writeU16(pdu, 10, seq);
    let o = ISNSP_HEADER_BYTES;
    for (const p of parts) {
      pdu.set(p, o);
      o += p.length;
    }
    return pdu;
  });
}

// ---------------------------------------------------------------- decoding

export interface PduHeader {
  readonly version: number;
  readonly functionId: number;
  readonly length: number;
  readonly flags: number;
  readonly transactionId: number;
  readonly sequenceId: number;
}

export function decodeHeader(bytes: Uint8Array): PduHeader {
  if (bytes.length < ISNSP_HEADER_BYTES) throw new IsnsProtocolError(`an iSNSP header is ${ISNSP_HEADER_BYTES} bytes, got ${bytes.length}`);
  return {
    version: readU16(bytes, 0),
    functionId: readU16(bytes, 2),
    length: readU16(bytes, 4),
    flags: readU16(bytes, 6),
    transactionId: readU16(bytes, 8),
    sequenceId: readU16(bytes, 10),
  };
}

/** TLVs from `bytes`: each length is checked against what is left before it is used. */
export function decodeAttributes(bytes: Uint8Array, where: string): IsnsAttribute[] {
  const out: IsnsAttribute[] = [];
  let o = 0;
  while (o < bytes.length) {
    if (bytes.length - o < 8) throw new IsnsProtocolError(`${where}: ${bytes.length - o} bytes left at offset ${o}, too few for a TLV's tag and length`);
    const tag = readU32At(bytes, o);
    const length = readU32At(bytes, o + 4);
    if (length > bytes.length - o - 8) {
      throw new IsnsProtocolError(`${where}: attribute ${tag} at offset ${o} claims ${length} bytes, only ${bytes.length - o - 8} follow`);
    }
    if (length % 4 !== 0) throw new IsnsProtocolError(`${where}: attribute ${tag} has length ${length}, not a multiple of 4 (RFC 4171 §5.1.5)`);
    out.push({ tag, value: bytes.subarray(o + 8, o + 8 + length) });
    o += 8 + length;
  }
  return out;
}

/** A message's payload (the PDUs' payloads joined) as status and attributes. */
export function decodePayload(header: Pick<PduHeader, "functionId" | "transactionId" | "flags">, payload: Uint8Array): IsnsMessage {
  const name = functionName(header.functionId);
  if (isResponse(header.functionId)) {
    if (payload.length < 4) throw new IsnsProtocolError(`${name}: a response of ${payload.length} bytes has no status code`);
    return {
      functionId: header.functionId,
      transactionId: header.transactionId,
      flags: header.flags,
      status: readU32At(payload, 0),
      attributes: decodeAttributes(payload.subarray(4), name),
    };
  }
  return { functionId: header.functionId, transactionId: header.transactionId, flags: header.flags, attributes: decodeAttributes(payload, name) };
}

export interface FramerOptions {
  /** Largest message (all its PDUs' payloads) to reassemble; 1 MiB unless told. */
  readonly maxMessageBytes?: number;
}

/**
 * Byte stream in, whole messages out. Holds at most one PDU's bytes beyond what it was given in
 * the last chunk, and at most `maxMessageBytes` of a message spread over PDUs.
 */
export class IsnsFramer {
  readonly #maxMessageBytes: number;
  #pending: Uint8Array = EMPTY;
  #parts: Uint8Array[] = [];
  #partsBytes = 0;
  #first: PduHeader | undefined;
  #nextSeq = 0;
  #ready: IsnsMessage[] = [];

  constructor(options: FramerOptions = {}) {
    this.#maxMessageBytes = options.maxMessageBytes ?? 1 << 20;
  }

  /** Bytes received; throws IsnsProtocolError on anything that is not iSNSP (the stream is then unusable). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#pending.length === 0) {
      this.#pending = chunk.slice();
    } else {
      const joined = new Uint8Array(this.#pending.length + chunk.length);
      joined.set(this.#pending);
      joined.set(chunk, this.#pending.length);
      this.#pending = joined;
    }
    for (;;) {
      if (this.#pending.length < ISNSP_HEADER_BYTES) return;
      const header = decodeHeader(this.#pending);
      this.#checkHeader(header);
      const total = ISNSP_HEADER_BYTES + header.length;
      if (this.#pending.length < total) return;
      const payload = this.#pending.subarray(ISNSP_HEADER_BYTES, total);
      this.#pending = this.#pending.subarray(total);
      this.#collect(header, payload);
    }
  }

  /** The next whole message, if one is complete. */
  next(): IsnsMessage | undefined {
    return this.#ready.shift();
  }

  /** True when bytes of an unfinished PDU or message are held (a close now cuts a message short). */
  get midMessage(): boolean {
    return this.#pending.length > 0 || this.#first !== undefined;
  }

  #checkHeader(h: PduHeader): void {
    if (h.version !== ISNSP_VERSION) throw new IsnsProtocolError(`iSNSP version ${h.version} (0x${h.version.toString(16).padStart(4, "0")}) where only version 1 exists: not an iSNS server?`);
    if (h.length % 4 !== 0) throw new IsnsProtocolError(`${functionName(h.functionId)}: PDU length ${h.length} is not a multiple of 4 (RFC 4171 §5.1.3)`);
    if ((h.flags & IsnsFlag.AuthBlock) !== 0) throw new IsnsProtocolError(`${functionName(h.functionId)}: carries an authentication block, which this client does not support (run the server with Security = 0)`);
    if (this.#partsBytes + h.length > this.#maxMessageBytes) {
      throw new IsnsProtocolError(`${functionName(h.functionId)}: message longer than ${this.#maxMessageBytes} bytes`);
    }
  }

  #collect(h: PduHeader, payload: Uint8Array): void {
    const first = (h.flags & IsnsFlag.FirstPdu) !== 0;
    const last = (h.flags & IsnsFlag.LastPdu) !== 0;
    const name = functionName(h.functionId);
    if (this.#first === undefined) {
      if (!first || h.sequenceId !== 0) throw new IsnsProtocolError(`${name}: PDU with sequence ID ${h.sequenceId} and no first PDU before it`);
      if (last) {
        this.#ready.push(decodePayload(h, payload));
        return;
      }
      this.#first = h;
    } else {
      const f = this.#first;
      if (first || h.functionId !== f.functionId || h.transactionId !== f.transactionId || h.sequenceId !== this.#nextSeq) {
        throw new IsnsProtocolError(
          `${name}: PDU (transaction ${h.transactionId}, sequence ${h.sequenceId}) where sequence ${this.#nextSeq} of ${functionName(f.functionId)} transaction ${f.transactionId} was due`,
        );
      }
    }
    this.#parts.push(payload.slice());
    this.#partsBytes += payload.length;
    this.#nextSeq = h.sequenceId + 1;
    if (!last) return;
    const whole = new Uint8Array(this.#partsBytes);
    let o = 0;
    for (const p of this.#parts) {
      whole.set(p, o);
      o += p.length;
    }
    const f = this.#first;
    this.#first = undefined;
    this.#parts = [];
    this.#partsBytes = 0;
    this.#nextSeq = 0;
    this.#ready.push(decodePayload(f, whole));
  }
}
