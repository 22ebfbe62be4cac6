/**
 * Which commands may be sent again after the connection carrying them was lost, when nobody
 * knows whether the target executed them (RFC 7143 §7.1.1 leaves this to the initiator).
 *
 * A command is repeatable when executing it twice leaves the same state as executing it once:
 * reads, and writes of given data to given blocks (WRITE, WRITE SAME, UNMAP: the last of two
 * identical writes wins, and ordered recovery re-issues them in their original order). It is not
 * when its effect depends on the state it finds (COMPARE AND WRITE would report a miscompare the
 * second time), when it changes reservations or registrations (PERSISTENT RESERVE OUT), or when
 * we do not know it (vendor and unlisted commands).
 */
import { ScsiOpcode } from "./opcodes.js";

const REPEATABLE: ReadonlySet<number> = new Set([
  ScsiOpcode.TestUnitReady,
  ScsiOpcode.RequestSense,
  ScsiOpcode.Read6,
  ScsiOpcode.Write6,
  ScsiOpcode.Inquiry,
  ScsiOpcode.ModeSense6,
  ScsiOpcode.ReadCapacity10,
  ScsiOpcode.Read10,
  ScsiOpcode.Write10,
  ScsiOpcode.WriteAndVerify10,
  ScsiOpcode.Verify10,
  ScsiOpcode.SynchronizeCache10,
  ScsiOpcode.WriteSame10,
  ScsiOpcode.Unmap,
  ScsiOpcode.LogSense,
  ScsiOpcode.ModeSense10,
  ScsiOpcode.PersistentReserveIn,
  ScsiOpcode.Read16,
  ScsiOpcode.Write16,
  ScsiOpcode.WriteAndVerify16,
  ScsiOpcode.Verify16,
  ScsiOpcode.SynchronizeCache16,
  ScsiOpcode.WriteSame16,
  ScsiOpcode.ReportLuns,
  ScsiOpcode.Read12,
  ScsiOpcode.Write12,
  ScsiOpcode.Verify12,
]);

export function isRepeatable(cdb: Uint8Array): boolean {
  const opcode = cdb[0];
  if (opcode === undefined) return false;
  if (opcode === ScsiOpcode.ServiceActionIn16) {
    // READ CAPACITY(16) and GET LBA STATUS only read.
    const action = (cdb[1] ?? 0) & 0x1f;
    return action === 0x10 || action === 0x12;
  }
  return REPEATABLE.has(opcode);
}
