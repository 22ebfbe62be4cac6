/**
 * SPC-4 §4.2.5.6 (ALLOCATION LENGTH): a device server returns at most ALLOCATION LENGTH bytes of
 * the data it built, cutting the rest off without error; the header's length fields keep their
 * full values so the initiator can ask again with a larger allocation length.
 */
import { checkUint } from "./wire.js";

/** The part of `data` an ALLOCATION LENGTH of `allocationLength` lets through (a view, no copy). */
export function fitAllocationLength(data: Uint8Array, allocationLength: number): Uint8Array {
  checkUint("ALLOCATION LENGTH", allocationLength, Number.MAX_SAFE_INTEGER);
  return allocationLength >= data.length ? data : data.subarray(0, allocationLength);
}
