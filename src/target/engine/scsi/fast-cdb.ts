/**
 * A fast path for the four CDBs that carry nearly all I/O: READ(10), READ(16), WRITE(10) and
 * WRITE(16). core/scsi's `parseCdb` handles every CDB; profiled under `iscsi-perf` (4 KiB reads,
 * queue depth 32) it took a fifth of the target's CPU, building a reader and a message string per
 * call. This reads the same fields straight off the bytes and returns the very shape `parseCdb`
 * returns (a property test holds the two to agreement); every other CDB still goes to `parseCdb`.
 */
import type { ReadCdb, WriteCdb } from "../../../core/scsi/parse-cdb.js";

const TWO_32 = 0x1_0000_0000;
/** The high 32 bits of an LBA below 2^53 (the 64-bit rule: larger LBAs are bigints). */
const SAFE_HIGH = 0x1f_ffff;

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function parseTransferCdb(cdb: Uint8Array): ReadCdb | WriteCdb | undefined {
  const opcode = cdb[0];
  switch (opcode) {
    case 0x28:
    case 0x2a: {
      if (cdb.length < 10) return undefined;
      const flags = cdb[1]!;
      return {
        opcode,
        control: cdb[9]!,
        lba: u32(cdb, 2),
        blocks: (cdb[7]! << 8) | cdb[8]!,
        dpo: (flags & 0x10) !== 0,
        fua: (flags & 0x08) !== 0,
        protect: flags >>> 5,
        group: cdb[6]! & 0x1f,
        kind: opcode === 0x28 ? "read" : "write",
        variant: 10,
      };
    }
    case 0x88:
    case 0x8a: {
      if (cdb.length < 16) return undefined;
      const flags = cdb[1]!;
      const high = u32(cdb, 2);
      const low = u32(cdb, 6);
      const lba = high <= SAFE_HIGH ? high * TWO_32 + low : (BigInt(high) << 32n) | BigInt(low);
      return {
        opcode,
        control: cdb[15]!,
        lba,
        blocks: u32(cdb, 10),
        dpo: (flags & 0x10) !== 0,
        fua: (flags & 0x08) !== 0,
        protect: flags >>> 5,
        group: cdb[14]! & 0x1f,
        kind: opcode === 0x88 ? "read" : "write",
        variant: 16,
      };
    }
    default:
      return undefined;
  }
}
