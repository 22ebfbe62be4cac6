/**
 * CDBs this device server runs that core/scsi's `parseCdb` does not parse (it answers `unknown`
 * for them): WRITE AND VERIFY (10)/(12)/(16) and PRE-FETCH (10)/(16) (SBC-3), and REPORT
 * SUPPORTED OPERATION CODES (SPC-4 §6.35, MAINTENANCE IN service action 0Ch). Same conventions as
 * `parseCdb`: a field the standard forbids gives `{ kind: "invalid", field, bit }`, reserved bits
 * are ignored, and the caller has made sure the CDB is as long as its opcode group says (parseCdb
 * answers a shorter one with `invalid` before it gets here).
 */
import type { InvalidCdb } from "../../../core/scsi/parse-cdb.js";
import { FieldReader, type U64 } from "../../../core/scsi/wire.js";

export interface WriteAndVerifyCdb {
  readonly opcode: number;
  readonly variant: 10 | 12 | 16;
  readonly lba: U64;
  /** TRANSFER LENGTH in logical blocks. */
  readonly blocks: number;
  readonly dpo: boolean;
  /** BYTCHK: 0 verify the medium only, 1 also compare what was written with the Data-Out. */
  readonly byteCheck: 0 | 1;
  /** WRPROTECT. */
  readonly protect: number;
  readonly group: number;
}

export interface PreFetchCdb {
  readonly opcode: number;
  readonly variant: 10 | 16;
  readonly immed: boolean;
  readonly lba: U64;
  /** PREFETCH LENGTH in logical blocks; 0 is "to the last logical block". */
  readonly blocks: number;
  readonly group: number;
}

export interface ReportSupportedOpcodesCdb {
  /** RCTD: return command timeouts descriptors. */
  readonly rctd: boolean;
  /** REPORTING OPTIONS: 0 all commands, 1 one opcode, 2 one opcode and service action. */
  readonly options: number;
  readonly requestedOpcode: number;
  readonly requestedServiceAction: number;
  readonly allocationLength: number;
}

function invalid(opcode: number, field: number, bit: number | undefined, reason: string): InvalidCdb {
  return { kind: "invalid", opcode, field, bit, reason };
}

/** Field offsets of LBA, TRANSFER LENGTH and GROUP NUMBER in the three sizes. */
const LAYOUT = {
  10: { lba: 2, lbaSize: 4, length: 7, lengthSize: 2, group: 6 },
  12: { lba: 2, lbaSize: 4, length: 6, lengthSize: 4, group: 10 },
  16: { lba: 2, lbaSize: 8, length: 10, lengthSize: 4, group: 14 },
} as const;

function range(r: FieldReader, variant: 10 | 12 | 16): { lba: U64; blocks: number; group: number } {
  const at = LAYOUT[variant];
  return {
    lba: at.lbaSize === 4 ? r.u32(at.lba) : r.u64(at.lba),
    blocks: at.lengthSize === 2 ? r.u16(at.length) : r.u32(at.length),
    group: r.bits(at.group, 0, 5),
  };
}

/** SBC-3 WRITE AND VERIFY (10) 2Eh, (12) AEh, (16) 8Eh. */
export function parseWriteAndVerifyCdb(cdb: Uint8Array): WriteAndVerifyCdb | InvalidCdb {
  const opcode = cdb[0] ?? 0;
  const variant = opcode === 0x2e ? 10 : opcode === 0xae ? 12 : 16;
  const r = new FieldReader(cdb, "WRITE AND VERIFY CDB");
  const bytchk = r.bits(1, 1, 2);
  // SBC-3 WRITE AND VERIFY: BYTCHK 10b is reserved, and so is 11b (VERIFY's "one block for all"),
  // since the blocks written are the blocks compared.
  if (bytchk > 1) return invalid(opcode, 1, 2, `BYTCHK ${bytchk.toString(2).padStart(2, "0")}b is reserved`);
  return { opcode, variant, ...range(r, variant), dpo: r.bit(1, 4), byteCheck: bytchk as 0 | 1, protect: r.bits(1, 5, 3) };
}

/** SBC-3 PRE-FETCH (10) 34h and (16) 90h. */
export function parsePreFetchCdb(cdb: Uint8Array): PreFetchCdb {
  const opcode = cdb[0] ?? 0;
  const variant = opcode === 0x34 ? 10 : 16;
  const r = new FieldReader(cdb, "PRE-FETCH CDB");
  return { opcode, variant, immed: r.bit(1, 1), ...range(r, variant) };
}

/** SPC-4 §6.35 REPORT SUPPORTED OPERATION CODES (A3h/0Ch). */
export function parseReportSupportedOpcodesCdb(cdb: Uint8Array): ReportSupportedOpcodesCdb {
  const r = new FieldReader(cdb, "REPORT SUPPORTED OPERATION CODES CDB");
  return {
    rctd: r.bit(2, 7),
    options: r.bits(2, 0, 3),
    requestedOpcode: r.u8(3),
    requestedServiceAction: r.u16(4),
    allocationLength: r.u32(6),
  };
}
