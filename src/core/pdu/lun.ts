/**
 * The 8-byte LUN field of the BHS (RFC 7143 §11.3.4 defers to SAM: SAM-5 §4.7).
 *
 * We write the two single-level forms every target understands:
 * - peripheral device addressing (method 00b) for LUN < 256: byte 0 = 0 (bus 0), byte 1 = LUN;
 * - flat space addressing (method 01b) for LUN 256-16383: bytes 0-1 = 01b << 14 | LUN.
 * Bytes 2-7 (the second to fourth levels) are zero.
 */
import { LocalProtocolError } from "../errors.js";

/** The largest LUN flat space addressing can express (14 bits). */
export const MAX_LUN = 0x3fff;

/** Writes all 8 bytes of the LUN field at `offset`; throws LocalProtocolError unless 0 <= lun <= 16383. */
export function writeLun(target: Uint8Array, offset: number, lun: number): void {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) {
    throw new LocalProtocolError(`LUN ${lun} is not an integer in [0, ${MAX_LUN}] (single-level peripheral or flat addressing)`);
  }
  target.fill(0, offset, offset + 8);
  if (lun < 256) {
    target[offset + 1] = lun;
  } else {
    target[offset] = 0x40 | (lun >>> 8);
    target[offset + 1] = lun & 0xff;
  }
}

/**
 * Reads the first level of the LUN field as a number: bytes 0-1 with the two address-method bits
 * masked off. For peripheral (bus 0) and flat addressing that is exactly the LUN. For the other
 * methods (logical unit, extended) and for peripheral addressing with a non-zero bus, it is the
 * raw 14-bit value, which identifies the unit within one target but is not a LUN the caller could
 * write back with `writeLun` in the same form. Bytes 2-7 are ignored: we only speak single-level
 * LUNs.
 */
export function readLun(source: Uint8Array, offset: number): number {
  return ((source[offset]! & 0x3f) << 8) | source[offset + 1]!;
}
