/**
 * The engine's storage requests: what the SCSI layer asks of a logical unit's backing store. The
 * engine never touches storage; it emits these as events, the host performs them (files, memory)
 * and hands the outcome back with `TargetEngine.completeStorage`. Offsets and lengths are bytes.
 *
 * Buffers: a read's data is whatever the host returns (a view of the backend's memory is fine: the
 * engine only reads it, and sends Data-In PDUs as views of it). A write's `data` is the buffer the
 * framer placed the initiator's Data-Out into; the host may keep it until the request completes.
 */

/** Which unit: the target, the LUN, and the unit's index in the whole configuration. */
export interface UnitRef {
  readonly target: string;
  readonly lun: number;
  readonly index: number;
}

export interface Extent {
  readonly offset: number;
  readonly length: number;
}

export type StorageOperation =
  | { readonly op: "read"; readonly offset: number; readonly length: number }
  /** `fua`: the data must be durable before the request completes (SBC-3 FUA). */
  | { readonly op: "write"; readonly offset: number; readonly data: Uint8Array; readonly fua: boolean }
  /** SYNCHRONIZE CACHE: make every completed write durable. */
  | { readonly op: "flush" }
  /** Deallocate: the extents read as zeros afterwards (UNMAP, WRITE SAME with UNMAP). */
  | { readonly op: "unmap"; readonly extents: readonly Extent[] }
  /** Fill `length` bytes from `offset` with `block` repeated (WRITE SAME without UNMAP). */
  | { readonly op: "write-same"; readonly offset: number; readonly length: number; readonly block: Uint8Array }
  /** Which parts of a range hold data (GET LBA STATUS); answered with `extents`. */
  | { readonly op: "map"; readonly offset: number; readonly length: number };

/** Part of a range and whether storage is allocated for it. */
export interface MapExtent {
  readonly offset: number;
  readonly length: number;
  readonly mapped: boolean;
}

export type StorageRequest = StorageOperation & { readonly id: number; readonly unit: UnitRef };

/** Why a request failed, as far as SCSI sense can tell the initiator. */
export type StorageFailureKind =
  /** The medium could not be read or written (EIO): MEDIUM ERROR. */
  | "medium-error"
  /** No space to allocate a block (ENOSPC): SPACE ALLOCATION FAILED. */
  | "no-space"
  /** Anything else: HARDWARE ERROR, internal target failure. */
  | "failure";

export type StorageOutcome =
  | { readonly ok: true; readonly data?: Uint8Array; readonly extents?: readonly MapExtent[] }
  | { readonly ok: false; readonly kind: StorageFailureKind; readonly message: string };

/**
 * The request for an operation. Each kind is built as its own literal (not a spread of the
 * operation), so that every request of a kind has one shape: this runs once per command.
 */
export function storageRequest(id: number, unit: UnitRef, o: StorageOperation): StorageRequest {
  switch (o.op) {
    case "read":
      return { op: "read", id, unit, offset: o.offset, length: o.length };
    case "write":
      return { op: "write", id, unit, offset: o.offset, data: o.data, fua: o.fua };
    case "flush":
      return { op: "flush", id, unit };
    case "unmap":
      return { op: "unmap", id, unit, extents: o.extents };
    case "write-same":
      return { op: "write-same", id, unit, offset: o.offset, length: o.length, block: o.block };
    case "map":
      return { op: "map", id, unit, offset: o.offset, length: o.length };
  }
}
