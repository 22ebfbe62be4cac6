/**
 * What a LUN says about its blocks beyond reading them, as free functions beside `Lun` (lun.ts
 * stays the I/O core): GET LBA STATUS (SBC-3) on thin-provisioned units, and the PRE-FETCH hint.
 * Both tell "the unit does not have this command" apart from a failure, so callers can fall back.
 */
import { ScsiError } from "../core/errors.js";
import { buildGetLbaStatusCdb, buildPreFetch16Cdb, lbaStatusAllocation, type LbaStatusDescriptor, parseLbaStatusData } from "../core/scsi/lba-status.js";
import { ScsiStatus, SenseKey } from "../core/scsi/status.js";
import { decodeSense } from "../core/scsi/sense.js";
import type { Lun } from "./lun.js";

/**
 * ILLEGAL REQUEST with INVALID COMMAND OPERATION CODE (20h) or INVALID FIELD IN CDB (24h): the
 * unit does not implement the command (or its service action), SPC-4.
 */
export function isUnsupportedCommand(error: unknown): boolean {
  if (!(error instanceof ScsiError) || error.sense === undefined) return false;
  return error.sense.key === SenseKey.IllegalRequest && (error.sense.asc === 0x20 || error.sense.asc === 0x24);
}

/**
 * GET LBA STATUS from `lba`: up to `descriptors` extents (mapped, deallocated, anchored), the
 * first starting at `lba`. Rejects with the ScsiError of a unit without the command (see
 * isUnsupportedCommand).
 */
export async function getLbaStatus(lun: Lun, lba: number, descriptors = 64): Promise<readonly LbaStatusDescriptor[]> {
  const allocationLength = lbaStatusAllocation(descriptors);
  const result = await lun.execute(buildGetLbaStatusCdb({ lba, allocationLength }), { dataIn: allocationLength, retry: "safe" });
  return parseLbaStatusData(result.data).descriptors;
}

/**
 * PRE-FETCH(16) with IMMED: a hint that `blocks` blocks from `lba` will be read. Resolves
 * "unsupported" when the unit does not have the command; CONDITION MET (the blocks fit in the
 * cache) and GOOD both resolve "done".
 */
export async function preFetch(lun: Lun, lba: number, blocks: number): Promise<"done" | "unsupported"> {
  const result = await lun.execute(buildPreFetch16Cdb({ lba, blocks, immed: true }), { allowStatus: true, retry: "safe" });
  if (result.status === ScsiStatus.Good || result.status === ScsiStatus.ConditionMet) return "done";
  const sense = result.status === ScsiStatus.CheckCondition && result.sense.length > 0 ? decodeSense(result.sense) : undefined;
  const error = new ScsiError(
    result.status,
    `PRE-FETCH(16) on LUN ${lun.number} failed: ${sense?.description ?? `status 0x${result.status.toString(16)}`}`,
    sense === undefined ? undefined : { key: sense.key, asc: sense.asc, ascq: sense.ascq, description: sense.description },
    result.sense.length > 0 ? result.sense : undefined,
  );
  if (isUnsupportedCommand(error)) return "unsupported";
  throw error;
}
