/**
 * Write buffers used again. Every write command needs a buffer for its data (the framer places
 * Data-Out and immediate data there, and the backend write takes it); a fresh `Uint8Array` per
 * command is a backing store to allocate, zero and later collect, which at 4 KiB writes is a
 * good part of the target's CPU and at 1 MiB writes most of its garbage collection. Buffers come
 * back when their task is over and nothing can still write into them or read from them: the
 * transfer was quiet (no Data-Out on its way, so the framer places nothing more there) and no
 * storage request ran (the host may keep a write's data only until the request completes).
 *
 * A buffer handed out may hold an earlier command's bytes: a write transfer only completes once
 * every byte the command uses has arrived, so none of them is read before being written.
 */
export class BufferPool {
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #maxBytes: number;
  readonly #maxPerSize: number;
  #bytes = 0;

  /** Keeps at most `maxBytes` in all and `maxPerSize` buffers of one size; `maxBytes` 0 turns pooling off. */
  constructor(maxBytes: number, maxPerSize = 64) {
    this.#maxBytes = maxBytes;
    this.#maxPerSize = maxPerSize;
  }

  /** Bytes kept for reuse. */
  get pooledBytes(): number {
    return this.#bytes;
  }

  /** A buffer of exactly `length` bytes (not necessarily zeroed). */
  take(length: number): Uint8Array {
    const list = this.#free.get(length);
    const buffer = list?.pop();
    if (buffer === undefined) return new Uint8Array(length);
    this.#bytes -= length;
    return buffer;
  }

  /** Gives back a buffer `take` handed out (whole: not a view of part of it). */
  give(buffer: Uint8Array): void {
    const length = buffer.length;
    if (length === 0 || buffer.byteOffset !== 0 || buffer.byteLength !== buffer.buffer.byteLength) return;
    if (this.#bytes + length > this.#maxBytes) return;
    let list = this.#free.get(length);
    if (list === undefined) {
      list = [];
      this.#free.set(length, list);
    }
    if (list.length >= this.#maxPerSize) return;
    list.push(buffer);
    this.#bytes += length;
  }

  clear(): void {
    this.#free.clear();
    this.#bytes = 0;
  }
}
