/**
 * The target side of CDBs: `parseCdb` turns a CDB into a discriminated union on `kind`. A field
 * the standards forbid gives `{ kind: "invalid", field, bit }` (never an exception), which the
 * target answers with CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB and that field
 * pointer (see `buildInvalidFieldSense`). Policy (what this device server supports: page codes,
 * PC = saved, NACA in the CONTROL byte, ranges against the capacity) stays with the target.
 *
 * LBAs follow the 64-bit rule of wire.ts (a number when below 2^53, else a bigint). Reserved bits
 * are ignored. Bytes past the command's length (iSCSI pads CDBs to 16) are ignored.
 */
import { LocalProtocolError } from "../errors.js";
import { ScsiOpcode, ServiceActionIn16, cdbLength, scsiCommandName, scsiOpcodeName } from "./opcodes.js";
import { PrOutServiceAction, isPrType } from "./persistent-reservation.js";
import type { U64 } from "./wire.js";
import { FieldReader } from "./wire.js";

interface Base {
  readonly opcode: number;
  /** The CONTROL byte (NACA is bit 2). */
  readonly control: number;
}

interface TransferFields {
  readonly lba: U64;
  /** TRANSFER LENGTH in logical blocks (READ(6)/WRITE(6): 0 already turned into 256). */
  readonly blocks: number;
  readonly dpo: boolean;
  readonly fua: boolean;
  /** RDPROTECT or WRPROTECT. */
  readonly protect: number;
  readonly group: number;
}

export interface ReadCdb extends Base, TransferFields {
  readonly kind: "read";
  readonly variant: 6 | 10 | 12 | 16;
}
export interface WriteCdb extends Base, TransferFields {
  readonly kind: "write";
  readonly variant: 6 | 10 | 12 | 16;
}
export interface VerifyCdb extends Base {
  readonly kind: "verify";
  readonly variant: 10 | 12 | 16;
  readonly lba: U64;
  /** VERIFICATION LENGTH in logical blocks. */
  readonly blocks: number;
  readonly dpo: boolean;
  /** BYTCHK: 0 medium only, 1 compare with Data-Out, 3 compare every block with one block. */
  readonly byteCheck: 0 | 1 | 3;
  readonly protect: number;
  readonly group: number;
}
export interface WriteSameCdb extends Base {
  readonly kind: "write-same";
  readonly variant: 10 | 16;
  readonly lba: U64;
  readonly blocks: number;
  readonly unmap: boolean;
  readonly anchor: boolean;
  /** NDOB (WRITE SAME(16) only): no Data-Out buffer, write zeros. */
  readonly ndob: boolean;
  readonly protect: number;
  readonly group: number;
}
export interface UnmapCdb extends Base {
  readonly kind: "unmap";
  readonly anchor: boolean;
  readonly group: number;
  readonly parameterListLength: number;
}
export interface SynchronizeCacheCdb extends Base {
  readonly kind: "synchronize-cache";
  readonly variant: 10 | 16;
  readonly immed: boolean;
  readonly lba: U64;
  /** 0: from `lba` to the end of the medium. */
  readonly blocks: number;
  readonly group: number;
}
export interface CompareAndWriteCdb extends Base, TransferFields {
  readonly kind: "compare-and-write";
}
export interface InquiryCdb extends Base {
  readonly kind: "inquiry";
  readonly evpd: boolean;
  readonly page: number;
  readonly allocationLength: number;
}
export interface ModeSenseCdb extends Base {
  readonly kind: "mode-sense";
  readonly variant: 6 | 10;
  readonly dbd: boolean;
  /** LLBAA (MODE SENSE(10) only). */
  readonly llbaa: boolean;
  readonly pageControl: number;
  readonly page: number;
  readonly subpage: number;
  readonly allocationLength: number;
}
export interface ReadCapacity10Cdb extends Base {
  readonly kind: "read-capacity-10";
}
export interface ReadCapacity16Cdb extends Base {
  readonly kind: "read-capacity-16";
  readonly allocationLength: number;
}
export interface ReportLunsCdb extends Base {
  readonly kind: "report-luns";
  readonly selectReport: number;
  readonly allocationLength: number;
}
export interface TestUnitReadyCdb extends Base {
  readonly kind: "test-unit-ready";
}
export interface RequestSenseCdb extends Base {
  readonly kind: "request-sense";
  /** DESC: descriptor-format sense requested. */
  readonly descriptor: boolean;
  readonly allocationLength: number;
}
export interface PersistentReserveInCdb extends Base {
  readonly kind: "persistent-reserve-in";
  readonly serviceAction: number;
  readonly allocationLength: number;
}
export interface PersistentReserveOutCdb extends Base {
  readonly kind: "persistent-reserve-out";
  readonly serviceAction: number;
  readonly scope: number;
  readonly type: number;
  readonly parameterListLength: number;
}
export interface StartStopUnitCdb extends Base {
  readonly kind: "start-stop-unit";
  readonly immed: boolean;
  readonly powerConditionModifier: number;
  readonly powerCondition: number;
  readonly noFlush: boolean;
  readonly loadEject: boolean;
  readonly start: boolean;
}
export interface PreventAllowMediumRemovalCdb extends Base {
  readonly kind: "prevent-allow-medium-removal";
  readonly prevent: number;
}
/** An opcode (or service action) this parser does not know: INVALID COMMAND OPERATION CODE. */
export interface UnknownCdb {
  readonly kind: "unknown";
  readonly opcode: number;
  /** For opcodes with service actions (0x7F, 0x9E, 0xA3, ...): the one asked for. */
  readonly serviceAction: number | undefined;
  readonly name: string;
}
/** A field the standard forbids: INVALID FIELD IN CDB with this field pointer. */
export interface InvalidCdb {
  readonly kind: "invalid";
  readonly opcode: number;
  /** Byte index of the offending field (the FIELD POINTER). */
  readonly field: number;
  /** Most significant bit of the offending field within that byte, if known. */
  readonly bit: number | undefined;
  readonly reason: string;
}

export type ParsedCdb =
  | TestUnitReadyCdb
  | RequestSenseCdb
  | InquiryCdb
  | ModeSenseCdb
  | ReadCapacity10Cdb
  | ReadCapacity16Cdb
  | ReportLunsCdb
  | ReadCdb
  | WriteCdb
  | VerifyCdb
  | WriteSameCdb
  | UnmapCdb
  | SynchronizeCacheCdb
  | CompareAndWriteCdb
  | PersistentReserveInCdb
  | PersistentReserveOutCdb
  | StartStopUnitCdb
  | PreventAllowMediumRemovalCdb
  | UnknownCdb
  | InvalidCdb;

function invalid(opcode: number, field: number, bit: number | undefined, reason: string): InvalidCdb {
  return { kind: "invalid", opcode, field, bit, reason };
}

function byteCheckOf(r: FieldReader): number {
  return r.bits(1, 1, 2);
}

/** The PR OUT service actions whose TYPE and SCOPE fields matter (SPC-4 PERSISTENT RESERVE OUT). */
const PR_OUT_TYPED: ReadonlySet<number> = new Set([
  PrOutServiceAction.Reserve,
  PrOutServiceAction.Release,
  PrOutServiceAction.Preempt,
  PrOutServiceAction.PreemptAndAbort,
]);

function transfer(r: FieldReader, lbaAt: number, lbaSize: 4 | 8, lengthAt: number, lengthSize: 2 | 4, groupAt: number): TransferFields {
  return {
    lba: lbaSize === 4 ? r.u32(lbaAt) : r.u64(lbaAt),
    blocks: lengthSize === 2 ? r.u16(lengthAt) : r.u32(lengthAt),
    dpo: r.bit(1, 4),
    fua: r.bit(1, 3),
    protect: r.bits(1, 5, 3),
    group: r.bits(groupAt, 0, 5),
  };
}

/**
 * Parses a CDB. Throws only for an empty `cdb` (the caller's mistake); everything a peer can send
 * gives a result.
 */
export function parseCdb(cdb: Uint8Array): ParsedCdb {
  const opcode = cdb[0];
  if (opcode === undefined) throw new LocalProtocolError("parseCdb: the CDB is empty");
  const length = cdbLength(cdb);
  if (length !== undefined && cdb.length < length) {
    return invalid(opcode, cdb.length, undefined, `${scsiOpcodeName(opcode)} needs ${length} CDB bytes, got ${cdb.length}`);
  }
  const r = new FieldReader(cdb, `${scsiOpcodeName(opcode)} CDB`);
  const control = length === undefined ? 0 : r.u8(length - 1);
  const base = { opcode, control };
  const unknown = (serviceAction?: number): UnknownCdb => ({
    kind: "unknown",
    opcode,
    serviceAction,
    name: serviceAction === undefined ? scsiOpcodeName(opcode) : scsiCommandName(cdb),
  });

  switch (opcode) {
    case ScsiOpcode.TestUnitReady:
      return { ...base, kind: "test-unit-ready" };
    case ScsiOpcode.RequestSense:
      return { ...base, kind: "request-sense", descriptor: r.bit(1, 0), allocationLength: r.u8(4) };
    case ScsiOpcode.Inquiry: {
      const evpd = r.bit(1, 0);
      const page = r.u8(2);
      // SPC-4 INQUIRY: CMDDT is obsolete and must be zero; a page code without EVPD is invalid.
      if (r.bit(1, 1)) return invalid(opcode, 1, 1, "CMDDT is set");
      if (!evpd && page !== 0) return invalid(opcode, 2, 7, `PAGE CODE 0x${page.toString(16)} without EVPD`);
      return { ...base, kind: "inquiry", evpd, page, allocationLength: r.u16(3) };
    }
    case ScsiOpcode.ModeSense6:
    case ScsiOpcode.ModeSense10: {
      const six = opcode === ScsiOpcode.ModeSense6;
      return {
        ...base,
        kind: "mode-sense",
        variant: six ? 6 : 10,
        dbd: r.bit(1, 3),
        llbaa: !six && r.bit(1, 4),
        pageControl: r.bits(2, 6, 2),
        page: r.bits(2, 0, 6),
        subpage: r.u8(3),
        allocationLength: six ? r.u8(4) : r.u16(7),
      };
    }
    case ScsiOpcode.ReadCapacity10:
      // SBC-3 READ CAPACITY(10): with PMI clear the LOGICAL BLOCK ADDRESS must be zero.
      if (!r.bit(8, 0) && r.u32(2) !== 0) return invalid(opcode, 2, 7, "LOGICAL BLOCK ADDRESS set without PMI");
      return { ...base, kind: "read-capacity-10" };
    case ScsiOpcode.ServiceActionIn16: {
      const sa = r.bits(1, 0, 5);
      if (sa !== ServiceActionIn16.ReadCapacity16) return unknown(sa);
      const lba = r.u64n(2);
      if (!r.bit(14, 0) && lba !== 0n) return invalid(opcode, 2, 7, "LOGICAL BLOCK ADDRESS set without PMI");
      return { ...base, kind: "read-capacity-16", allocationLength: r.u32(10) };
    }
    case ScsiOpcode.ReportLuns:
      return { ...base, kind: "report-luns", selectReport: r.u8(2), allocationLength: r.u32(6) };
    case ScsiOpcode.Read6:
    case ScsiOpcode.Write6: {
      // SBC-3 READ(6)/WRITE(6): a 21-bit LBA, and TRANSFER LENGTH 0 means 256 blocks.
      const blocks = r.u8(4) === 0 ? 256 : r.u8(4);
      const fields = { lba: r.u24(1) & 0x1f_ffff, blocks, dpo: false, fua: false, protect: 0, group: 0 };
      return { ...base, ...fields, kind: opcode === ScsiOpcode.Read6 ? "read" : "write", variant: 6 };
    }
    case ScsiOpcode.Read10:
      return { ...base, ...transfer(r, 2, 4, 7, 2, 6), kind: "read", variant: 10 };
    case ScsiOpcode.Write10:
      return { ...base, ...transfer(r, 2, 4, 7, 2, 6), kind: "write", variant: 10 };
    case ScsiOpcode.Read12:
      return { ...base, ...transfer(r, 2, 4, 6, 4, 10), kind: "read", variant: 12 };
    case ScsiOpcode.Write12:
      return { ...base, ...transfer(r, 2, 4, 6, 4, 10), kind: "write", variant: 12 };
    case ScsiOpcode.Read16:
      return { ...base, ...transfer(r, 2, 8, 10, 4, 14), kind: "read", variant: 16 };
    case ScsiOpcode.Write16:
      return { ...base, ...transfer(r, 2, 8, 10, 4, 14), kind: "write", variant: 16 };
    case ScsiOpcode.Verify10:
    case ScsiOpcode.Verify12:
    case ScsiOpcode.Verify16: {
      const bytchk = byteCheckOf(r);
      // SBC-3 VERIFY: BYTCHK 10b is reserved.
      if (bytchk === 2) return invalid(opcode, 1, 2, "BYTCHK 10b is reserved");
      const t =
        opcode === ScsiOpcode.Verify10
          ? transfer(r, 2, 4, 7, 2, 6)
          : opcode === ScsiOpcode.Verify12
            ? transfer(r, 2, 4, 6, 4, 10)
            : transfer(r, 2, 8, 10, 4, 14);
      return {
        ...base,
        kind: "verify",
        variant: opcode === ScsiOpcode.Verify10 ? 10 : opcode === ScsiOpcode.Verify12 ? 12 : 16,
        lba: t.lba,
        blocks: t.blocks,
        dpo: t.dpo,
        byteCheck: bytchk as 0 | 1 | 3,
        protect: t.protect,
        group: t.group,
      };
    }
    case ScsiOpcode.WriteSame10:
    case ScsiOpcode.WriteSame16: {
      const ten = opcode === ScsiOpcode.WriteSame10;
      const anchor = r.bit(1, 4);
      const unmap = r.bit(1, 3);
      // SBC-3 WRITE SAME: ANCHOR without UNMAP is an invalid field.
      if (anchor && !unmap) return invalid(opcode, 1, 4, "ANCHOR set without UNMAP");
      const t = ten ? transfer(r, 2, 4, 7, 2, 6) : transfer(r, 2, 8, 10, 4, 14);
      return {
        ...base,
        kind: "write-same",
        variant: ten ? 10 : 16,
        lba: t.lba,
        blocks: t.blocks,
        unmap,
        anchor,
        ndob: !ten && r.bit(1, 0),
        protect: t.protect,
        group: t.group,
      };
    }
    case ScsiOpcode.Unmap:
      return { ...base, kind: "unmap", anchor: r.bit(1, 0), group: r.bits(6, 0, 5), parameterListLength: r.u16(7) };
    case ScsiOpcode.SynchronizeCache10:
      return { ...base, kind: "synchronize-cache", variant: 10, immed: r.bit(1, 1), lba: r.u32(2), blocks: r.u16(7), group: r.bits(6, 0, 5) };
    case ScsiOpcode.SynchronizeCache16:
      return { ...base, kind: "synchronize-cache", variant: 16, immed: r.bit(1, 1), lba: r.u64(2), blocks: r.u32(10), group: r.bits(14, 0, 5) };
    case ScsiOpcode.CompareAndWrite:
      return {
        ...base,
        kind: "compare-and-write",
        lba: r.u64(2),
        blocks: r.u8(13),
        dpo: r.bit(1, 4),
        fua: r.bit(1, 3),
        protect: r.bits(1, 5, 3),
        group: r.bits(14, 0, 5),
      };
    case ScsiOpcode.PersistentReserveIn: {
      const sa = r.bits(1, 0, 5);
      // SPC-4 PERSISTENT RESERVE IN: service actions 0-3 are defined.
      if (sa > 3) return invalid(opcode, 1, 4, `service action 0x${sa.toString(16)} is reserved`);
      return { ...base, kind: "persistent-reserve-in", serviceAction: sa, allocationLength: r.u16(7) };
    }
    case ScsiOpcode.PersistentReserveOut: {
      const sa = r.bits(1, 0, 5);
      const scope = r.bits(2, 4, 4);
      const type = r.bits(2, 0, 4);
      if (sa > PrOutServiceAction.ReplaceLostReservation) {
        return invalid(opcode, 1, 4, `service action 0x${sa.toString(16)} is reserved`);
      }
      if (PR_OUT_TYPED.has(sa)) {
        // SPC-4: only LU_SCOPE exists, and TYPE must be one of the six reservation types.
        if (scope !== 0) return invalid(opcode, 2, 7, `SCOPE ${scope} is not LU_SCOPE`);
        if (!isPrType(type)) return invalid(opcode, 2, 3, `TYPE ${type} is not a reservation type`);
      }
      return { ...base, kind: "persistent-reserve-out", serviceAction: sa, scope, type, parameterListLength: r.u32(5) };
    }
    case ScsiOpcode.StartStopUnit:
      return {
        ...base,
        kind: "start-stop-unit",
        immed: r.bit(1, 0),
        powerConditionModifier: r.bits(3, 0, 4),
        powerCondition: r.bits(4, 4, 4),
        noFlush: r.bit(4, 2),
        loadEject: r.bit(4, 1),
        start: r.bit(4, 0),
      };
    case ScsiOpcode.PreventAllowMediumRemoval:
      return { ...base, kind: "prevent-allow-medium-removal", prevent: r.bits(4, 0, 2) };
    case ScsiOpcode.VariableLength:
      // SPC-4 variable length CDB format: the service action is in bytes 8-9.
      return unknown(r.has(8, 2) ? r.u16(8) : undefined);
    case ScsiOpcode.MaintenanceIn:
    case ScsiOpcode.MaintenanceOut:
      return unknown(r.bits(1, 0, 5));
    default:
      return unknown();
  }
}
