/**
 * CDB builders for the initiator side. Each returns a fresh Uint8Array of the command's length
 * (SPC-4 §4.2.5.1) with the CONTROL byte zero, and throws a LocalProtocolError for an argument that
 * does not fit its field. LBAs follow the 64-bit rule in wire.ts: `number` for 10-byte CDBs,
 * `number | bigint` for 16-byte ones.
 */
import { writeU16, writeU32, writeU64 } from "../bytes.js";
import { LocalProtocolError } from "../errors.js";
import { ScsiOpcode, ServiceActionIn16 } from "./opcodes.js";
import type { PageControl } from "./mode-pages.js";
import type { PrInServiceAction, PrOutServiceAction, PrType } from "./persistent-reservation.js";
import { PR_TYPE_NAMES } from "./persistent-reservation.js";
import type { U64 } from "./wire.js";
import { U32_MAX, checkU64, checkUint, putFlag } from "./wire.js";

/** Flags shared by the read, write and verify family (byte 1 and GROUP NUMBER of the SBC-3 CDBs). */
interface TransferFlags {
  /** Disable page out: the data need not stay in cache. */
  readonly dpo?: boolean;
  /** Force unit access: go to (or come from) the medium, not the cache. */
  readonly fua?: boolean;
  /** The GROUP NUMBER field (SBC-3), 0..31. */
  readonly group?: number;
}

export interface Rw10Options extends TransferFlags {
  readonly lba: number;
  /** TRANSFER LENGTH in logical blocks, 0..65535 (0 transfers nothing). */
  readonly blocks: number;
  /** RDPROTECT / WRPROTECT, 0..7 (SBC-3 protection information). */
  readonly protect?: number;
}

export interface Rw16Options extends TransferFlags {
  readonly lba: U64;
  /** TRANSFER LENGTH in logical blocks, 0..2^32-1. */
  readonly blocks: number;
  readonly protect?: number;
}

const U16_MAX = 0xffff;

function lba32(lba: number): number {
  // SBC-3: a 10-byte CDB has a 32-bit LOGICAL BLOCK ADDRESS field.
  return checkUint("LBA (10-byte CDB)", lba, U32_MAX);
}

function flagsByte(protect: number | undefined, dpo?: boolean, fua?: boolean): number {
  const p = checkUint("RDPROTECT/WRPROTECT/VRPROTECT", protect ?? 0, 7);
  return (p << 5) | (dpo === true ? 0x10 : 0) | (fua === true ? 0x08 : 0);
}

function groupByte(group: number | undefined): number {
  return checkUint("GROUP NUMBER", group ?? 0, 31);
}

function rw10(opcode: number, o: Rw10Options): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = opcode;
  cdb[1] = flagsByte(o.protect, o.dpo, o.fua);
  writeU32(cdb, 2, lba32(o.lba));
  cdb[6] = groupByte(o.group);
  writeU16(cdb, 7, checkUint("TRANSFER LENGTH (10-byte CDB)", o.blocks, U16_MAX));
  return cdb;
}

function rw16(opcode: number, o: Rw16Options): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = opcode;
  cdb[1] = flagsByte(o.protect, o.dpo, o.fua);
  writeU64(cdb, 2, checkU64("LBA", o.lba));
  writeU32(cdb, 10, checkUint("TRANSFER LENGTH (16-byte CDB)", o.blocks, U32_MAX));
  cdb[14] = groupByte(o.group);
  return cdb;
}

// ---------------------------------------------------------------- SPC

/** SPC-4, TEST UNIT READY. */
export function buildTestUnitReadyCdb(): Uint8Array {
  return new Uint8Array(6);
}

/** SPC-4, REQUEST SENSE; `descriptor` asks for descriptor-format sense (DESC bit). */
export function buildRequestSenseCdb(o: { readonly allocationLength?: number; readonly descriptor?: boolean } = {}): Uint8Array {
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.RequestSense;
  putFlag(cdb, 1, 0, o.descriptor);
  cdb[4] = checkUint("ALLOCATION LENGTH", o.allocationLength ?? 252, 0xff);
  return cdb;
}

/**
 * SPC-4, INQUIRY. Without `vpdPage` it asks for standard INQUIRY data; with it, EVPD is set
 * and PAGE CODE is `vpdPage`.
 */
export function buildInquiryCdb(o: { readonly vpdPage?: number; readonly allocationLength: number }): Uint8Array {
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.Inquiry;
  if (o.vpdPage !== undefined) {
    cdb[1] = 0x01;
    cdb[2] = checkUint("VPD page code", o.vpdPage, 0xff);
  }
  writeU16(cdb, 3, checkUint("ALLOCATION LENGTH", o.allocationLength, U16_MAX));
  return cdb;
}

/** SPC-4, REPORT LUNS. SELECT REPORT 0 reports all logical units but well-known ones. */
export function buildReportLunsCdb(o: { readonly selectReport?: number; readonly allocationLength: number }): Uint8Array {
  const cdb = new Uint8Array(12);
  cdb[0] = ScsiOpcode.ReportLuns;
  cdb[2] = checkUint("SELECT REPORT", o.selectReport ?? 0, 0xff);
  writeU32(cdb, 6, checkUint("ALLOCATION LENGTH", o.allocationLength, U32_MAX));
  return cdb;
}

interface ModeSenseOptions {
  /** Disable block descriptors. */
  readonly dbd?: boolean;
  readonly pageControl?: PageControl;
  /** PAGE CODE, 0..0x3F (0x3F: all pages). */
  readonly page: number;
  /** SUBPAGE CODE, 0..0xFF (0xFF with page 0x3F: all pages and subpages). */
  readonly subpage?: number;
  readonly allocationLength: number;
}

function modeSensePageBytes(cdb: Uint8Array, o: ModeSenseOptions): void {
  putFlag(cdb, 1, 3, o.dbd);
  const pc = checkUint("PAGE CONTROL", o.pageControl ?? 0, 3);
  cdb[2] = (pc << 6) | checkUint("PAGE CODE", o.page, 0x3f);
  cdb[3] = checkUint("SUBPAGE CODE", o.subpage ?? 0, 0xff);
}

/** SPC-4, MODE SENSE(6). */
export function buildModeSense6Cdb(o: ModeSenseOptions): Uint8Array {
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.ModeSense6;
  modeSensePageBytes(cdb, o);
  cdb[4] = checkUint("ALLOCATION LENGTH (MODE SENSE(6))", o.allocationLength, 0xff);
  return cdb;
}

/** SPC-4, MODE SENSE(10); `llbaa` allows long LBA block descriptors. */
export function buildModeSense10Cdb(o: ModeSenseOptions & { readonly llbaa?: boolean }): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.ModeSense10;
  modeSensePageBytes(cdb, o);
  putFlag(cdb, 1, 4, o.llbaa);
  writeU16(cdb, 7, checkUint("ALLOCATION LENGTH", o.allocationLength, U16_MAX));
  return cdb;
}

/** SPC-4, PERSISTENT RESERVE IN. */
export function buildPersistentReserveInCdb(o: {
  readonly serviceAction: PrInServiceAction;
  readonly allocationLength: number;
}): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.PersistentReserveIn;
  cdb[1] = checkUint("PERSISTENT RESERVE IN service action", o.serviceAction, 0x1f);
  writeU16(cdb, 7, checkUint("ALLOCATION LENGTH", o.allocationLength, U16_MAX));
  return cdb;
}

/**
 * SPC-4, PERSISTENT RESERVE OUT. `type` matters to RESERVE, RELEASE, PREEMPT and PREEMPT
 * AND ABORT; the others ignore it. PARAMETER LIST LENGTH is 24 for the basic parameter list
 * (`buildPrOutParameterList`).
 */
export function buildPersistentReserveOutCdb(o: {
  readonly serviceAction: PrOutServiceAction;
  readonly type?: PrType;
  /** SCOPE: only LU_SCOPE (0) is defined by SPC-4. */
  readonly scope?: number;
  readonly parameterListLength?: number;
}): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.PersistentReserveOut;
  cdb[1] = checkUint("PERSISTENT RESERVE OUT service action", o.serviceAction, 0x1f);
  const type = o.type ?? 0;
  if (type !== 0 && PR_TYPE_NAMES[type] === undefined) {
    throw new LocalProtocolError(`persistent reservation TYPE ${String(type)} is not defined by SPC-4`);
  }
  cdb[2] = (checkUint("SCOPE", o.scope ?? 0, 0x0f) << 4) | type;
  writeU32(cdb, 5, checkUint("PARAMETER LIST LENGTH", o.parameterListLength ?? 24, U32_MAX));
  return cdb;
}

// ---------------------------------------------------------------- SBC: capacity

/** SBC-3, READ CAPACITY(10) (LBA and PMI zero: they are obsolete). */
export function buildReadCapacity10Cdb(): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.ReadCapacity10;
  return cdb;
}

/** SBC-3, READ CAPACITY(16), SERVICE ACTION IN(16) with service action 0x10. */
export function buildReadCapacity16Cdb(o: { readonly allocationLength?: number } = {}): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.ServiceActionIn16;
  cdb[1] = ServiceActionIn16.ReadCapacity16;
  writeU32(cdb, 10, checkUint("ALLOCATION LENGTH", o.allocationLength ?? 32, U32_MAX));
  return cdb;
}

// ---------------------------------------------------------------- SBC: data transfer

/** SBC-3, READ(10). */
export function buildRead10Cdb(o: Rw10Options): Uint8Array {
  return rw10(ScsiOpcode.Read10, o);
}

/** SBC-3, READ(16). */
export function buildRead16Cdb(o: Rw16Options): Uint8Array {
  return rw16(ScsiOpcode.Read16, o);
}

/** SBC-3, WRITE(10). */
export function buildWrite10Cdb(o: Rw10Options): Uint8Array {
  return rw10(ScsiOpcode.Write10, o);
}

/** SBC-3, WRITE(16). */
export function buildWrite16Cdb(o: Rw16Options): Uint8Array {
  return rw16(ScsiOpcode.Write16, o);
}

/** BYTCHK (SBC-3 VERIFY): 0 verify the medium only, 1 compare with Data-Out, 3 compare with one block. */
export type ByteCheck = 0 | 1 | 3;

interface VerifyExtra {
  readonly byteCheck?: ByteCheck;
}

function verifyByte1(o: { readonly protect?: number; readonly dpo?: boolean } & VerifyExtra): number {
  const bytchk = o.byteCheck ?? 0;
  if (bytchk !== 0 && bytchk !== 1 && bytchk !== 3) {
    throw new LocalProtocolError(`BYTCHK must be 0, 1 or 3 (got ${String(bytchk)})`);
  }
  return flagsByte(o.protect, o.dpo, false) | (bytchk << 1);
}

/** SBC-3, VERIFY(10); `blocks` is the VERIFICATION LENGTH. */
export function buildVerify10Cdb(o: Omit<Rw10Options, "fua"> & VerifyExtra): Uint8Array {
  const cdb = rw10(ScsiOpcode.Verify10, { ...o, fua: false });
  cdb[1] = verifyByte1(o);
  return cdb;
}

/** SBC-3, VERIFY(16). */
export function buildVerify16Cdb(o: Omit<Rw16Options, "fua"> & VerifyExtra): Uint8Array {
  const cdb = rw16(ScsiOpcode.Verify16, { ...o, fua: false });
  cdb[1] = verifyByte1(o);
  return cdb;
}

interface WriteSameFlags {
  /** Unmap the blocks if the device can (SBC-3 WRITE SAME: the UNMAP bit). */
  readonly unmap?: boolean;
  /** Anchor rather than deallocate; SBC-3 requires UNMAP with it. */
  readonly anchor?: boolean;
  readonly protect?: number;
  readonly group?: number;
}

function writeSameByte1(o: WriteSameFlags): number {
  if (o.anchor === true && o.unmap !== true) {
    // SBC-3 WRITE SAME: ANCHOR set with UNMAP clear is an invalid field in the CDB.
    throw new LocalProtocolError("WRITE SAME: ANCHOR needs UNMAP");
  }
  const p = checkUint("WRPROTECT", o.protect ?? 0, 7);
  return (p << 5) | (o.anchor === true ? 0x10 : 0) | (o.unmap === true ? 0x08 : 0);
}

/** SBC-3, WRITE SAME(10). */
export function buildWriteSame10Cdb(o: WriteSameFlags & { readonly lba: number; readonly blocks: number }): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.WriteSame10;
  cdb[1] = writeSameByte1(o);
  writeU32(cdb, 2, lba32(o.lba));
  cdb[6] = groupByte(o.group);
  writeU16(cdb, 7, checkUint("NUMBER OF LOGICAL BLOCKS (10-byte CDB)", o.blocks, U16_MAX));
  return cdb;
}

/**
 * SBC-3, WRITE SAME(16). `ndob` (no Data-Out buffer) writes zeros without sending a block.
 * `blocks` 0 asks the device to write to the end of the medium (if it allows that, WSNZ clear).
 */
export function buildWriteSame16Cdb(
  o: WriteSameFlags & { readonly lba: U64; readonly blocks: number; readonly ndob?: boolean },
): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.WriteSame16;
  cdb[1] = writeSameByte1(o) | (o.ndob === true ? 0x01 : 0);
  writeU64(cdb, 2, checkU64("LBA", o.lba));
  writeU32(cdb, 10, checkUint("NUMBER OF LOGICAL BLOCKS", o.blocks, U32_MAX));
  cdb[14] = groupByte(o.group);
  return cdb;
}

/** SBC-3, UNMAP; the parameter list comes from `buildUnmapParameterList`. */
export function buildUnmapCdb(o: {
  readonly parameterListLength: number;
  readonly anchor?: boolean;
  readonly group?: number;
}): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.Unmap;
  putFlag(cdb, 1, 0, o.anchor);
  cdb[6] = groupByte(o.group);
  writeU16(cdb, 7, checkUint("PARAMETER LIST LENGTH", o.parameterListLength, U16_MAX));
  return cdb;
}

interface SyncOptions {
  /** Return GOOD before the cache is flushed. */
  readonly immed?: boolean;
  /** First LBA to flush; with `blocks` 0 (the default) the whole medium from `lba` on. */
  readonly lba?: number;
  readonly blocks?: number;
  readonly group?: number;
}

/** SBC-3, SYNCHRONIZE CACHE(10). */
export function buildSynchronizeCache10Cdb(o: SyncOptions = {}): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.SynchronizeCache10;
  putFlag(cdb, 1, 1, o.immed);
  writeU32(cdb, 2, lba32(o.lba ?? 0));
  cdb[6] = groupByte(o.group);
  writeU16(cdb, 7, checkUint("NUMBER OF LOGICAL BLOCKS (10-byte CDB)", o.blocks ?? 0, U16_MAX));
  return cdb;
}

/** SBC-3, SYNCHRONIZE CACHE(16). */
export function buildSynchronizeCache16Cdb(
  o: Omit<SyncOptions, "lba"> & { readonly lba?: U64 } = {},
): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.SynchronizeCache16;
  putFlag(cdb, 1, 1, o.immed);
  writeU64(cdb, 2, checkU64("LBA", o.lba ?? 0));
  writeU32(cdb, 10, checkUint("NUMBER OF LOGICAL BLOCKS", o.blocks ?? 0, U32_MAX));
  cdb[14] = groupByte(o.group);
  return cdb;
}

/**
 * SBC-3, COMPARE AND WRITE. The Data-Out buffer holds `blocks` blocks to compare, then
 * `blocks` blocks to write, so it is 2 × blocks × block length bytes long.
 */
export function buildCompareAndWriteCdb(o: {
  readonly lba: U64;
  /** NUMBER OF LOGICAL BLOCKS, 0..255. */
  readonly blocks: number;
  readonly fua?: boolean;
  readonly dpo?: boolean;
  readonly protect?: number;
  readonly group?: number;
}): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.CompareAndWrite;
  cdb[1] = flagsByte(o.protect, o.dpo, o.fua);
  writeU64(cdb, 2, checkU64("LBA", o.lba));
  cdb[13] = checkUint("NUMBER OF LOGICAL BLOCKS (COMPARE AND WRITE)", o.blocks, 0xff);
  cdb[14] = groupByte(o.group);
  return cdb;
}

/** SBC-3, START STOP UNIT. */
export function buildStartStopUnitCdb(o: {
  readonly start: boolean;
  readonly loadEject?: boolean;
  readonly immed?: boolean;
  readonly noFlush?: boolean;
  /** POWER CONDITION, 0..15 (0: process START and LOEJ). */
  readonly powerCondition?: number;
  readonly powerConditionModifier?: number;
}): Uint8Array {
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.StartStopUnit;
  putFlag(cdb, 1, 0, o.immed);
  cdb[3] = checkUint("POWER CONDITION MODIFIER", o.powerConditionModifier ?? 0, 0x0f);
  cdb[4] =
    (checkUint("POWER CONDITION", o.powerCondition ?? 0, 0x0f) << 4) |
    (o.noFlush === true ? 0x04 : 0) |
    (o.loadEject === true ? 0x02 : 0) |
    (o.start ? 0x01 : 0);
  return cdb;
}

/** SBC-3: PREVENT ALLOW MEDIUM REMOVAL; PREVENT is 0..3. */
export function buildPreventAllowMediumRemovalCdb(o: { readonly prevent: number }): Uint8Array {
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.PreventAllowMediumRemoval;
  cdb[4] = checkUint("PREVENT", o.prevent, 3);
  return cdb;
}
