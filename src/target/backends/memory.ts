/**
 * `mem:<size>`: a sparse in-memory disk. Its bytes live in regions (a sixteenth of the store,
 * between 1 and 64 MiB, unless told), each one contiguous array allocated on the first write of
 * a non-zero byte into it (virtual memory: the pages cost only once touched). Allocation is
 * tracked per chunk (64 KiB unless told): a chunk is mapped once a non-zero byte is written into
 * it, and everything unmapped reads as zeros, so `mem:256M` holds nothing until written. UNMAP
 * gives chunks back (their bytes zeroed; a region whose chunks are all unmapped is freed), so it
 * is real deallocation: the unit reports thin provisioning.
 *
 * Reads inside one region return a view of it, whatever their length (no copy: a 1 MiB read is a
 * subarray); only reads across a region boundary are assembled. A write is copied once, into its
 * region (or not at all when the data already is that very memory).
 */
import { LocalProtocolError } from "../../core/errors.js";
import type { MapExtent } from "../engine/storage.js";
import type { BlockBackend } from "./backend.js";

export const MEMORY_CHUNK_SIZE = 64 * 1024;
export const MEMORY_REGION_SIZE = 64 * 1024 * 1024;

/** Regions are at least this large (reads up to it, aligned, are views) unless the chunk is larger. */
const MIN_REGION_SIZE = 1024 * 1024;

/**
 * A sixteenth of the store, as a power of two between 1 MiB and 64 MiB: a first write never
 * allocates more than that (virtual memory: pages cost only once touched), and a store of 16 MiB
 * or more has regions of at least 1 MiB, so the largest common reads are views.
 */
function defaultRegionSize(size: number, chunkSize: number): number {
  let region = MIN_REGION_SIZE;
  while (region < MEMORY_REGION_SIZE && region * 16 < size) region *= 2;
  return Math.max(chunkSize, region);
}

/** Shared zeros for reads of unallocated regions are kept up to this size; larger ones get their own. */
const MAX_SHARED_ZEROS = 16 * 1024 * 1024;

interface Region {
  readonly bytes: Uint8Array;
  /** One flag per chunk: holds data (a non-zero byte was written since the last unmap). */
  readonly mapped: Uint8Array;
  count: number;
}

export interface MemoryBackendOptions {
  readonly description?: string;
  /** Allocation (and GET LBA STATUS) granularity: a power of two of at least 512. */
  readonly chunkSize?: number;
  /** Bytes per contiguous region: a multiple of the chunk size. */
  readonly regionSize?: number;
  /** A faster all-zeros test from the host (Node: a memcmp against zeros); a word loop unless given. */
  readonly isZero?: (bytes: Uint8Array) => boolean;
}

export class MemoryBackend implements BlockBackend {
  readonly description: string;
  readonly size: number;
  readonly thinProvisioned = true;
  readonly readOnly = false;
  readonly #chunkSize: number;
  readonly #chunkShift: number;
  readonly #regionSize: number;
  /** Allocated regions by index (a map: a store of petabytes has millions of regions, few of them written). */
  readonly #regions = new Map<number, Region>();
  readonly #isZero: (bytes: Uint8Array) => boolean;
  #mappedChunks = 0;
  /** Shared zeros for reads of unallocated regions; never written (the engine only reads read data). */
  #zeros: Uint8Array = new Uint8Array(0);

  constructor(size: number, options: MemoryBackendOptions = {}) {
    const chunkSize = options.chunkSize ?? MEMORY_CHUNK_SIZE;
    if (!Number.isSafeInteger(size) || size < 0) throw new LocalProtocolError(`memory backend size ${size} is not a byte count`);
    if (!Number.isInteger(chunkSize) || chunkSize < 512 || (chunkSize & (chunkSize - 1)) !== 0) {
      throw new LocalProtocolError(`memory backend chunk size ${chunkSize} must be a power of two of at least 512`);
    }
    const regionSize = options.regionSize ?? defaultRegionSize(size, chunkSize);
    if (!Number.isSafeInteger(regionSize) || regionSize < chunkSize || regionSize % chunkSize !== 0) {
      throw new LocalProtocolError(`memory backend region size ${regionSize} must be a multiple of the chunk size ${chunkSize}`);
    }
    this.size = size;
    this.#chunkSize = chunkSize;
    this.#chunkShift = Math.log2(chunkSize);
    this.#regionSize = regionSize;
    this.#isZero = options.isZero ?? isZero;
    this.description = options.description ?? `mem:${size}`;
  }

  /** Bytes of memory holding data (mapped chunks). */
  get allocatedBytes(): number {
    return this.#mappedChunks * this.#chunkSize;
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    const size = this.#regionSize;
    const first = Math.floor(offset / size);
    const within = offset - first * size;
    if (within + length <= size) {
      const region = this.#regions.get(first);
      return region === undefined ? this.#zeroView(length) : region.bytes.subarray(within, within + length);
    }
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const position = offset + at;
      const index = Math.floor(position / size);
      const start = position - index * size;
      const n = Math.min(size - start, length - at);
      const region = this.#regions.get(index);
      if (region !== undefined) out.set(region.bytes.subarray(start, start + n), at);
      at += n;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    const size = this.#regionSize;
    let at = 0;
    while (at < data.length) {
      const position = offset + at;
      const index = Math.floor(position / size);
      const start = position - index * size;
      const n = Math.min(size - start, data.length - at);
      const piece = n === data.length ? data : data.subarray(at, at + n);
      this.#writeRegion(index, start, piece);
      at += n;
    }
  }

  #writeRegion(index: number, start: number, piece: Uint8Array): void {
    let region = this.#regions.get(index);
    if (region === undefined) {
      // Zeros written where nothing is allocated change nothing: stay sparse.
      if (this.#isZero(piece)) return;
      region = this.#allocate(index);
    }
    const bytes = region.bytes;
    // The very bytes already there (a view of this store written back): nothing changes.
    if (piece.buffer === bytes.buffer && piece.byteOffset === bytes.byteOffset + start) return;
    const shift = this.#chunkShift;
    const chunk = this.#chunkSize;
    const mapped = region.mapped;
    const first = start >>> shift;
    const last = (start + piece.length - 1) >>> shift;
    for (let c = first; c <= last; c++) {
      if (mapped[c] !== 0) continue;
      // An unmapped chunk holds zeros: it becomes mapped only if a non-zero byte lands in it.
      const from = Math.max(start, c * chunk) - start;
      const to = Math.min(start + piece.length, (c + 1) * chunk) - start;
      if (this.#isZero(from === 0 && to === piece.length ? piece : piece.subarray(from, to))) continue;
      mapped[c] = 1;
      region.count++;
      this.#mappedChunks++;
    }
    // Zero ranges over unmapped chunks are copied too: they hold zeros already, so nothing changes.
    bytes.set(piece, start);
  }

  #allocate(index: number): Region {
    const length = Math.min(this.#regionSize, this.size - index * this.#regionSize);
    const region: Region = { bytes: new Uint8Array(length), mapped: new Uint8Array(Math.ceil(length / this.#chunkSize)), count: 0 };
    this.#regions.set(index, region);
    return region;
  }

  #zeroView(length: number): Uint8Array {
    if (length > this.#zeros.length) {
      if (length > MAX_SHARED_ZEROS) return new Uint8Array(length);
      let grown = Math.max(this.#chunkSize, this.#zeros.length);
      while (grown < length) grown *= 2;
      this.#zeros = new Uint8Array(Math.min(grown, MAX_SHARED_ZEROS));
    }
    return this.#zeros.subarray(0, length);
  }

  flush(): void {}

  unmap(offset: number, length: number): void {
    this.#check(offset, length);
    const size = this.#regionSize;
    let at = 0;
    while (at < length) {
      const position = offset + at;
      const index = Math.floor(position / size);
      const start = position - index * size;
      const n = Math.min(size - start, length - at);
      const region = this.#regions.get(index);
      if (region !== undefined) this.#unmapRegion(index, region, start, n);
      at += n;
    }
  }

  #unmapRegion(index: number, region: Region, start: number, length: number): void {
    const chunk = this.#chunkSize;
    const end = start + length;
    const first = Math.floor(start / chunk);
    const last = Math.floor((end - 1) / chunk);
    for (let c = first; c <= last; c++) {
      const from = Math.max(start, c * chunk);
      const to = Math.min(end, (c + 1) * chunk, region.bytes.length);
      if (region.mapped[c] === 0) continue;
      region.bytes.fill(0, from, to);
      // A whole chunk (or the last, shorter one) given back.
      if (from === c * chunk && to === Math.min((c + 1) * chunk, region.bytes.length)) {
        region.mapped[c] = 0;
        region.count--;
        this.#mappedChunks--;
      }
    }
    if (region.count === 0) this.#regions.delete(index);
  }

  writeSame(offset: number, length: number, block: Uint8Array): void {
    this.#check(offset, length);
    if (block.length === 0 || length % block.length !== 0) {
      throw new LocalProtocolError(`writeSame: ${length} bytes is not a whole number of ${block.length}-byte blocks`);
    }
    if (this.#isZero(block)) {
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

  /** Mapped chunks are mapped, the rest is not: extents merged, in order, covering the range. */
  map(offset: number, length: number): MapExtent[] {
    this.#check(offset, length);
    const size = this.#chunkSize;
    const perRegion = this.#regionSize / size;
    const out: MapExtent[] = [];
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const index = Math.floor(at / size);
      const next = Math.min(end, (index + 1) * size);
      const region = this.#regions.get(Math.floor(index / perRegion));
      const mapped = region !== undefined && region.mapped[index % perRegion] === 1;
      const last = out[out.length - 1];
      if (last !== undefined && last.mapped === mapped) out[out.length - 1] = { offset: last.offset, length: next - last.offset, mapped };
      else out.push({ offset: at, length: next - at, mapped });
      at = next;
    }
    return out;
  }

  close(): void {
    this.#regions.clear();
    this.#mappedChunks = 0;
  }

  #check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new LocalProtocolError(`${this.description}: range [${offset}, ${offset + length}) is outside its ${this.size} bytes`);
    }
  }
}

/** Whether every byte is zero: 16 words an iteration when aligned (this runs over every write into unmapped memory). */
export function isZero(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes.byteOffset % 4 === 0) {
    const words = bytes.length >>> 2;
    const v = new Int32Array(bytes.buffer, bytes.byteOffset, words);
    const blocks = words - (words & 15);
    let w = 0;
    for (; w < blocks; w += 16) {
      if ((v[w]! | v[w + 1]! | v[w + 2]! | v[w + 3]! | v[w + 4]! | v[w + 5]! | v[w + 6]! | v[w + 7]! | v[w + 8]! | v[w + 9]! | v[w + 10]! | v[w + 11]! | v[w + 12]! | v[w + 13]! | v[w + 14]! | v[w + 15]!) !== 0) return false;
    }
    for (; w < words; w++) if (v[w] !== 0) return false;
    i = words * 4;
  }
  for (; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
