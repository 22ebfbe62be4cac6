/**
 * One line per PDU for a `-v` trace: opcode name, flags, tags, sequence numbers, lengths and, for
 * Login and Text PDUs, the text keys. Not on the hot path: only called when tracing is on.
 *
 * Secrets: CHAP secrets never reach the wire, but the CHAP challenge and response do; their values
 * (CHAP_C, CHAP_R) and those of any key whose name contains "Secret" or "Password" are replaced by
 * "<redacted N bytes>". An item without "=" (the tail of a key split across PDUs by the C bit, or
 * garbage) is shown only by its length, since its key cannot be known.
 */
import { hex, hexOf } from "../hex.js";
import { Opcode, opcodeName } from "./opcodes.js";
import type { Pdu } from "./types.js";

const TASK_ATTRIBUTES = ["Untagged", "Simple", "Ordered", "HeadOfQueue", "ACA"];
const TASK_FUNCTIONS = ["", "AbortTask", "AbortTaskSet", "ClearACA", "ClearTaskSet", "LUReset", "TargetWarmReset", "TargetColdReset", "TaskReassign"];
const LOGOUT_REASONS = ["CloseSession", "CloseConnection", "RemoveConnectionForRecovery"];
const SNACK_TYPES = ["Data/R2T", "Status", "DataACK", "R-Data"];

export function describePdu(pdu: Pdu): string {
  const parts: string[] = [opcodeName(pdu.opcode)];
  switch (pdu.opcode) {
    case Opcode.NopOut:
      parts.push(flags([pdu.immediate, "I"]), itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag), `LUN=${pdu.lun}`);
      parts.push(`CmdSN=${pdu.cmdSN}`, `ExpStatSN=${pdu.expStatSN}`, len(pdu.data));
      break;
    case Opcode.ScsiCommand:
      parts.push(flags([pdu.immediate, "I"], [pdu.final, "F"], [pdu.read, "R"], [pdu.write, "W"]));
      parts.push(`attr=${TASK_ATTRIBUTES[pdu.attribute] ?? pdu.attribute}`, itt(pdu.initiatorTaskTag), `LUN=${pdu.lun}`);
      parts.push(`EDTL=${pdu.expectedDataTransferLength}`, `CmdSN=${pdu.cmdSN}`, `ExpStatSN=${pdu.expStatSN}`);
      if (pdu.bidiReadDataLength !== undefined) parts.push(`bidiReadLength=${pdu.bidiReadDataLength}`);
      parts.push(`CDB=${hexOf(pdu.cdb)}`, len(pdu.data));
      break;
    case Opcode.TaskManagementRequest:
      parts.push(flags([pdu.immediate, "I"]), `function=${TASK_FUNCTIONS[pdu.function] ?? pdu.function}`, itt(pdu.initiatorTaskTag));
      parts.push(`RTT=${hex(pdu.referencedTaskTag, 8)}`, `LUN=${pdu.lun}`, `CmdSN=${pdu.cmdSN}`, `ExpStatSN=${pdu.expStatSN}`);
      parts.push(`RefCmdSN=${pdu.refCmdSN}`, `ExpDataSN=${pdu.expDataSN}`);
      break;
    case Opcode.LoginRequest:
      parts.push(flags([pdu.transit, "T"], [pdu.continue, "C"]), `CSG=${pdu.currentStage}`, `NSG=${pdu.nextStage}`);
      parts.push(`ver=${pdu.versionMax}-${pdu.versionMin}`, `ISID=${hex(pdu.isid, 12)}`);
      parts.push(`TSIH=${pdu.tsih}`, `CID=${pdu.cid}`, itt(pdu.initiatorTaskTag), `CmdSN=${pdu.cmdSN}`, `ExpStatSN=${pdu.expStatSN}`);
      parts.push(len(pdu.data), describeText(pdu.data));
      break;
    case Opcode.TextRequest:
      parts.push(flags([pdu.immediate, "I"], [pdu.final, "F"], [pdu.continue, "C"]), itt(pdu.initiatorTaskTag));
      parts.push(ttt(pdu.targetTransferTag), `CmdSN=${pdu.cmdSN}`, `ExpStatSN=${pdu.expStatSN}`, len(pdu.data), describeText(pdu.data));
      break;
    case Opcode.DataOut:
      parts.push(flags([pdu.final, "F"]), itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag), `LUN=${pdu.lun}`);
      parts.push(`ExpStatSN=${pdu.expStatSN}`, `DataSN=${pdu.dataSN}`, `offset=${pdu.bufferOffset}`, len(pdu.data));
      break;
    case Opcode.LogoutRequest:
      parts.push(flags([pdu.immediate, "I"]), `reason=${LOGOUT_REASONS[pdu.reason] ?? pdu.reason}`, itt(pdu.initiatorTaskTag));
      parts.push(`CID=${pdu.cid}`, `CmdSN=${pdu.cmdSN}`, `ExpStatSN=${pdu.expStatSN}`);
      break;
    case Opcode.SnackRequest:
      parts.push(`type=${SNACK_TYPES[pdu.type] ?? pdu.type}`, itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag));
      parts.push(`LUN=${pdu.lun}`, `ExpStatSN=${pdu.expStatSN}`, `BegRun=${pdu.begRun}`, `RunLength=${pdu.runLength}`);
      break;
    case Opcode.NopIn:
      parts.push(itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag), `LUN=${pdu.lun}`);
      parts.push(...sns(pdu), len(pdu.data));
      break;
    case Opcode.ScsiResponse:
      parts.push(
        flags(
          [pdu.bidiReadResidualOverflow, "o"],
          [pdu.bidiReadResidualUnderflow, "u"],
          [pdu.residualOverflow, "O"],
          [pdu.residualUnderflow, "U"],
        ),
      );
      parts.push(`response=${hex(pdu.response, 2)}`, `status=${hex(pdu.status, 2)}`, itt(pdu.initiatorTaskTag), ...sns(pdu));
      parts.push(`ExpDataSN=${pdu.expDataSN}`, `residual=${pdu.residualCount}`, `bidiResidual=${pdu.bidiReadResidualCount}`);
      parts.push(`sense=${pdu.sense.length}`, `responseData=${pdu.responseData.length}`);
      break;
    case Opcode.TaskManagementResponse:
      parts.push(`response=${pdu.response}`, itt(pdu.initiatorTaskTag), ...sns(pdu));
      break;
    case Opcode.LoginResponse:
      parts.push(flags([pdu.transit, "T"], [pdu.continue, "C"]), `CSG=${pdu.currentStage}`, `NSG=${pdu.nextStage}`);
      parts.push(`ver=${pdu.versionMax}/${pdu.versionActive}`, `ISID=${hex(pdu.isid, 12)}`);
      parts.push(`TSIH=${pdu.tsih}`, itt(pdu.initiatorTaskTag), ...sns(pdu));
      parts.push(`status=${hex(pdu.statusClass, 2)}/${hex(pdu.statusDetail, 2)}`, len(pdu.data), describeText(pdu.data));
      break;
    case Opcode.TextResponse:
      parts.push(flags([pdu.final, "F"], [pdu.continue, "C"]), itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag));
      parts.push(...sns(pdu), len(pdu.data), describeText(pdu.data));
      break;
    case Opcode.DataIn:
      parts.push(
        flags([pdu.final, "F"], [pdu.acknowledge, "A"], [pdu.residualOverflow, "O"], [pdu.residualUnderflow, "U"], [pdu.hasStatus, "S"]),
      );
      parts.push(itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag), `LUN=${pdu.lun}`);
      if (pdu.hasStatus) parts.push(`status=${hex(pdu.status, 2)}`, `StatSN=${pdu.statSN}`, `residual=${pdu.residualCount}`);
      parts.push(`ExpCmdSN=${pdu.expCmdSN}`, `MaxCmdSN=${pdu.maxCmdSN}`, `DataSN=${pdu.dataSN}`, `offset=${pdu.bufferOffset}`, len(pdu.data));
      break;
    case Opcode.LogoutResponse:
      parts.push(`response=${pdu.response}`, itt(pdu.initiatorTaskTag), ...sns(pdu));
      parts.push(`Time2Wait=${pdu.time2Wait}`, `Time2Retain=${pdu.time2Retain}`);
      break;
    case Opcode.R2T:
      parts.push(itt(pdu.initiatorTaskTag), ttt(pdu.targetTransferTag), `LUN=${pdu.lun}`, ...sns(pdu));
      parts.push(`R2TSN=${pdu.r2tSN}`, `offset=${pdu.bufferOffset}`, `length=${pdu.desiredDataTransferLength}`);
      break;
    case Opcode.AsyncMessage:
      parts.push(`event=${pdu.asyncEvent}`, `vcode=${pdu.asyncVCode}`, `LUN=${pdu.lun}`, ...sns(pdu));
      parts.push(`params=${pdu.parameter1},${pdu.parameter2},${pdu.parameter3}`, len(pdu.data));
      break;
    case Opcode.Reject:
      parts.push(`reason=${hex(pdu.reason, 2)}`, ...sns(pdu), `DataSN/R2TSN=${pdu.dataSNOrR2TSN}`, len(pdu.data));
      break;
  }
  return parts.filter((part) => part !== "").join(" ");
}

function flags(...bits: readonly (readonly [boolean, string])[]): string {
  const set = bits.filter(([on]) => on).map(([, name]) => name);
  return set.length === 0 ? "" : `[${set.join("")}]`;
}

function itt(tag: number): string {
  return `ITT=${hex(tag, 8)}`;
}

function ttt(tag: number): string {
  return `TTT=${hex(tag, 8)}`;
}

function len(data: Uint8Array): string {
  return `len=${data.length}`;
}

function sns(pdu: { readonly statSN: number; readonly expCmdSN: number; readonly maxCmdSN: number }): string[] {
  return [`StatSN=${pdu.statSN}`, `ExpCmdSN=${pdu.expCmdSN}`, `MaxCmdSN=${pdu.maxCmdSN}`];
}

/** RFC 7143 §6.1: key=value pairs, each ended by a NUL byte. */
function describeText(data: Uint8Array): string {
  if (data.length === 0) return "";
  const items: string[] = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end === -1) end = data.length;
    if (end > start) items.push(describeItem(data.subarray(start, end)));
    start = end + 1;
  }
  return `{${items.join(" ")}}`;
}

function describeItem(item: Uint8Array): string {
  const eq = item.indexOf(0x3d); // "="
  if (eq === -1) return `<${item.length} bytes without "=">`;
  const key = printable(item.subarray(0, eq));
  const valueLength = item.length - eq - 1;
  return isSensitiveKey(key) ? `${key}=<redacted ${valueLength} bytes>` : `${key}=${printable(item.subarray(eq + 1))}`;
}

function isSensitiveKey(key: string): boolean {
  return key === "CHAP_R" || key === "CHAP_C" || /secret|password/i.test(key);
}

/** Printable ASCII as is; anything else (control bytes, UTF-8 sequences) as \xNN. */
function printable(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}
