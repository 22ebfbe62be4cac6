/**
 * Which commands must move exactly the bytes their CDB asks for. A READ or WRITE names its blocks
 * in the CDB, and the initiator derives the Expected Data Transfer Length from them (RFC 7143
 * §11.3.4): a target that then moves fewer bytes and still says GOOD (with the U bit and a
 * residual, RFC 7143 §11.4.5.2, or without) has not done what the command says. For INQUIRY,
 * MODE SENSE, REPORT LUNS and the like the CDB gives only an allocation length, and returning less
 * is their ordinary answer (SPC-4 §4.2.5.6), so they are not listed here.
 */
import { ScsiOpcode } from "./opcodes.js";

const WHOLE_TRANSFER: ReadonlySet<number> = new Set([
  ScsiOpcode.Read6,
  ScsiOpcode.Read10,
  ScsiOpcode.Read12,
  ScsiOpcode.Read16,
  ScsiOpcode.Write6,
  ScsiOpcode.Write10,
  ScsiOpcode.Write12,
  ScsiOpcode.Write16,
  ScsiOpcode.WriteAndVerify10,
  ScsiOpcode.WriteAndVerify16,
  ScsiOpcode.CompareAndWrite,
  ScsiOpcode.WriteSame10,
  ScsiOpcode.WriteSame16,
]);

/** Whether a GOOD status for `cdb` promises that every byte of its data moved. */
export function demandsWholeTransfer(cdb: Uint8Array): boolean {
  const opcode = cdb[0];
  return opcode !== undefined && WHOLE_TRANSFER.has(opcode);
}
