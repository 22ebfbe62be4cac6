/**
 * How a caller's buffer crosses to the worker that runs its session, with the fewest copies the
 * buffer allows:
 * - backed by a SharedArrayBuffer (`pool.allocate(bytes)` gives one): no copy and no move; the
 *   worker reads into it and sends from it where it is;
 * - a plain one with `transfer: true`: its ArrayBuffer is moved (no copy); the caller's array is
 *   detached from then on;
 * - a plain one otherwise: copied once (a write's data into a fresh buffer that is then moved;
 *   a read's data out of the worker's buffer, which was moved here, into the caller's).
 * Node's small Buffers are slices of a shared pool that cannot be moved: they are copied even
 * with `transfer: true`.
 */
import type { Transfer } from "./outbox.js";

/** Bytes backed by a SharedArrayBuffer: the same memory on every thread. */
export function allocateShared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

export function isShared(view: Uint8Array): boolean {
  return view.buffer instanceof SharedArrayBuffer;
}

/** Whether the caller's array may be moved: it asked, and its memory is its own (not a slice of Node's Buffer pool). */
export function movable(view: Uint8Array, transfer: boolean | undefined): boolean {
  if (transfer !== true || isShared(view)) return false;
  return !(Buffer.isBuffer(view) && view.buffer.byteLength > view.byteLength);
}

/** Data to send (a write's, a command's Data-Out): the view to post and the buffer to move with it. */
export function outgoing(view: Uint8Array, transfer: boolean | undefined): { readonly view: Uint8Array; readonly transfer: Transfer } {
  if (isShared(view)) return { view, transfer: undefined };
  if (movable(view, transfer)) return { view, transfer: view.buffer as ArrayBuffer };
  // Posting a view clones its whole ArrayBuffer; a copy of just the view, moved, costs one copy of the bytes sent.
  const copy = view.slice();
  return { view: copy, transfer: copy.buffer };
}

/** The view again, `length` bytes long, as Lun.read and execute return it: the array itself when it is exactly that long. */
export function prefix(view: Uint8Array, length: number): Uint8Array {
  return view.length === length ? view : view.subarray(0, length);
}
