/**
 * CRC32C (Castagnoli), the iSCSI header and data digest (RFC 7143 §13.1, RFC 3720 Appendix B.4).
 *
 * This is the pure fallback the core uses when the host injects nothing faster; the Node host
 * injects a native one with the same semantics. It processes 16 bytes per step with sixteen
 * 256-entry tables ("slicing-by-16"), built once when the module loads.
 */

/**
 * CRC32C (Castagnoli, reflected, poly 0x82F63B78). With `previous` (a finished CRC returned
 * earlier) it continues: `crc32c(b, crc32c(a)) === crc32c(a ++ b)`. Returns an unsigned 32-bit
 * number. `previous` of 0 is the same as none, so a running CRC can start at 0.
 */
export type Crc32c = (data: Uint8Array, previous?: number) => number;

/** The reflected form of the Castagnoli polynomial 0x1EDC6F41. */
const POLYNOMIAL = 0x82f63b78;
const SLICES = 16;

/**
 * TABLE[k * 256 + n] is the CRC register after feeding byte n followed by k zero bytes; the
 * sixteen slices let one step fold sixteen input bytes with table look-ups only.
 */
const TABLE: Uint32Array = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256 * SLICES);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    table[n] = c >>> 0;
  }
  for (let k = 1; k < SLICES; k++) {
    for (let n = 0; n < 256; n++) {
      const prev = table[(k - 1) * 256 + n]!;
      table[k * 256 + n] = (prev >>> 8) ^ table[prev & 0xff]!;
    }
  }
  return table;
}

export const crc32c: Crc32c = (data: Uint8Array, previous = 0): number => {
  const t = TABLE;
  // The finished CRC is the register inverted; undo that to continue from it.
  let crc = ~previous;
  let i = 0;
  const end16 = data.length - 15;
  while (i < end16) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t[0xf00 + (a & 0xff)]! ^
      t[0xe00 + ((a >>> 8) & 0xff)]! ^
      t[0xd00 + ((a >>> 16) & 0xff)]! ^
      t[0xc00 + (a >>> 24)]! ^
      t[0xb00 + data[i + 4]!]! ^
      t[0xa00 + data[i + 5]!]! ^
      t[0x900 + data[i + 6]!]! ^
      t[0x800 + data[i + 7]!]! ^
      t[0x700 + data[i + 8]!]! ^
      t[0x600 + data[i + 9]!]! ^
      t[0x500 + data[i + 10]!]! ^
      t[0x400 + data[i + 11]!]! ^
      t[0x300 + data[i + 12]!]! ^
      t[0x200 + data[i + 13]!]! ^
      t[0x100 + data[i + 14]!]! ^
      t[data[i + 15]!]!;
    i += 16;
  }
  const end = data.length;
  while (i < end) crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
};
