/**
 * Finds PDU boundaries in one direction of an iSCSI TCP stream without decoding or buffering
 * PDUs, so the fault proxy can act "on the next Data-In" or "half way through this PDU" while
 * forwarding the bytes as they come.
 *
 * It reads only the length fields (RFC 7143 §11.2.1: TotalAHSLength at byte 4, DataSegmentLength
 * at bytes 5-7) and the few fields a fault rule may match on. A PDU is reported as a header piece
 * (BHS + AHS + header digest, assembled when it spans chunks: at most 48 + 1020 + 4 bytes) then
 * body pieces (views of the pushed chunks: data segment, padding, data digest). Nothing of the body
 * is buffered, so no length field read off the wire can make it allocate.
 *
 * Whether digests are present is asked at the start of each PDU (`digests()`): the proxy switches
 * them on after the final Login Response, as the peers do (RFC 7143 §13.1: digests start with the
 * first PDU after login).
 */
import { BHS_LENGTH } from "../core/pdu/opcodes.js";

export interface DigestPresence {
  readonly header: boolean;
  readonly data: boolean;
}

/** The parts of a PDU header a fault rule may look at. */
export interface PduHeader {
  /** Position of the PDU in its direction of the stream, from 0. */
  readonly index: number;
  readonly opcode: number;
  /** I bit (byte 0, 0x40): immediate delivery, meaningful on initiator opcodes. */
  readonly immediate: boolean;
  /** Byte 1: F bit and the opcode-specific flags (TMF function, login stages...). */
  readonly flags: number;
  readonly ahsLength: number;
  readonly dataLength: number;
  readonly initiatorTaskTag: number;
  /** The first CDB byte (SCSI opcode) of a SCSI Command, else undefined. */
  readonly scsiOpcode: number | undefined;
  /** The task management function (1-8) of a TMF Request, else undefined. */
  readonly tmfFunction: number | undefined;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /** BHS + AHS + header digest. */
  readonly headerLength: number;
  /** The whole PDU on the wire: header, data, padding, data digest. */
  readonly totalLength: number;
}

/** A contiguous run of one PDU's bytes, in stream order. */
export interface PduPiece {
  readonly pdu: PduHeader;
  /** True for the header piece (always the first piece of a PDU, and always whole). */
  readonly header: boolean;
  /** Offset of `bytes` from the start of the PDU. */
  readonly offset: number;
  readonly bytes: Uint8Array;
  /** True for the PDU's last piece. */
  readonly end: boolean;
}

const DIGEST_LENGTH = 4;
const MAX_HEADER_LENGTH = BHS_LENGTH + 255 * 4 + DIGEST_LENGTH;

/** Byte offset of the data segment and what follows it, for a PDU header. */
export function dataRange(pdu: PduHeader): { readonly start: number; readonly end: number } {
  return { start: pdu.headerLength, end: pdu.headerLength + pdu.dataLength };
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

export function readHeader(bhs: Uint8Array, index: number, digests: DigestPresence): PduHeader {
  const opcode = bhs[0]! & 0x3f;
  const ahsLength = bhs[4]! * 4;
  const dataLength = (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
  const headerLength = BHS_LENGTH + ahsLength + (digests.header ? DIGEST_LENGTH : 0);
  const dataDigest = digests.data && dataLength > 0;
  return {
    index,
    opcode,
    immediate: (bhs[0]! & 0x40) !== 0,
    flags: bhs[1]!,
    ahsLength,
    dataLength,
    initiatorTaskTag: ((bhs[16]! << 24) | (bhs[17]! << 16) | (bhs[18]! << 8) | bhs[19]!) >>> 0,
    scsiOpcode: opcode === 0x01 ? bhs[32] : undefined,
    tmfFunction: opcode === 0x02 ? bhs[1]! & 0x7f : undefined,
    headerDigest: digests.header,
    // RFC 7143 §11.2.3: a PDU without a data segment carries no data digest.
    dataDigest,
    headerLength,
    totalLength: headerLength + padded(dataLength) + (dataDigest ? DIGEST_LENGTH : 0),
  };
}

/**
 * One direction of a stream. `push` calls `onPiece` for each piece, in order and synchronously,
 * so a handler that changes the digest setting (at the end of the final Login Response) is seen
 * by the very next PDU even when it came in the same chunk.
 */
export class PduStream {
  private readonly headerBuffer = new Uint8Array(MAX_HEADER_LENGTH);
  private headerFilled = 0;
  private current: PduHeader | undefined;
  /** Bytes of the current PDU passed on so far (header included). */
  private consumed = 0;
  private count = 0;

  constructor(private readonly digests: () => DigestPresence) {}

  /** PDUs whose header has been seen. */
  get pdus(): number {
    return this.count;
  }

  /** True when the stream sits exactly between two PDUs. */
  get atBoundary(): boolean {
    return this.current === undefined && this.headerFilled === 0;
  }

  push(chunk: Uint8Array, onPiece: (piece: PduPiece) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.current === undefined) {
        at = this.takeHeader(chunk, at, onPiece);
        continue;
      }
      const pdu = this.current;
      const n = Math.min(chunk.length - at, pdu.totalLength - this.consumed);
      const offset = this.consumed;
      this.consumed += n;
      const end = this.consumed === pdu.totalLength;
      if (end) this.current = undefined;
      onPiece({ pdu, header: false, offset, bytes: chunk.subarray(at, at + n), end });
      at += n;
    }
  }

  /** Gathers a header; returns where in `chunk` it stopped. */
  private takeHeader(chunk: Uint8Array, at: number, onPiece: (piece: PduPiece) => void): number {
    const buffer = this.headerBuffer;
    // The header length is known once byte 4 (TotalAHSLength) is in.
    const need = (): number => {
      if (this.headerFilled < BHS_LENGTH) return BHS_LENGTH;
      return BHS_LENGTH + buffer[4]! * 4 + (this.digests().header ? DIGEST_LENGTH : 0);
    };
    while (at < chunk.length) {
      const want = need() - this.headerFilled;
      if (want === 0) break;
      const n = Math.min(want, chunk.length - at);
      buffer.set(chunk.subarray(at, at + n), this.headerFilled);
      this.headerFilled += n;
      at += n;
    }
    if (this.headerFilled < BHS_LENGTH || this.headerFilled < need()) return at;
    const pdu = readHeader(buffer, this.count++, this.digests());
    const bytes = buffer.slice(0, pdu.headerLength);
    this.headerFilled = 0;
    this.consumed = pdu.headerLength;
    const end = pdu.totalLength === pdu.headerLength;
    this.current = end ? undefined : pdu;
    onPiece({ pdu, header: true, offset: 0, bytes, end });
    return at;
  }
}
