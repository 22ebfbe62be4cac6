/**
 * The UNMAP parameter list (SBC-3, UNMAP command): an 8-byte header, then 16-byte block
 * descriptors of {LBA, number of blocks}. Built by the initiator, parsed by the target.
 */
import { writeU16, writeU32, writeU64 } from "../bytes.js";
import { LocalProtocolError } from "../errors.js";
import type { InvalidParameterList } from "./parameter-list.js";
import { PARAMETER_LIST_LENGTH_ERROR, invalidParameterList } from "./parameter-list.js";
import type { U64 } from "./wire.js";
import { FieldReader, U32_MAX, checkU64, checkUint } from "./wire.js";

export interface UnmapDescriptor {
  readonly lba: U64;
  /** NUMBER OF LOGICAL BLOCKS, 0..2^32-1. */
  readonly blocks: number;
}

/**
 * The most descriptors one parameter list can carry: the 16-bit PARAMETER LIST LENGTH of the CDB
 * must cover 8 + 16 × n bytes.
 */
export const MAX_UNMAP_DESCRIPTORS = Math.floor((0xffff - 8) / 16);

/** Builds the parameter list; its length goes in the UNMAP CDB's PARAMETER LIST LENGTH. */
export function buildUnmapParameterList(descriptors: readonly UnmapDescriptor[]): Uint8Array {
  if (descriptors.length > MAX_UNMAP_DESCRIPTORS) {
    throw new LocalProtocolError(
      `${descriptors.length} UNMAP block descriptors; at most ${MAX_UNMAP_DESCRIPTORS} fit one parameter list`,
    );
  }
  const out = new Uint8Array(8 + 16 * descriptors.length);
  // UNMAP DATA LENGTH counts the bytes after itself; the descriptor length the descriptors alone.
  writeU16(out, 0, out.length - 2);
  writeU16(out, 2, 16 * descriptors.length);
  descriptors.forEach((d, i) => {
    writeU64(out, 8 + 16 * i, checkU64(`descriptor ${i} LBA`, d.lba));
    writeU32(out, 16 + 16 * i, checkUint(`descriptor ${i} NUMBER OF LOGICAL BLOCKS`, d.blocks, U32_MAX));
  });
  return out;
}

export interface UnmapParameterList {
  readonly kind: "unmap-parameters";
  readonly descriptors: readonly UnmapDescriptor[];
}

/**
 * Target side: parses the Data-Out of an UNMAP command. An empty list unmaps nothing; a list of
 * 1 to 7 bytes, or one whose UNMAP BLOCK DESCRIPTOR DATA LENGTH runs past the data, is a
 * PARAMETER LIST LENGTH ERROR. SBC-3: a trailing partial descriptor (a length that is not a
 * multiple of 16) is ignored. Checking the LBAs against the capacity and the counts against the
 * Block Limits page is the device server's job.
 */
export function parseUnmapParameterList(bytes: Uint8Array): UnmapParameterList | InvalidParameterList {
  if (bytes.length === 0) return { kind: "unmap-parameters", descriptors: [] };
  if (bytes.length < 8) {
    return invalidParameterList(PARAMETER_LIST_LENGTH_ERROR, undefined, `${bytes.length}-byte UNMAP parameter list`);
  }
  const r = new FieldReader(bytes, "UNMAP parameter list");
  const descriptorLength = r.u16(2);
  if (descriptorLength > bytes.length - 8) {
    return invalidParameterList(
      PARAMETER_LIST_LENGTH_ERROR,
      2,
      `UNMAP BLOCK DESCRIPTOR DATA LENGTH ${descriptorLength} exceeds the ${bytes.length - 8} bytes sent`,
    );
  }
  const descriptors: UnmapDescriptor[] = [];
  for (let off = 8; off + 16 <= 8 + descriptorLength; off += 16) {
    descriptors.push({ lba: r.u64(off), blocks: r.u32(off + 8) });
  }
  return { kind: "unmap-parameters", descriptors };
}
