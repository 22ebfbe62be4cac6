/**
 * How much of a command's buffer has moved, counted as the bytes from offset 0 with no hole: what
 * a caller can use. A peer may send a range twice (a retransmission, a repeated R2T) or out of
 * order (DataPDUInOrder=No, DataSequenceInOrder=No, RFC 7143 §13.19, §13.20); summing lengths
 * would count a repeated range twice and let a hole pass for data.
 *
 * The common case (in order, no hole) is one comparison and no allocation; ranges past a hole are
 * kept in a small sorted list only when a peer leaves one.
 */

/** Ranges [start, end) past a hole, sorted by start, merged. */
export type Ranges = Array<[number, number]>;

/** A run [0, end) plus the ranges moved past its end. */
export interface Coverage {
  readonly end: number;
  readonly ahead: Ranges | undefined;
}

/**
 * Records that [offset, offset + length) moved, given the run [0, end) and the ranges `ahead` of
 * it (changed in place, or created); returns the new run and ranges.
 */
export function cover(end: number, ahead: Ranges | undefined, offset: number, length: number): Coverage {
  if (length <= 0) return { end, ahead };
  const last = offset + length;
  if (offset <= end) {
    if (last > end) end = last;
  } else {
    const list = ahead ?? [];
    let i = 0;
    while (i < list.length && (list[i] as [number, number])[0] < offset) i++;
    list.splice(i, 0, [offset, last]);
    ahead = mergeTouching(list);
  }
  // Ranges past the hole join the run once the hole is filled.
  if (ahead !== undefined) {
    while (ahead.length > 0 && (ahead[0] as [number, number])[0] <= end) end = Math.max(end, (ahead.shift() as [number, number])[1]);
    if (ahead.length === 0) ahead = undefined;
  }
  return { end, ahead };
}

function mergeTouching(sorted: Ranges): Ranges {
  const merged: Ranges = [];
  for (const range of sorted) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && range[0] <= previous[1]) previous[1] = Math.max(previous[1], range[1]);
    else merged.push([range[0], range[1]]);
  }
  return merged;
}
