/**
 * Big-endian field access at fixed offsets: every iSCSI header field (RFC 7143 §11.2.1: "network
 * byte order"), every iSNS field (RFC 4171 §5.1) and every CDB and SCSI data field (SPC-4 §3.5.1)
 * is laid out so. One module for all of them, so that the byte math exists once. Plain byte math
 * on the Uint8Array: no DataView to allocate per PDU. Callers guarantee the offsets are in bounds
 * (a BHS is always 48 bytes; SCSI parsers go through scsi/wire.ts's bounded FieldReader).
 * Writes need no masking: a Uint8Array stores each value modulo 256.
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

/** A 64-bit big-endian number, always a bigint (scsi/wire.ts applies the 64-bit rule on top). */
export function readU64(b: Uint8Array, o: number): bigint {
  return (BigInt(readU32(b, o)) << 32n) | BigInt(readU32(b, o + 4));
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

/** A 64-bit value given as a safe integer or a bigint (the caller has range-checked it). */
export function writeU64(b: Uint8Array, o: number, v: number | bigint): void {
  const big = BigInt(v);
  writeU32(b, o, Number((big >> 32n) & 0xffff_ffffn));
  writeU32(b, o + 4, Number(big & 0xffff_ffffn));
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

/** A shared empty payload: zero-length views cannot be written through, so sharing is safe. */
export const EMPTY: Uint8Array = new Uint8Array(0);
