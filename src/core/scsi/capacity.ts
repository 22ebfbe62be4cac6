/**
 * READ CAPACITY(10) and READ CAPACITY(16) parameter data (SBC-3), both directions.
 */
import { writeU16, writeU32, writeU64 } from "../bytes.js";
import type { U64 } from "./wire.js";
import { FieldReader, U32_MAX, checkU64, checkUint, putFlag, u64Result } from "./wire.js";

export interface ReadCapacity10Data {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA. */
  readonly lastLba: number;
  readonly blockLength: number;
  /**
   * SBC-3: 0xFFFFFFFF means the capacity does not fit; the application client then has to
   * issue READ CAPACITY(16).
   */
  readonly useReadCapacity16: boolean;
}

export function parseReadCapacity10Data(bytes: Uint8Array): ReadCapacity10Data {
  const r = new FieldReader(bytes, "READ CAPACITY(10) data");
  r.need(8, "RETURNED LOGICAL BLOCK ADDRESS and LOGICAL BLOCK LENGTH");
  const lastLba = r.u32(0);
  return { lastLba, blockLength: r.u32(4), useReadCapacity16: lastLba === U32_MAX };
}

/** Builds the 8 bytes; a last LBA beyond 32 bits is reported as 0xFFFFFFFF, as SBC-3 requires. */
export function buildReadCapacity10Data(d: { readonly lastLba: U64; readonly blockLength: number }): Uint8Array {
  const out = new Uint8Array(8);
  const last = checkU64("RETURNED LOGICAL BLOCK ADDRESS", d.lastLba);
  writeU32(out, 0, last >= BigInt(U32_MAX) ? U32_MAX : Number(last));
  writeU32(out, 4, checkUint("LOGICAL BLOCK LENGTH", d.blockLength, U32_MAX));
  return out;
}

export interface ReadCapacity16Data {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA (64-bit rule). */
  readonly lastLba: U64;
  readonly blockLength: number;
  /** The number of logical blocks, lastLba + 1 (64-bit rule). */
  readonly blocks: U64;
  /** P_TYPE: protection type minus one, when `protectionEnabled`. */
  readonly protectionType: number;
  /** PROT_EN. */
  readonly protectionEnabled: boolean;
  /** P_I_EXPONENT. */
  readonly protectionIntervalExponent: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: 2^n logical blocks per physical block. */
  readonly logicalBlocksPerPhysicalBlockExponent: number;
  /** LBPME: logical block provisioning management (thin provisioning) enabled. */
  readonly lbpme: boolean;
  /** LBPRZ: unmapped blocks read as zeros. */
  readonly lbprz: boolean;
  readonly lowestAlignedLba: number;
}

/**
 * Parses READ CAPACITY(16) data. The 16 defined bytes are required (bytes 16-31 are reserved);
 * shorter data is a RemoteProtocolError, so ask with an allocation length of at least 16 (32 is
 * usual).
 */
export function parseReadCapacity16Data(bytes: Uint8Array): ReadCapacity16Data {
  const r = new FieldReader(bytes, "READ CAPACITY(16) data");
  r.need(16, "the defined fields (bytes 0-15)");
  const last = r.u64n(0);
  return {
    lastLba: u64Result(last),
    blockLength: r.u32(8),
    blocks: u64Result(last + 1n),
    protectionType: r.bits(12, 1, 3),
    protectionEnabled: r.bit(12, 0),
    protectionIntervalExponent: r.bits(13, 4, 4),
    logicalBlocksPerPhysicalBlockExponent: r.bits(13, 0, 4),
    lbpme: r.bit(14, 7),
    lbprz: r.bit(14, 6),
    lowestAlignedLba: r.u16(14) & 0x3fff,
  };
}

/** Builds the 32-byte READ CAPACITY(16) data. */
export function buildReadCapacity16Data(d: {
  readonly lastLba: U64;
  readonly blockLength: number;
  readonly protectionType?: number;
  readonly protectionEnabled?: boolean;
  readonly protectionIntervalExponent?: number;
  readonly logicalBlocksPerPhysicalBlockExponent?: number;
  readonly lbpme?: boolean;
  readonly lbprz?: boolean;
  readonly lowestAlignedLba?: number;
}): Uint8Array {
  const out = new Uint8Array(32);
  writeU64(out, 0, checkU64("RETURNED LOGICAL BLOCK ADDRESS", d.lastLba));
  writeU32(out, 8, checkUint("LOGICAL BLOCK LENGTH", d.blockLength, U32_MAX));
  out[12] = checkUint("P_TYPE", d.protectionType ?? 0, 7) << 1;
  putFlag(out, 12, 0, d.protectionEnabled);
  out[13] =
    (checkUint("P_I_EXPONENT", d.protectionIntervalExponent ?? 0, 15) << 4) |
    checkUint("LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT", d.logicalBlocksPerPhysicalBlockExponent ?? 0, 15);
  writeU16(out, 14, checkUint("LOWEST ALIGNED LOGICAL BLOCK ADDRESS", d.lowestAlignedLba ?? 0, 0x3fff));
  putFlag(out, 14, 7, d.lbpme);
  putFlag(out, 14, 6, d.lbprz);
  return out;
}
