/**
 * Big-endian field access at fixed offsets, as every iSCSI header field is laid out
 * (RFC 7143 §11.2.1: "network byte order"). Plain byte math on the Uint8Array: no DataView
 * to allocate per PDU. Callers guarantee the offsets are in bounds (a BHS is always 48 bytes).
 */

export function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function readU24(b: Uint8Array, o: number): number {
  return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
}

export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** A 48-bit big-endian number (the ISID, RFC 7143 §11.12.5); exact, as 2^48 < 2^53. */
export function readU48(b: Uint8Array, o: number): number {
  return readU16(b, o) * 0x1_0000_0000 + readU32(b, o + 2);
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function writeU24(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 16;
  b[o + 1] = v >>> 8;
  b[o + 2] = v;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export function writeU48(b: Uint8Array, o: number, v: number): void {
  writeU16(b, o, Math.floor(v / 0x1_0000_0000));
  writeU32(b, o + 2, v >>> 0);
}

/**
 * Digests go on the wire least significant byte first (RFC 3720 Appendix B.4 lists the CRC of
 * 32 zero bytes, 0x8A9136AA, as the bytes aa 36 91 8a), unlike every other field.
 */
export function readDigest(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function writeDigest(b: Uint8Array, o: number, crc: number): void {
  b[o] = crc;
  b[o + 1] = crc >>> 8;
  b[o + 2] = crc >>> 16;
  b[o + 3] = crc >>> 24;
}

/** Bytes of padding after `length` bytes to reach a 4-byte boundary (RFC 7143 §11.2.3). */
export function padding(length: number): number {
  return -length & 3;
}

export function hex32(v: number): string {
  return `0x${v.toString(16).padStart(8, "0")}`;
}

export function hex8(v: number): string {
  return `0x${v.toString(16).padStart(2, "0")}`;
}

/** A shared empty payload: zero-length views cannot be written through, so sharing is safe. */
export const EMPTY: Uint8Array = new Uint8Array(0);
