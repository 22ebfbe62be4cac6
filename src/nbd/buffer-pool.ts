/**
 * Buffers for READ payloads, reused once the reply that carried them has been handed to the
 * kernel. NBD clients ask for the same few sizes again and again (fio's block size, qemu's
 * cluster), so buffers are kept by exact size; a buffer comes back only through `release`, which
 * the server calls from the socket write's callback, so no buffer is refilled while a reply still
 * points at it. Buffers are not zero-filled: a READ that succeeds has filled every byte (the
 * library rejects a short transfer), and a failed one never sends its buffer.
 */
export class BufferPool {
  private readonly free = new Map<number, Uint8Array[]>();
  private heldBytes = 0;

  /** Keeps at most `maxBytes` of free buffers; larger buffers than `maxBufferBytes` are never kept. */
  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly maxBufferBytes = 4 * 1024 * 1024,
  ) {}

  /** Free bytes held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** A buffer of exactly `length` bytes whose contents are undefined. */
  take(length: number): Uint8Array {
    const list = this.free.get(length);
    const reused = list?.pop();
    if (reused !== undefined) {
      this.heldBytes -= length;
      return reused;
    }
    // Not zero-filled, and not a slice of Node's shared pool: the whole ArrayBuffer is ours.
    return Buffer.allocUnsafeSlow(length);
  }

  /** Gives back a buffer from `take` that nothing refers to any more. */
  release(buffer: Uint8Array): void {
    const length = buffer.length;
    if (length === 0 || length > this.maxBufferBytes || this.heldBytes + length > this.maxBytes) return;
    if (buffer.byteOffset !== 0 || buffer.byteLength !== buffer.buffer.byteLength) return;
    let list = this.free.get(length);
    if (list === undefined) {
      list = [];
      this.free.set(length, list);
    }
    list.push(buffer);
    this.heldBytes += length;
  }
}
