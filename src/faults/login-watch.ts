/**
 * Follows a login through the proxy to learn whether digests are on once it completes: the
 * proxy cannot find PDU boundaries in full feature phase without knowing that (RFC 7143 §13.1).
 *
 * It reads the HeaderDigest and DataDigest keys of Login Requests and Responses. A negotiation's
 * outcome is the single value answered to an offer (the offer is a list, "CRC32C,None"; the answer
 * one value), so the last single value seen in either direction wins. Digests apply from the
 * first PDU after the final Login Response (T=1, NSG=3, status 0) in both directions. A
 * connection that joins by a leading or non-leading login negotiates its own digests, so each
 * proxied connection has its own watch.
 */
import { Opcode } from "../core/pdu/opcodes.js";
import type { DigestPresence, PduPiece } from "./pdu-stream.js";

const NONE: DigestPresence = { header: false, data: false };
/** Login text is at most a few KiB (RFC 7143 §13.12 bounds each PDU to 8192 bytes); keep 64 KiB. */
const MAX_LOGIN_TEXT = 64 * 1024;

export type LoginPhase = "login" | "full-feature";

export class LoginWatch {
  private phaseValue: LoginPhase = "login";
  private active: DigestPresence = NONE;
  private readonly negotiated = { header: false, data: false };
  private text: Uint8Array[] = [];
  private textLength = 0;
  private finalResponse = false;

  /** `forced`: the digests to assume after login whatever the text says (a CLI flag). */
  constructor(private readonly forced?: DigestPresence) {}

  get phase(): LoginPhase {
    return this.phaseValue;
  }

  /** Digests of the next PDU to start, in either direction. */
  get digests(): DigestPresence {
    return this.active;
  }

  /** Feed every piece of both directions, in the order each direction carries them. */
  onPiece(piece: PduPiece): void {
    if (this.phaseValue !== "login") return;
    const { pdu } = piece;
    if (pdu.opcode !== Opcode.LoginRequest && pdu.opcode !== Opcode.LoginResponse) return;
    if (piece.header) {
      this.text = [];
      this.textLength = 0;
      // RFC 7143 §11.13: T bit, NSG 3 (full feature) and Status-Class 0 end the login.
      this.finalResponse =
        pdu.opcode === Opcode.LoginResponse && (pdu.flags & 0x80) !== 0 && (pdu.flags & 0x03) === 3 && piece.bytes[36] === 0;
    } else {
      this.collect(piece);
    }
    if (!piece.end) return;
    this.readKeys();
    if (this.finalResponse) {
      this.phaseValue = "full-feature";
      this.active = this.forced ?? { header: this.negotiated.header, data: this.negotiated.data };
    }
  }

  private collect(piece: PduPiece): void {
    const start = piece.pdu.headerLength;
    const end = start + piece.pdu.dataLength;
    const from = Math.max(piece.offset, start);
    const to = Math.min(piece.offset + piece.bytes.length, end);
    if (to <= from || this.textLength + (to - from) > MAX_LOGIN_TEXT) return;
    this.text.push(piece.bytes.slice(from - piece.offset, to - piece.offset));
    this.textLength += to - from;
  }

  private readKeys(): void {
    if (this.textLength === 0) return;
    let text = "";
    for (const part of this.text) for (const byte of part) text += String.fromCharCode(byte);
    this.text = [];
    this.textLength = 0;
    for (const pair of text.split("\0")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const key = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value.includes(",")) continue; // an offer, not an outcome
      if (key === "HeaderDigest") this.negotiated.header = value === "CRC32C";
      else if (key === "DataDigest") this.negotiated.data = value === "CRC32C";
    }
  }
}
