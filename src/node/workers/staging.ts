/**
 * Each session's staging area: shared memory divided into slots, for the small reads and writes
 * into and from a caller's plain buffer. Such a buffer cannot be read into by the worker where
 * it is, and moving a fresh ArrayBuffer per I/O costs more than the I/O (an allocation on one
 * thread, a transfer, garbage on the other: about 4 µs for each 4 KiB read, measured). Through a
 * slot the worker reads into memory both threads see and the caller's thread copies the bytes
 * out: the one copy a plain buffer needs, and no allocation. The caller's thread owns the free
 * list; a slot goes back when its answer has come, after which the worker no longer touches it.
 */

export class Staging {
  readonly bytes: Uint8Array;
  private readonly free: number[] = [];

  constructor(
    readonly memory: SharedArrayBuffer,
    readonly slotBytes: number,
  ) {
    this.bytes = new Uint8Array(memory);
    const slots = Math.floor(memory.byteLength / slotBytes);
    // Taken from the end: the first slots are used first and stay warm in the cache.
    for (let i = slots - 1; i >= 0; i--) this.free.push(i * slotBytes);
  }

  static create(totalBytes: number, slotBytes: number): Staging {
    return new Staging(new SharedArrayBuffer(totalBytes), slotBytes);
  }

  /** A free slot's offset, or undefined when every slot is in use (the I/O then goes the other way). */
  take(): number | undefined {
    return this.free.pop();
  }

  give(offset: number): void {
    this.free.push(offset);
  }
}
