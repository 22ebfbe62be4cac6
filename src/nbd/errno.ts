/**
 * What an NBD client is told when the LUN fails a request: the protocol's error values from the
 * library's error codes and the SCSI sense. EIO unless something more precise is known: EPERM
 * for a write-protected unit (DATA PROTECT), ENOSPC when a thin unit ran out of space or a write
 * falls past the LUN's end, EINVAL for a request the LUN calls invalid.
 */
import { IscsiError, ScsiError } from "../core/errors.js";
import { SenseKey } from "../core/scsi/status.js";
import { NbdErrno } from "./engine/constants.js";
import type { NbdCommand } from "./engine/requests.js";

/** A failure that already knows its NBD error value (raised by the bridge itself). */
export class NbdRequestError extends Error {
  constructor(
    readonly errno: NbdErrno,
    message: string,
  ) {
    super(message);
    this.name = "NbdRequestError";
  }
}

const WRITES: ReadonlySet<NbdCommand> = new Set(["write", "write-zeroes", "trim"]);

export function nbdErrnoOf(error: unknown, command: NbdCommand): NbdErrno {
  if (error instanceof NbdRequestError) return error.errno;
  if (error instanceof ScsiError) {
    const sense = error.sense;
    if (sense === undefined) return NbdErrno.EIO;
    switch (sense.key) {
      case SenseKey.DataProtect:
        // 27h/07h SPACE ALLOCATION FAILED WRITE PROTECT: a thin unit is out of space.
        return sense.asc === 0x27 && sense.ascq === 0x07 ? NbdErrno.ENOSPC : NbdErrno.EPERM;
      case SenseKey.IllegalRequest:
        // 21h/00h LOGICAL BLOCK ADDRESS OUT OF RANGE: past the end for a write is "no space", as
        // the NBD document has it; for anything else an invalid argument.
        if (sense.asc === 0x21) return WRITES.has(command) ? NbdErrno.ENOSPC : NbdErrno.EINVAL;
        return NbdErrno.EINVAL;
      case SenseKey.VolumeOverflow:
        return NbdErrno.ENOSPC;
      default:
        return NbdErrno.EIO;
    }
  }
  if (error instanceof IscsiError && error.code === "ISCSI_ERR_CONFIG") return NbdErrno.EINVAL;
  // Transport loss the session could not recover from, timeouts, short transfers, aborts.
  return NbdErrno.EIO;
}

/** A one-line reason for the client (structured error chunks carry it). */
export function nbdMessageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length <= 1024 ? text : `${text.slice(0, 1021)}...`;
}
