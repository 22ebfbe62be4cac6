/**
 * The bytes received and not yet parsed, kept as the chunks they came in. Taking a run of bytes
 * gives a view of its chunk when the run lies inside one, and copies (once) only when it spans
 * several: a WRITE payload is copied at most once on its way to the LUN.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already consumed. */
  private head = 0;
  private total = 0;

  /** Bytes held. */
  get length(): number {
    return this.total;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.total += bytes.length;
  }

  /** The next `n` bytes (n <= length), not consumed: a view when they lie in one chunk, else a copy. */
  peek(n: number): Uint8Array {
    if (n > this.total) throw new RangeError(`peek(${n}) with ${this.total} bytes held`);
    const first = this.chunks[0];
    if (first === undefined || n === 0) return new Uint8Array(0);
    if (n <= first.length - this.head) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.head;
    for (const chunk of this.chunks) {
      const part = Math.min(n - filled, chunk.length - offset);
      out.set(chunk.subarray(offset, offset + part), filled);
      filled += part;
      offset = 0;
      if (filled === n) break;
    }
    return out;
  }

  /**
   * The next `n` bytes (n <= length), consumed: a view when they lie in one chunk, else a copy
   * into `allocate(n)` (a fresh zeroed array unless told; the host may hand out reusable buffers).
   */
  take(n: number, allocate?: (n: number) => Uint8Array): Uint8Array {
    if (n > this.total) throw new RangeError(`take(${n}) with ${this.total} bytes held`);
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0] as Uint8Array;
    const inFirst = first.length - this.head;
    if (n <= inFirst) {
      const view = first.subarray(this.head, this.head + n);
      this.advance(n);
      return view;
    }
    const out = allocate === undefined ? new Uint8Array(n) : allocate(n);
    if (out.length !== n) throw new RangeError(`allocate(${n}) gave ${out.length} bytes`);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0] as Uint8Array;
      const part = Math.min(n - filled, chunk.length - this.head);
      out.set(chunk.subarray(this.head, this.head + part), filled);
      filled += part;
      this.advance(part);
    }
    return out;
  }

  /** Drops up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    const dropped = Math.min(n, this.total);
    let left = dropped;
    while (left > 0) {
      const chunk = this.chunks[0] as Uint8Array;
      const part = Math.min(left, chunk.length - this.head);
      this.advance(part);
      left -= part;
    }
    return dropped;
  }

  /** Drops everything. */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.total = 0;
  }

  private advance(n: number): void {
    this.head += n;
    this.total -= n;
    const first = this.chunks[0] as Uint8Array;
    if (this.head === first.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
