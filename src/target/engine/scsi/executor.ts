/**
 * The device server: takes one SCSI command for a logical unit of a target and runs it to its
 * end through the port. Dispatch is on the parsed CDB (core/scsi parseCdb); what SPC-4 and SBC-3
 * say every command must check first is checked here, in the order the standards give:
 *   1. an unknown logical unit (only INQUIRY, REPORT LUNS and REQUEST SENSE answer for it);
 *   2. a pending UNIT ATTENTION for this I_T nexus (SAM-5 §5.14: INQUIRY, REPORT LUNS and
 *      REQUEST SENSE pass; everything else takes the unit attention);
 *   3. an unknown opcode, then invalid CDB fields (NACA included: we have no ACA).
 */
import { type ParsedCdb, parseCdb } from "../../../core/scsi/parse-cdb.js";
import { SenseKey } from "../../../core/scsi/status.js";
import type { ResolvedTarget } from "../config.js";
import type { LogicalUnit } from "./logical-unit.js";
import type { ScsiPort, ScsiRequest } from "./port.js";
import { GOOD, Sense, checkCondition, invalidFieldInCdb } from "./results.js";
import {
  compareAndWrite,
  getLbaStatus,
  isGetLbaStatus,
  read,
  readCapacity10,
  readCapacity16,
  synchronizeCache,
  unmap,
  verify,
  write,
  writeSame,
} from "./sbc.js";
import { inquiry, modeSense, reportLuns, requestSense } from "./spc.js";
import { parseTransferCdb } from "./fast-cdb.js";

/** The I_T nexus's pending unit attention conditions for one LUN (taken from the front). */
export type UnitAttentionQueue = Array<{ readonly asc: number; readonly ascq: number }>;

export interface ExecutionContext {
  readonly target: ResolvedTarget;
  /** This nexus's unit attention queue for `lun`, if any. */
  unitAttention(lun: number): UnitAttentionQueue | undefined;
}

/** Commands that run even with a unit attention pending (SAM-5 §5.14). */
const UNIT_ATTENTION_EXEMPT: ReadonlySet<string> = new Set(["inquiry", "report-luns", "request-sense"]);

/** COMPARE AND WRITE holds its unit alone (SBC-3 §5.2: atomic with respect to other commands). */
export function needsExclusiveUnit(cdb: Uint8Array): boolean {
  return cdb[0] === 0x89;
}

export function executeScsi(context: ExecutionContext, unit: LogicalUnit | undefined, request: ScsiRequest, port: ScsiPort): void {
  const cdb = parseTransferCdb(request.cdb) ?? parseCdb(request.cdb);
  if (unit === undefined) return port.finish(withoutUnit(cdb, context.target));
  if (!UNIT_ATTENTION_EXEMPT.has(cdb.kind)) {
    const pending = context.unitAttention(request.lun);
    const ua = pending?.shift();
    if (ua !== undefined) return port.finish(checkCondition({ key: SenseKey.UnitAttention, asc: ua.asc, ascq: ua.ascq }, {}, writeLengthHint(cdb, unit)));
  }
  if (cdb.kind === "unknown") {
    if (isGetLbaStatus(request.cdb) && unit.def.thinProvisioned) return getLbaStatus(request.cdb, unit, port);
    return port.finish(checkCondition(Sense.InvalidCommandOperationCode));
  }
  if (cdb.kind === "invalid") return port.finish(invalidFieldInCdb(cdb.field, cdb.bit));
  // SAM-5: NACA=1 asks for ACA, which this device server does not support (INQUIRY NormACA=0).
  if ((cdb.control & 0x04) !== 0) return port.finish(invalidFieldInCdb(controlIndex(cdb), 2));
  const limits = unit.limits;
  switch (cdb.kind) {
    case "test-unit-ready":
      return port.finish(GOOD);
    case "request-sense": {
      const pending = context.unitAttention(request.lun)?.shift();
      return port.finish(requestSense(cdb, pending === undefined ? undefined : { key: SenseKey.UnitAttention, ...pending }));
    }
    case "inquiry":
      return port.finish(inquiry(cdb, context.target, unit, limits));
    case "mode-sense":
      return port.finish(modeSense(cdb, unit));
    case "report-luns":
      return port.finish(reportLuns(cdb, context.target));
    case "read-capacity-10":
      return port.finish(readCapacity10(unit));
    case "read-capacity-16":
      return port.finish(readCapacity16(cdb, unit));
    case "read":
      return read(cdb, unit, limits, port);
    case "write":
      return write(request, cdb, unit, limits, port);
    case "verify":
      return verify(request, cdb, unit, limits, port);
    case "write-same":
      return writeSame(request, cdb, unit, limits, port);
    case "unmap":
      return unmap(request, cdb, unit, limits, port);
    case "synchronize-cache":
      return synchronizeCache(cdb, unit, port);
    case "compare-and-write":
      return compareAndWrite(request, cdb, unit, limits, port);
    case "start-stop-unit":
    case "prevent-allow-medium-removal":
      // A fixed, always-ready medium: there is nothing to start, stop, lock or eject.
      return port.finish(GOOD);
    case "persistent-reserve-in":
    case "persistent-reserve-out":
      // Reservations are not implemented: the opcodes are unsupported, as SPC-4 allows.
      return port.finish(checkCondition(Sense.InvalidCommandOperationCode));
  }
}

/** SPC-4 for a LUN with no logical unit: who still answers, and how. */
function withoutUnit(cdb: ParsedCdb, target: ResolvedTarget) {
  switch (cdb.kind) {
    case "inquiry":
      return inquiry(cdb, target, undefined, undefined);
    case "report-luns":
      return reportLuns(cdb, target);
    case "request-sense":
      // SPC-4 REQUEST SENSE: the sense data say why, with GOOD status.
      return requestSense(cdb, Sense.LogicalUnitNotSupported);
    default:
      return checkCondition(Sense.LogicalUnitNotSupported);
  }
}

/** The index of the CONTROL byte, for NACA's field pointer. */
function controlIndex(cdb: ParsedCdb): number {
  const opcode = "opcode" in cdb ? cdb.opcode : 0;
  const group = opcode >> 5;
  return group === 0 ? 5 : group === 1 || group === 2 ? 9 : group === 4 ? 15 : group === 5 ? 11 : 0;
}

/** For commands that carry write data, how much: so the unit attention's residual is right. */
function writeLengthHint(cdb: ParsedCdb, unit: LogicalUnit): number | undefined {
  switch (cdb.kind) {
    case "write":
      return cdb.blocks * unit.def.blockSize;
    case "compare-and-write":
      return 2 * cdb.blocks * unit.def.blockSize;
    case "write-same":
      return cdb.ndob ? undefined : unit.def.blockSize;
    case "unmap":
      return cdb.parameterListLength;
    case "verify":
      return cdb.byteCheck === 1 ? cdb.blocks * unit.def.blockSize : cdb.byteCheck === 3 ? unit.def.blockSize : undefined;
    default:
      return undefined;
  }
}
