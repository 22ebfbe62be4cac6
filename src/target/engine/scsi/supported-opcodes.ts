/**
 * SPC-4 §6.35 REPORT SUPPORTED OPERATION CODES, answered from the device server's command table
 * (commands.ts) for one unit: reporting options 000b (every command: §6.35.2 command descriptors,
 * with §6.35.4 command timeouts descriptors when RCTD is set), 001b (one opcode, which must not
 * have service actions) and 010b (one opcode and service action, which it must have), both in the
 * one_command format of §6.35.3 with the CDB USAGE DATA. Other reporting options are reserved here.
 */
import { fitAllocationLength } from "../../../core/scsi/allocation.js";
import type { ScsiCommand } from "./commands.js";
import type { ReportSupportedOpcodesCdb } from "./local-cdb.js";
import type { ScsiResult } from "./port.js";
import { good, invalidFieldInCdb } from "./results.js";

/** SPC-4 §6.35.4: the command timeouts descriptor is 12 bytes, its DESCRIPTOR LENGTH 0Ah. */
const TIMEOUTS_LENGTH = 12;

/** SUPPORT field values (one_command format). */
const Support = { NotSupported: 0b001, Supported: 0b011 } as const;

/**
 * Writes a command timeouts descriptor at `at`. The device server has no per-command timeouts:
 * NOMINAL COMMAND PROCESSING TIMEOUT and RECOMMENDED COMMAND TIMEOUT are 0, "not specified".
 */
function putTimeouts(data: Uint8Array, at: number): void {
  data[at + 1] = TIMEOUTS_LENGTH - 2;
}

function allCommands(commands: readonly ScsiCommand[], rctd: boolean): Uint8Array {
  const size = 8 + (rctd ? TIMEOUTS_LENGTH : 0);
  const data = new Uint8Array(4 + size * commands.length);
  const view = new DataView(data.buffer);
  // COMMAND DATA LENGTH: the bytes after itself.
  view.setUint32(0, data.length - 4);
  commands.forEach((command, i) => {
    const at = 4 + size * i;
    data[at] = command.opcode;
    view.setUint16(at + 2, command.serviceAction ?? 0);
    // CTDP (bit 1): a timeouts descriptor follows; SERVACTV (bit 0): SERVICE ACTION is meaningful.
    data[at + 5] = (rctd ? 0x02 : 0) | (command.serviceAction === undefined ? 0 : 0x01);
    view.setUint16(at + 6, command.usage.length);
    if (rctd) putTimeouts(data, at + 8);
  });
  return data;
}

function oneCommand(command: ScsiCommand | undefined, rctd: boolean): Uint8Array {
  if (command === undefined) {
    // Not supported: no CDB usage data, no timeouts.
    return new Uint8Array([0, Support.NotSupported, 0, 0]);
  }
  const usage = command.usage;
  const data = new Uint8Array(4 + usage.length + (rctd ? TIMEOUTS_LENGTH : 0));
  data[1] = (rctd ? 0x80 : 0) | Support.Supported;
  new DataView(data.buffer).setUint16(2, usage.length);
  data.set(usage, 4);
  if (rctd) putTimeouts(data, 4 + usage.length);
  return data;
}

export function reportSupportedOperationCodes(cdb: ReportSupportedOpcodesCdb, commands: readonly ScsiCommand[]): ScsiResult {
  const sameOpcode = commands.filter((c) => c.opcode === cdb.requestedOpcode);
  const hasServiceActions = sameOpcode.some((c) => c.serviceAction !== undefined);
  let data: Uint8Array;
  switch (cdb.options) {
    case 0b000:
      data = allCommands(commands, cdb.rctd);
      break;
    case 0b001:
      // SPC-4: asking by opcode alone for an opcode that has service actions is an invalid field.
      if (hasServiceActions) return invalidFieldInCdb(2, 2);
      data = oneCommand(sameOpcode[0], cdb.rctd);
      break;
    case 0b010:
      // ... and asking by service action for an opcode that has none.
      if (sameOpcode.length > 0 && !hasServiceActions) return invalidFieldInCdb(2, 2);
      data = oneCommand(
        sameOpcode.find((c) => c.serviceAction === cdb.requestedServiceAction),
        cdb.rctd,
      );
      break;
    default:
      return invalidFieldInCdb(2, 2);
  }
  return good(fitAllocationLength(data, cdb.allocationLength));
}
