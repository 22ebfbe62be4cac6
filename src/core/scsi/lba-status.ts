/**
 * SBC-3 GET LBA STATUS (SERVICE ACTION IN(16), 9Eh/12h): which logical blocks from a starting
 * LBA are mapped, deallocated or anchored on a thin-provisioned unit; and PRE-FETCH(16) (90h),
 * the hint that some blocks are about to be read. The initiator's side: CDB builders and the
 * parameter data parser.
 */
import { writeU32, writeU64 } from "../bytes.js";
import { ServiceActionIn16 } from "./opcodes.js";
import { FieldReader, type U64, U32_MAX, checkU64, checkUint, putFlag } from "./wire.js";

/** PROVISIONING STATUS of an LBA status descriptor (SBC-3). */
export const ProvisioningStatus = {
  Mapped: 0,
  Deallocated: 1,
  Anchored: 2,
} as const;

/** GET LBA STATUS: descriptors from `lba`, at most `allocationLength` bytes of them. */
export function buildGetLbaStatusCdb(o: { readonly lba: U64; readonly allocationLength: number }): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = 0x9e;
  cdb[1] = ServiceActionIn16.GetLbaStatus;
  writeU64(cdb, 2, checkU64("STARTING LOGICAL BLOCK ADDRESS", o.lba));
  writeU32(cdb, 10, checkUint("ALLOCATION LENGTH", o.allocationLength, U32_MAX));
  return cdb;
}

/** Bytes GET LBA STATUS needs for `descriptors` descriptors: an 8-byte header, 16 each. */
export function lbaStatusAllocation(descriptors: number): number {
  return 8 + 16 * descriptors;
}

export interface LbaStatusDescriptor {
  /** First LBA of the extent (64-bit rule). */
  readonly lba: U64;
  readonly blocks: number;
  /** ProvisioningStatus; other values are reserved. */
  readonly provisioningStatus: number;
}

export interface LbaStatusData {
  /** PARAMETER DATA LENGTH: the bytes after the field itself. */
  readonly parameterDataLength: number;
  readonly descriptors: readonly LbaStatusDescriptor[];
  /** The device server had more descriptors than the allocation length let through. */
  readonly truncated: boolean;
}

/** GET LBA STATUS parameter data; descriptors cut short by the allocation length are left out. */
export function parseLbaStatusData(bytes: Uint8Array): LbaStatusData {
  const r = new FieldReader(bytes, "GET LBA STATUS data");
  r.need(8, "the parameter data header");
  const parameterDataLength = r.u32(0);
  const end = Math.min(bytes.length, 4 + parameterDataLength);
  const descriptors: LbaStatusDescriptor[] = [];
  for (let at = 8; at + 16 <= end; at += 16) {
    descriptors.push({ lba: r.u64(at), blocks: r.u32(at + 8), provisioningStatus: r.bits(at + 12, 0, 4) });
  }
  return { parameterDataLength, descriptors, truncated: 4 + parameterDataLength > bytes.length };
}

/** PRE-FETCH(16): asks the unit to bring `blocks` blocks from `lba` into its cache; `immed` answers at once. */
export function buildPreFetch16Cdb(o: { readonly lba: U64; readonly blocks: number; readonly immed?: boolean }): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = 0x90;
  putFlag(cdb, 1, 1, o.immed);
  writeU64(cdb, 2, checkU64("LOGICAL BLOCK ADDRESS", o.lba));
  writeU32(cdb, 10, checkUint("PREFETCH LENGTH", o.blocks, U32_MAX));
  return cdb;
}
