/**
 * Additional Header Segments (RFC 7143 §11.2.2). Only the SCSI Command carries them: an Extended
 * CDB AHS for CDB bytes past the 16 the BHS holds (§11.2.2.3), and a Bidirectional Read Expected
 * Data Transfer Length AHS (§11.2.2.4). Each AHS is AHSLength (2 bytes), AHSType (1 byte) and
 * AHSLength bytes more, padded to a 4-byte boundary.
 */
import { RemoteProtocolError } from "../errors.js";
import { hex } from "../hex.js";
import { Opcode, opcodeName } from "./opcodes.js";
import { padding, readU16, readU32 } from "../bytes.js";

export const AHS_TYPE_EXTENDED_CDB = 0x01;
export const AHS_TYPE_BIDI_READ_LENGTH = 0x02;
/** RFC 7143 §11.2.2.1: AHS codes 60-63 are for non-iSCSI extensions; all others but 1 and 2 are reserved. */
const FIRST_EXTENSION_AHS_TYPE = 60;
/** TotalAHSLength is one byte counting 4-byte words. */
export const MAX_AHS_LENGTH = 255 * 4;
/** The CDB bytes the BHS holds (bytes 32-47). */
export const BHS_CDB_LENGTH = 16;

export interface CommandAhs {
  /** The whole CDB: the BHS's 16 bytes followed by the extended bytes, or the BHS's 16 alone. */
  readonly cdb: Uint8Array;
  readonly bidiReadDataLength: number | undefined;
}

/**
 * Parses a SCSI Command's AHS. Throws RemoteProtocolError for an AHS that runs past
 * TotalAHSLength, a reserved AHS type, a repeated type, or a length its type does not allow.
 * Extension types 60-63 are skipped: we understand none, and they carry nothing we must act on.
 */
export function parseCommandAhs(bhs: Uint8Array, ahs: Uint8Array): CommandAhs {
  let extended: Uint8Array | undefined;
  let bidiReadDataLength: number | undefined;
  let at = 0;
  // Both ahs.length and every AHS's padded size are multiples of 4, so at least 4 bytes are left.
  while (at < ahs.length) {
    const left = ahs.length - at;
    const length = readU16(ahs, at);
    // RFC 7143 §11.2.2.1: the two high bits of AHSType are reserved.
    const type = ahs[at + 2]! & 0x3f;
    const total = 3 + length + padding(3 + length);
    if (total > left) {
      throw malformed(bhs, at, `type ${type} AHSLength ${length} runs past TotalAHSLength (${ahs.length} bytes)`);
    }
    if (type === AHS_TYPE_EXTENDED_CDB) {
      if (extended !== undefined) throw malformed(bhs, at, "a second Extended CDB AHS");
      // AHSLength = CDBLength - 15: the reserved byte plus the CDB bytes past the 16th.
      if (length < 1) throw malformed(bhs, at, `Extended CDB AHSLength ${length} (must be at least 1)`);
      extended = ahs.subarray(at + 4, at + 3 + length);
    } else if (type === AHS_TYPE_BIDI_READ_LENGTH) {
      if (bidiReadDataLength !== undefined) throw malformed(bhs, at, "a second Bidirectional Read AHS");
      if (length !== 5) throw malformed(bhs, at, `Bidirectional Read AHSLength ${length} (must be 5)`);
      bidiReadDataLength = readU32(ahs, at + 4);
    } else if (type < FIRST_EXTENSION_AHS_TYPE) {
      throw malformed(bhs, at, `AHSType ${type} is reserved`);
    }
    at += total;
  }
  const head = bhs.subarray(32, 32 + BHS_CDB_LENGTH);
  if (extended === undefined || extended.length === 0) return { cdb: head, bidiReadDataLength };
  const cdb = new Uint8Array(BHS_CDB_LENGTH + extended.length);
  cdb.set(head, 0);
  cdb.set(extended, BHS_CDB_LENGTH);
  return { cdb, bidiReadDataLength };
}

function malformed(bhs: Uint8Array, at: number, what: string): RemoteProtocolError {
  return new RemoteProtocolError(
    `${opcodeName(Opcode.ScsiCommand)} (${hex(Opcode.ScsiCommand, 2)}, ITT ${hex(readU32(bhs, 16), 8)}): malformed AHS at offset ${at}: ${what}`,
  );
}
