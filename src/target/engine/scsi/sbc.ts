/**
 * The block commands (SBC-3) that reach storage: READ, WRITE, VERIFY, WRITE AND VERIFY, PRE-FETCH,
 * WRITE SAME, UNMAP, SYNCHRONIZE CACHE, COMPARE AND WRITE, and READ CAPACITY. Each checks its CDB against the unit
 * (range, protection, limits) before asking for data or storage, then runs through the port.
 *
 * Every write-type command reports `writeLength` (the bytes its CDB called for), so that the
 * iSCSI layer can give the right residual even when the command fails.
 */
import { fitAllocationLength } from "../../../core/scsi/allocation.js";
import { buildReadCapacity10Data, buildReadCapacity16Data } from "../../../core/scsi/capacity.js";
import type {
  CompareAndWriteCdb,
  ReadCapacity16Cdb,
  ReadCdb,
  SynchronizeCacheCdb,
  UnmapCdb,
  VerifyCdb,
  WriteCdb,
  WriteSameCdb,
} from "../../../core/scsi/parse-cdb.js";
import { ScsiStatus } from "../../../core/scsi/status.js";
import { parseUnmapParameterList } from "../../../core/scsi/unmap.js";
import type { U64 } from "../../../core/scsi/wire.js";
import type { Extent } from "../storage.js";
import type { PreFetchCdb, WriteAndVerifyCdb } from "./local-cdb.js";
import type { LogicalUnit } from "./logical-unit.js";
import type { ScsiPort, ScsiRequest, ScsiResult } from "./port.js";
import { GOOD, Sense, checkCondition, good, invalidFieldInCdb, invalidParameterList, storageFailure } from "./results.js";
import type { UnitLimits } from "./logical-unit.js";

/** Where the TRANSFER LENGTH field sits in each CDB size (for the field pointer). */
const LENGTH_FIELD: Readonly<Record<number, number>> = { 6: 4, 10: 7, 12: 6, 16: 10 };

function lbaNumber(lba: U64): number {
  return typeof lba === "bigint" ? Number.POSITIVE_INFINITY : lba;
}

/** SBC-3: LBA + blocks past the capacity is LOGICAL BLOCK ADDRESS OUT OF RANGE. */
function outOfRange(unit: LogicalUnit, lba: U64, blocks: number): boolean {
  const start = lbaNumber(lba);
  return start > unit.def.blocks || start + blocks > unit.def.blocks;
}

/**
 * Asks for `length` bytes of write data. When the iSCSI Expected Data Transfer Length is less
 * than the CDB calls for, FCP-4 (which SAM-5 and the libiscsi residual tests follow) leaves two
 * choices: process the command on the data there is, or refuse it with INVALID FIELD IN
 * INFORMATION UNIT; either way the residual shows the overflow. WRITE takes the first (`partial`):
 * it writes the bytes it was given and nothing past them. The other commands need their whole
 * parameter data, so they take the second.
 */
export function collect(request: ScsiRequest, port: ScsiPort, length: number, then: (data: Uint8Array) => void, partial = false): void {
  const available = request.write ? request.expectedLength : 0;
  if (length <= available) {
    port.receiveData(length, then);
    return;
  }
  if (!partial) {
    port.finish(checkCondition(Sense.InvalidFieldInInformationUnit, {}, length));
    return;
  }
  if (available === 0) {
    then(new Uint8Array(0));
    return;
  }
  port.receiveData(available, then);
}

// ---------------------------------------------------------------- READ, WRITE, VERIFY

export function read(cdb: ReadCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const bs = unit.def.blockSize;
  // No protection information here: RDPROTECT must be 0 (SBC-3 §4.22).
  if (cdb.protect !== 0) return port.finish(invalidFieldInCdb(1, 7));
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange));
  if (cdb.blocks === 0) return port.finish(GOOD);
  const length = cdb.blocks * bs;
  if (length > limits.maxTransferBytes) return port.finish(invalidFieldInCdb(LENGTH_FIELD[cdb.variant] ?? 0));
  port.storage({ op: "read", offset: lbaNumber(cdb.lba) * bs, length }, (outcome) => {
    if (!outcome.ok) return port.finish(storageFailure(outcome.kind, false));
    port.finish(good(outcome.data));
  });
}

export function write(request: ScsiRequest, cdb: WriteCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const bs = unit.def.blockSize;
  const length = cdb.blocks * bs;
  if (unit.def.readOnly) return port.finish(checkCondition(Sense.WriteProtected, {}, length));
  if (cdb.protect !== 0) return port.finish(invalidFieldInCdb(1, 7, length));
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange, {}, length));
  if (cdb.blocks === 0) return port.finish(GOOD);
  if (length > limits.maxTransferBytes) return port.finish(invalidFieldInCdb(LENGTH_FIELD[cdb.variant] ?? 0, undefined, length));
  collect(
    request,
    port,
    length,
    (data) => {
      // With a short Expected Data Transfer Length `data` is shorter than the CDB's length.
      if (data.length === 0) return port.finish({ status: ScsiStatus.Good, writeLength: length });
      port.storage({ op: "write", offset: lbaNumber(cdb.lba) * bs, data, fua: cdb.fua }, (outcome) => {
        port.finish(outcome.ok ? { status: ScsiStatus.Good, writeLength: length } : storageFailure(outcome.kind, true, length));
      });
    },
    true,
  );
}

export function verify(request: ScsiRequest, cdb: VerifyCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const bs = unit.def.blockSize;
  const blocksIn = cdb.byteCheck === 1 ? cdb.blocks : cdb.byteCheck === 3 ? 1 : 0;
  const writeLength = blocksIn * bs;
  const result = (r: ScsiResult): void => port.finish(writeLength === 0 ? r : { ...r, writeLength });
  if (cdb.protect !== 0) return result(invalidFieldInCdb(1, 7));
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return result(checkCondition(Sense.LbaOutOfRange));
  if (cdb.blocks === 0) return result(GOOD);
  const length = cdb.blocks * bs;
  if (length > limits.maxTransferBytes) return result(invalidFieldInCdb(LENGTH_FIELD[cdb.variant] ?? 0));
  const offset = lbaNumber(cdb.lba) * bs;
  // BYTCHK 0: the medium is memory or a file; reading it is the verification.
  const compareWith = (expected: Uint8Array | undefined): void => {
    port.storage({ op: "read", offset, length }, (outcome) => {
      if (!outcome.ok) return result(storageFailure(outcome.kind, false));
      if (expected === undefined) return result(GOOD);
      const data = outcome.data ?? new Uint8Array(length);
      const at = firstDifference(data, expected, cdb.byteCheck === 3 ? bs : length);
      // SBC-3 VERIFY: MISCOMPARE, INFORMATION = offset of the first byte that differs.
      result(at < 0 ? GOOD : checkCondition(Sense.Miscompare, { information: at }));
    });
  };
  if (writeLength === 0) return compareWith(undefined);
  collect(request, port, writeLength, (data) => compareWith(data));
}

/**
 * SBC-3 WRITE AND VERIFY: write the blocks to the medium, then verify them there: with BYTCHK 0 a
 * medium verification (reading the blocks back is ours: memory and files have no ECC to check),
 * with BYTCHK 1 also a byte-by-byte compare of what the medium holds with the Data-Out. The data
 * comes over once. A short Expected Data Transfer Length is handled as WRITE does (the bytes given
 * are written and verified), which is what libiscsi's residual tests expect of it too. The write
 * goes out with FUA, so that what is verified is the medium, not a cache; the unit is held alone
 * for the command (see `COMMANDS`), so no other write lands between the write and the compare.
 */
export function writeAndVerify(request: ScsiRequest, cdb: WriteAndVerifyCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const bs = unit.def.blockSize;
  const length = cdb.blocks * bs;
  if (unit.def.readOnly) return port.finish(checkCondition(Sense.WriteProtected, {}, length));
  if (cdb.protect !== 0) return port.finish(invalidFieldInCdb(1, 7, length));
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange, {}, length));
  if (cdb.blocks === 0) return port.finish(GOOD);
  if (length > limits.maxTransferBytes) return port.finish(invalidFieldInCdb(LENGTH_FIELD[cdb.variant] ?? 0, undefined, length));
  const offset = lbaNumber(cdb.lba) * bs;
  const done: ScsiResult = { status: ScsiStatus.Good, writeLength: length };
  collect(
    request,
    port,
    length,
    (data) => {
      if (data.length === 0) return port.finish(done);
      port.storage({ op: "write", offset, data, fua: true }, (written) => {
        if (!written.ok) return port.finish(storageFailure(written.kind, true, length));
        port.storage({ op: "read", offset, length: data.length }, (outcome) => {
          // The blocks written cannot be read back: the verification failed.
          if (!outcome.ok) return port.finish(storageFailure(outcome.kind, false, length));
          if (cdb.byteCheck === 0) return port.finish(done);
          const at = firstDifference(outcome.data ?? new Uint8Array(data.length), data, data.length);
          // SBC-3: MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first difference.
          port.finish(at < 0 ? done : checkCondition(Sense.Miscompare, { information: at }, length));
        });
      });
    },
    true,
  );
}

/** Offset of the first byte of `data` that differs from `expected` (repeated every `period` bytes), or -1. */
function firstDifference(data: Uint8Array, expected: Uint8Array, period: number): number {
  for (let i = 0; i < data.length; i++) if (data[i] !== expected[i % period]) return i;
  return -1;
}

// ---------------------------------------------------------------- PRE-FETCH

const CONDITION_MET: ScsiResult = Object.freeze({ status: ScsiStatus.ConditionMet });

/**
 * SBC-3 PRE-FETCH: bring the blocks into the cache; no data moves to the initiator. This device
 * server has no cache of its own: a unit is memory, or a file behind the host's page cache, and
 * reading the range is what stages it there. The range it stages at once is one transfer
 * (MAXIMUM TRANSFER LENGTH), the capacity of its "cache": a range that fits ends with CONDITION
 * MET once read (IMMED 0) or at once (IMMED 1: SBC-3 then answers from the capacity alone); a
 * larger one ends with GOOD, which SBC-3 gives when the cache cannot hold the whole range, and
 * is not read. PREFETCH LENGTH 0 is every block from the LBA to the last.
 */
export function preFetch(cdb: PreFetchCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange));
  const bs = unit.def.blockSize;
  const start = lbaNumber(cdb.lba);
  const blocks = cdb.blocks === 0 ? unit.def.blocks - start : cdb.blocks;
  const length = blocks * bs;
  if (length > limits.maxTransferBytes) return port.finish(GOOD);
  if (cdb.immed || length === 0) return port.finish(CONDITION_MET);
  port.storage({ op: "read", offset: start * bs, length }, (outcome) => {
    port.finish(outcome.ok ? CONDITION_MET : storageFailure(outcome.kind, false));
  });
}

// ---------------------------------------------------------------- WRITE SAME, UNMAP

export function writeSame(request: ScsiRequest, cdb: WriteSameCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const bs = unit.def.blockSize;
  const writeLength = cdb.ndob ? 0 : bs;
  const result = (r: ScsiResult): void => port.finish(writeLength === 0 ? r : { ...r, writeLength });
  if (unit.def.readOnly) return result(checkCondition(Sense.WriteProtected));
  if (cdb.protect !== 0) return result(invalidFieldInCdb(1, 7));
  // We report WSNZ=1 (Block Limits): zero blocks is not "to the end of the medium" here.
  if (cdb.blocks === 0) return result(invalidFieldInCdb(cdb.variant === 10 ? 7 : 10));
  if (cdb.blocks > limits.maxWriteSameBlocks) return result(invalidFieldInCdb(cdb.variant === 10 ? 7 : 10));
  if (cdb.unmap && !unit.def.thinProvisioned) return result(invalidFieldInCdb(1, 3));
  // ANC_SUP=0 (Logical Block Provisioning VPD page): anchored blocks are not supported.
  if (cdb.anchor) return result(invalidFieldInCdb(1, 4));
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return result(checkCondition(Sense.LbaOutOfRange));
  const offset = lbaNumber(cdb.lba) * bs;
  const length = cdb.blocks * bs;
  const apply = (block: Uint8Array): void => {
    // SBC-3: with UNMAP the blocks may be deallocated, if they then read back as the data given.
    const deallocate = cdb.unmap && unit.def.unmappedReadsZero && block.every((b) => b === 0);
    const op = deallocate ? ({ op: "unmap", extents: [{ offset, length }] } as const) : ({ op: "write-same", offset, length, block } as const);
    port.storage(op, (outcome) => result(outcome.ok ? GOOD : storageFailure(outcome.kind, true)));
  };
  if (cdb.ndob) return apply(new Uint8Array(bs));
  collect(request, port, bs, (block) => apply(block.slice()));
}

export function unmap(request: ScsiRequest, cdb: UnmapCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const listLength = cdb.parameterListLength;
  const result = (r: ScsiResult): void => port.finish(listLength === 0 ? r : { ...r, writeLength: listLength });
  // LBPU=0 (Block Limits, Logical Block Provisioning): UNMAP is not a command this unit has.
  if (!unit.def.thinProvisioned) return result(checkCondition(Sense.InvalidCommandOperationCode));
  if (unit.def.readOnly) return result(checkCondition(Sense.WriteProtected));
  if (cdb.anchor) return result(invalidFieldInCdb(1, 0));
  if (listLength === 0) return result(GOOD);
  collect(request, port, listLength, (bytes) => {
    const list = parseUnmapParameterList(bytes);
    if (list.kind === "invalid") return port.finish(invalidParameterList(list.asc, list.ascq, list.field, listLength));
    if (list.descriptors.length > limits.maxUnmapDescriptors) return port.finish(invalidParameterList(0x26, 0x00, 2, listLength));
    const bs = unit.def.blockSize;
    const extents: Extent[] = [];
    for (let i = 0; i < list.descriptors.length; i++) {
      const d = list.descriptors[i]!;
      if (outOfRange(unit, d.lba, d.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange, {}, listLength));
      if (d.blocks > limits.maxUnmapBlocks) return port.finish(invalidParameterList(0x26, 0x00, 16 + 16 * i, listLength));
      if (d.blocks > 0) extents.push({ offset: lbaNumber(d.lba) * bs, length: d.blocks * bs });
    }
    if (extents.length === 0) return result(GOOD);
    port.storage({ op: "unmap", extents }, (outcome) => result(outcome.ok ? GOOD : storageFailure(outcome.kind, true)));
  });
}

// ---------------------------------------------------------------- SYNCHRONIZE CACHE, COMPARE AND WRITE

export function synchronizeCache(cdb: SynchronizeCacheCdb, unit: LogicalUnit, port: ScsiPort): void {
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange));
  port.storage({ op: "flush" }, (outcome) => port.finish(outcome.ok ? GOOD : storageFailure(outcome.kind, true)));
}

/**
 * SBC-3 COMPARE AND WRITE: the Data-Out holds the verify data then the write data, each `blocks`
 * long. The unit is held alone for the whole command (see LogicalUnit), so nothing writes
 * between the compare and the write.
 */
export function compareAndWrite(request: ScsiRequest, cdb: CompareAndWriteCdb, unit: LogicalUnit, limits: UnitLimits, port: ScsiPort): void {
  const bs = unit.def.blockSize;
  const length = cdb.blocks * bs;
  const writeLength = 2 * length;
  if (unit.def.readOnly) return port.finish(checkCondition(Sense.WriteProtected, {}, writeLength));
  if (cdb.protect !== 0) return port.finish(invalidFieldInCdb(1, 7, writeLength));
  if (cdb.blocks > limits.maxCompareAndWriteBlocks) return port.finish(invalidFieldInCdb(13, undefined, writeLength));
  if (outOfRange(unit, cdb.lba, cdb.blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange, {}, writeLength));
  if (cdb.blocks === 0) return port.finish(GOOD);
  const offset = lbaNumber(cdb.lba) * bs;
  collect(request, port, writeLength, (data) => {
    port.storage({ op: "read", offset, length }, (outcome) => {
      if (!outcome.ok) return port.finish(storageFailure(outcome.kind, false, writeLength));
      const current = outcome.data ?? new Uint8Array(length);
      const at = firstDifference(current, data.subarray(0, length), length);
      // SBC-3: MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first difference.
      if (at >= 0) return port.finish(checkCondition(Sense.Miscompare, { information: at }, writeLength));
      port.storage({ op: "write", offset, data: data.subarray(length, writeLength), fua: cdb.fua }, (written) => {
        port.finish(written.ok ? { status: ScsiStatus.Good, writeLength } : storageFailure(written.kind, true, writeLength));
      });
    });
  });
}

// ---------------------------------------------------------------- GET LBA STATUS

/** SBC-3: SERVICE ACTION IN(16) with service action 12h. */
export function isGetLbaStatus(cdb: Uint8Array): boolean {
  return cdb[0] === 0x9e && ((cdb[1] ?? 0) & 0x1f) === 0x12;
}

/** Descriptors one GET LBA STATUS returns at most; the initiator asks again from where they end. */
const MAX_LBA_STATUS_DESCRIPTORS = 256;

/**
 * SBC-3 GET LBA STATUS: from STARTING LOGICAL BLOCK ADDRESS, extents of mapped and deallocated
 * blocks (PROVISIONING STATUS 0 and 1). core/scsi's parseCdb has no GET LBA STATUS, so its two
 * fields are read here.
 */
export function getLbaStatus(cdbBytes: Uint8Array, unit: LogicalUnit, port: ScsiPort): void {
  if (cdbBytes.length < 16) return port.finish(invalidFieldInCdb(0));
  const view = new DataView(cdbBytes.buffer, cdbBytes.byteOffset, cdbBytes.byteLength);
  const start = view.getBigUint64(2);
  const allocationLength = view.getUint32(10);
  const { blocks, blockSize } = unit.def;
  if (start >= BigInt(blocks)) return port.finish(checkCondition(Sense.LbaOutOfRange));
  const lba = Number(start);
  port.storage({ op: "map", offset: lba * blockSize, length: (blocks - lba) * blockSize }, (outcome) => {
    if (!outcome.ok) return port.finish(storageFailure(outcome.kind, false));
    const extents = (outcome.extents ?? [{ offset: lba * blockSize, length: (blocks - lba) * blockSize, mapped: true }]).slice(0, MAX_LBA_STATUS_DESCRIPTORS);
    const data = new Uint8Array(8 + 16 * extents.length);
    const out = new DataView(data.buffer);
    // PARAMETER DATA LENGTH counts the bytes after itself.
    out.setUint32(0, data.length - 4);
    extents.forEach((extent, i) => {
      const at = 8 + 16 * i;
      out.setBigUint64(at, BigInt(Math.floor(extent.offset / blockSize)));
      out.setUint32(at + 8, Math.min(0xffff_ffff, Math.ceil(extent.length / blockSize)));
      // PROVISIONING STATUS: 0 mapped, 1 deallocated.
      data[at + 12] = extent.mapped ? 0 : 1;
    });
    port.finish(good(fitAllocationLength(data, allocationLength)));
  });
}

// ---------------------------------------------------------------- READ CAPACITY

export function readCapacity10(unit: LogicalUnit): ScsiResult {
  // SBC-3: a capacity past 32 bits reports 0xFFFFFFFF, telling the initiator to use (16).
  const last = unit.def.blocks - 1;
  return good(buildReadCapacity10Data({ lastLba: Math.min(last, 0xffff_ffff), blockLength: unit.def.blockSize }));
}

export function readCapacity16(cdb: ReadCapacity16Cdb, unit: LogicalUnit): ScsiResult {
  const def = unit.def;
  const data = buildReadCapacity16Data({
    lastLba: def.blocks - 1,
    blockLength: def.blockSize,
    // SBC-3: LBPME tells the initiator it may UNMAP; LBPRZ that unmapped blocks read as zeros.
    lbpme: def.thinProvisioned,
    lbprz: def.thinProvisioned && def.unmappedReadsZero,
  });
  return good(fitAllocationLength(data, cdb.allocationLength));
}
