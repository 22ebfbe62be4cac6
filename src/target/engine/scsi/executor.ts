/**
 * The device server: takes one SCSI command for a logical unit of a target and runs it to its
 * end through the port. Dispatch is on the parsed CDB (core/scsi parseCdb); what SPC-4 and SBC-3
 * say every command must check first is checked here, in the order the standards give:
 *   1. an unknown logical unit (only INQUIRY, REPORT LUNS and REQUEST SENSE answer for it);
 *   2. a pending UNIT ATTENTION for this I_T nexus (SAM-5 §5.14: INQUIRY, REPORT LUNS and
 *      REQUEST SENSE pass; everything else takes the unit attention);
 *   3. an opcode not in the command table (commands.ts), then invalid CDB fields (NACA
 *      included: we have no ACA); then the table's entry runs the command.
 */
import { type ParsedCdb, parseCdb } from "../../../core/scsi/parse-cdb.js";
import { SenseKey } from "../../../core/scsi/status.js";
import type { ResolvedTarget } from "../config.js";
import { findCommand } from "./commands.js";
import type { LogicalUnit } from "./logical-unit.js";
import type { ScsiPort, ScsiRequest } from "./port.js";
import { Sense, checkCondition, invalidFieldInCdb } from "./results.js";
import { inquiry, reportLuns, requestSense } from "./spc.js";
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

/** Whether the command holds its unit alone: COMPARE AND WRITE (SBC-3 §5.2: atomic with respect to other commands) and WRITE AND VERIFY. */
export function needsExclusiveUnit(cdb: Uint8Array): boolean {
  return findCommand(cdb, undefined)?.exclusive === true;
}

export function executeScsi(context: ExecutionContext, unit: LogicalUnit | undefined, request: ScsiRequest, port: ScsiPort): void {
  const cdb = parseTransferCdb(request.cdb) ?? parseCdb(request.cdb);
  if (unit === undefined) return port.finish(withoutUnit(cdb, context.target));
  const command = findCommand(request.cdb, unit);
  if (!UNIT_ATTENTION_EXEMPT.has(cdb.kind)) {
    const pending = context.unitAttention(request.lun);
    const ua = pending?.shift();
    if (ua !== undefined) {
      const writeLength = cdb.kind === "invalid" ? undefined : command?.writeLength?.(cdb, request, unit);
      return port.finish(checkCondition({ key: SenseKey.UnitAttention, asc: ua.asc, ascq: ua.ascq }, {}, writeLength));
    }
  }
  // An opcode (or service action) not in the command table, or not on this unit.
  if (command === undefined) return port.finish(checkCondition(Sense.InvalidCommandOperationCode));
  if (cdb.kind === "invalid") return port.finish(invalidFieldInCdb(cdb.field, cdb.bit));
  // SAM-5: NACA=1 asks for ACA, which this device server does not support (INQUIRY NormACA=0).
  if ((request.cdb[command.usage.length - 1]! & 0x04) !== 0) return port.finish(invalidFieldInCdb(command.usage.length - 1, 2));
  command.run(cdb, unit, request, port, context);
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
