/**
 * The endings a device server gives most: GOOD with or without data, and CHECK CONDITION with
 * the sense codes this target uses (SPC-4 §4.5.6 table of ASC/ASCQ assignments). Sense data is
 * fixed format: the Control mode page reports D_SENSE=0.
 */
import { type SenseInput, buildFixedSense, buildInvalidFieldSense } from "../../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../../core/scsi/status.js";
import type { ScsiResult } from "./port.js";
import type { StorageFailureKind } from "../storage.js";

export interface SenseCode {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
}

export const Sense = {
  /** 20h/00h */
  InvalidCommandOperationCode: { key: SenseKey.IllegalRequest, asc: 0x20, ascq: 0x00 },
  /** 21h/00h */
  LbaOutOfRange: { key: SenseKey.IllegalRequest, asc: 0x21, ascq: 0x00 },
  /** 25h/00h */
  LogicalUnitNotSupported: { key: SenseKey.IllegalRequest, asc: 0x25, ascq: 0x00 },
  /** 0Eh/03h: the iSCSI Expected Data Transfer Length and the CDB disagree (FCP-4 and SAM-5). */
  InvalidFieldInInformationUnit: { key: SenseKey.IllegalRequest, asc: 0x0e, ascq: 0x03 },
  /** 39h/00h */
  SavingParametersNotSupported: { key: SenseKey.IllegalRequest, asc: 0x39, ascq: 0x00 },
  /** 27h/00h */
  WriteProtected: { key: SenseKey.DataProtect, asc: 0x27, ascq: 0x00 },
  /** 27h/07h */
  SpaceAllocationFailed: { key: SenseKey.DataProtect, asc: 0x27, ascq: 0x07 },
  /** 1Dh/00h */
  Miscompare: { key: SenseKey.Miscompare, asc: 0x1d, ascq: 0x00 },
  /** 11h/00h */
  UnrecoveredReadError: { key: SenseKey.MediumError, asc: 0x11, ascq: 0x00 },
  /** 0Ch/00h */
  WriteError: { key: SenseKey.MediumError, asc: 0x0c, ascq: 0x00 },
  /** 44h/00h */
  InternalTargetFailure: { key: SenseKey.HardwareError, asc: 0x44, ascq: 0x00 },
  /** 4Bh/00h: the write data broke its sequence (iSCSI DataSN, offset, tag or F bit). */
  DataPhaseError: { key: SenseKey.AbortedCommand, asc: 0x4b, ascq: 0x00 },
  /** 00h/00h */
  NoSense: { key: SenseKey.NoSense, asc: 0x00, ascq: 0x00 },
} as const satisfies Record<string, SenseCode>;

export const GOOD: ScsiResult = Object.freeze({ status: ScsiStatus.Good });

export function good(data?: Uint8Array): ScsiResult {
  return data === undefined ? GOOD : { status: ScsiStatus.Good, data };
}

/** CHECK CONDITION with fixed-format sense; `extra` adds INFORMATION and the like. */
export function checkCondition(code: SenseCode, extra: Omit<SenseInput, "key" | "asc" | "ascq"> = {}, writeLength?: number): ScsiResult {
  const sense = buildFixedSense({ ...extra, key: code.key, asc: code.asc, ascq: code.ascq });
  return writeLength === undefined ? { status: ScsiStatus.CheckCondition, sense } : { status: ScsiStatus.CheckCondition, sense, writeLength };
}

/** ILLEGAL REQUEST, INVALID FIELD IN CDB, pointing at byte `field` (and `bit`) of the CDB. */
export function invalidFieldInCdb(field: number, bit?: number, writeLength?: number): ScsiResult {
  const sense = buildInvalidFieldSense({ inCdb: true, field, ...(bit === undefined ? {} : { bit }) });
  return writeLength === undefined ? { status: ScsiStatus.CheckCondition, sense } : { status: ScsiStatus.CheckCondition, sense, writeLength };
}

/** ILLEGAL REQUEST for a parameter list (Data-Out) field, with the given ASC/ASCQ. */
export function invalidParameterList(asc: number, ascq: number, field: number | undefined, writeLength: number): ScsiResult {
  const sense =
    field === undefined
      ? buildFixedSense({ key: SenseKey.IllegalRequest, asc, ascq })
      : buildInvalidFieldSense({ inCdb: false, field, asc, ascq });
  return { status: ScsiStatus.CheckCondition, sense, writeLength };
}

/** The sense for a storage request that failed. */
export function storageFailure(kind: StorageFailureKind, writing: boolean, writeLength?: number): ScsiResult {
  switch (kind) {
    case "medium-error":
      return checkCondition(writing ? Sense.WriteError : Sense.UnrecoveredReadError, {}, writeLength);
    case "no-space":
      return checkCondition(Sense.SpaceAllocationFailed, {}, writeLength);
    default:
      return checkCondition(Sense.InternalTargetFailure, {}, writeLength);
  }
}
