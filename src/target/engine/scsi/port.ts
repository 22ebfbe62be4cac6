/**
 * The boundary between iSCSI and SCSI inside the engine (as libiscsi keeps scsi-lowlevel apart):
 * the SCSI layer sees a command (LUN, CDB, how much data the initiator expects) and a port to
 * ask for write data, run storage operations and finish; it knows nothing of PDUs, R2Ts or
 * residuals. The iSCSI task behind the port does those.
 */
import type { StorageOperation, StorageOutcome } from "../storage.js";

export interface ScsiRequest {
  readonly lun: number;
  readonly cdb: Uint8Array;
  /** The iSCSI Expected Data Transfer Length. */
  readonly expectedLength: number;
  /** R and W bits of the SCSI Command PDU. */
  readonly read: boolean;
  readonly write: boolean;
}

/** How a command ended. Residuals follow from the data lengths here and the expected length. */
export interface ScsiResult {
  /** SAM-5 status (GOOD, CHECK CONDITION, ...). */
  readonly status: number;
  /** Sense data, with CHECK CONDITION. */
  readonly sense?: Uint8Array;
  /** Data for the initiator, already cut to the CDB's allocation length. */
  readonly data?: Uint8Array;
  /** Bytes of write data the CDB called for (its transfer length), when it asked for any. */
  readonly writeLength?: number;
}

export interface ScsiPort {
  /**
   * Collects `length` bytes of write data (the CDB's transfer length). `then` gets them, in the
   * buffer the Data-Out was placed into; it is not called if the task ends first.
   */
  receiveData(length: number, then: (data: Uint8Array) => void): void;
  /** Runs one storage operation on the command's unit; `then` is not called if the task was aborted. */
  storage(operation: StorageOperation, then: (outcome: StorageOutcome) => void): void;
  /** The command is done: the port sends its data and status. Called once. */
  finish(result: ScsiResult): void;
}
