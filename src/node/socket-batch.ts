/**
 * One batch of bytes onto a socket, the way both of our servers' pumps (the initiator's host and
 * the NBD bridge) want it: a small batch (headers, 4 KiB payloads) is copied into one Buffer and
 * written once, cheaper than a write request per piece; a large one goes as one corked writev of
 * the pieces themselves, so payloads are not copied.
 */
import type { Socket } from "node:net";

/**
 * Writes `pieces` (`length` bytes in all) as one batch. `onFree` runs once the pieces may be
 * reused: at once when they were copied, else when the kernel has the whole corked batch (and
 * never if that write failed: the pieces are then simply not reused).
 */
export function writeBatch(socket: Socket, pieces: readonly Uint8Array[], length: number, coalesceBytes: number, onFree?: () => void): void {
  if (length <= coalesceBytes) {
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] as Uint8Array;
      out.set(piece, at);
      at += piece.length;
    }
    socket.write(out);
    onFree?.();
    return;
  }
  socket.cork();
  const last = pieces.length - 1;
  for (let i = 0; i < last; i++) socket.write(pieces[i] as Uint8Array);
  // The last write's callback runs once the whole corked batch is with the kernel.
  if (onFree === undefined) socket.write(pieces[last] as Uint8Array);
  else socket.write(pieces[last] as Uint8Array, (error) => (error === undefined || error === null ? onFree() : undefined));
  socket.uncork();
}
