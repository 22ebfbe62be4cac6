/**
 * `mem:<size>`: a sparse in-memory disk. Storage is a map of fixed-size chunks allocated on the
 * first write of a non-zero byte into them; everything else reads as zeros, so `mem:256M` costs
 * nothing until written. UNMAP gives chunks back (and zeroes the parts of chunks it only
 * covers in part), so it is real deallocation: the unit reports thin provisioning.
 *
 * Reads inside one chunk return a view of it (no copy); reads across chunks are assembled once.
 */
import { LocalProtocolError } from "../../core/errors.js";
import type { MapExtent } from "../engine/storage.js";
import type { BlockBackend } from "./backend.js";

export const MEMORY_CHUNK_SIZE = 64 * 1024;

export class MemoryBackend implements BlockBackend {
  readonly description: string;
  readonly size: number;
  readonly thinProvisioned = true;
  readonly readOnly = false;
  readonly #chunkSize: number;
  readonly #chunks = new Map<number, Uint8Array>();
  /** Shared zeros for reads of unallocated chunks; never written (the engine only reads read data). */
  readonly #zeros: Uint8Array;

  constructor(size: number, options: { readonly description?: string; readonly chunkSize?: number } = {}) {
    const chunkSize = options.chunkSize ?? MEMORY_CHUNK_SIZE;
    if (!Number.isSafeInteger(size) || size < 0) throw new LocalProtocolError(`memory backend size ${size} is not a byte count`);
    if (!Number.isInteger(chunkSize) || chunkSize < 512 || (chunkSize & (chunkSize - 1)) !== 0) {
      throw new LocalProtocolError(`memory backend chunk size ${chunkSize} must be a power of two of at least 512`);
    }
    this.size = size;
    this.#chunkSize = chunkSize;
    this.#zeros = new Uint8Array(chunkSize);
    this.description = options.description ?? `mem:${size}`;
  }

  /** Bytes of memory in use (allocated chunks). */
  get allocatedBytes(): number {
    return this.#chunks.size * this.#chunkSize;
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    const size = this.#chunkSize;
    const first = Math.floor(offset / size);
    const within = offset - first * size;
    if (within + length <= size) {
      const chunk = this.#chunks.get(first) ?? this.#zeros;
      return chunk.subarray(within, within + length);
    }
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const position = offset + at;
      const index = Math.floor(position / size);
      const start = position - index * size;
      const n = Math.min(size - start, length - at);
      const chunk = this.#chunks.get(index);
      if (chunk !== undefined) out.set(chunk.subarray(start, start + n), at);
      at += n;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    const size = this.#chunkSize;
    let at = 0;
    while (at < data.length) {
      const position = offset + at;
      const index = Math.floor(position / size);
      const start = position - index * size;
      const n = Math.min(size - start, data.length - at);
      const piece = data.subarray(at, at + n);
      let chunk = this.#chunks.get(index);
      if (chunk === undefined) {
        // Zeros written where nothing is allocated change nothing: stay sparse.
        if (isZero(piece)) {
          at += n;
          continue;
        }
        chunk = new Uint8Array(size);
        this.#chunks.set(index, chunk);
      }
      chunk.set(piece, start);
      at += n;
    }
  }

  flush(): void {}

  unmap(offset: number, length: number): void {
    this.#check(offset, length);
    const size = this.#chunkSize;
    let at = 0;
    while (at < length) {
      const position = offset + at;
      const index = Math.floor(position / size);
      const start = position - index * size;
      const n = Math.min(size - start, length - at);
      if (n === size) this.#chunks.delete(index);
      else this.#chunks.get(index)?.fill(0, start, start + n);
      at += n;
    }
  }

  writeSame(offset: number, length: number, block: Uint8Array): void {
    this.#check(offset, length);
    if (block.length === 0 || length % block.length !== 0) {
      throw new LocalProtocolError(`writeSame: ${length} bytes is not a whole number of ${block.length}-byte blocks`);
    }
    if (isZero(block)) {
      this.unmap(offset, length);
      return;
    }
    // One chunk's worth of the pattern, written chunk by chunk.
    const pattern = new Uint8Array(Math.min(length, this.#chunkSize) + block.length);
    for (let i = 0; i < pattern.length; i += block.length) pattern.set(block.subarray(0, Math.min(block.length, pattern.length - i)), i);
    let at = 0;
    while (at < length) {
      const position = offset + at;
      const start = position % this.#chunkSize;
      const n = Math.min(this.#chunkSize - start, length - at);
      // Positions are block-aligned from `offset`: the pattern starts over at every block.
      const phase = at % block.length;
      this.write(position, pattern.subarray(phase, phase + n));
      at += n;
    }
  }

  /** Allocated chunks are mapped, the rest is not: extents merged, in order, covering the range. */
  map(offset: number, length: number): MapExtent[] {
    this.#check(offset, length);
    const size = this.#chunkSize;
    const out: MapExtent[] = [];
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const index = Math.floor(at / size);
      const next = Math.min(end, (index + 1) * size);
      const mapped = this.#chunks.has(index);
      const last = out[out.length - 1];
      if (last !== undefined && last.mapped === mapped) out[out.length - 1] = { offset: last.offset, length: next - last.offset, mapped };
      else out.push({ offset: at, length: next - at, mapped });
      at = next;
    }
    return out;
  }

  close(): void {
    this.#chunks.clear();
  }

  #check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new LocalProtocolError(`${this.description}: range [${offset}, ${offset + length}) is outside its ${this.size} bytes`);
    }
  }
}

export function isZero(bytes: Uint8Array): boolean {
  // Word-wise when aligned: this runs over every write into unallocated memory.
  if (bytes.byteOffset % 4 === 0) {
    const words = Math.floor(bytes.length / 4);
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
    for (let i = 0; i < words; i++) if (view[i] !== 0) return false;
    for (let i = words * 4; i < bytes.length; i++) if (bytes[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
